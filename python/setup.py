"""Builds signal_slot._core from the extension's sources (python/src) and
the C library's own (src/ of this repository), so that the package needs
no installed libsignal_slot. Run from a checkout: `pip install ./python`
(or `make python`, which needs no package index)."""
import os
import re

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIB_SRC = os.path.join(ROOT, "src")
if not os.path.isfile(os.path.join(LIB_SRC, "loop.c")):
    raise SystemExit("signal_slot: build from a checkout of the repository "
                     "(the C library's sources are in ../src)")


def gen_version_h():
    """include/signal_slot/version.h, as CMake makes it."""
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        ver = re.search(r"project\(signal_slot VERSION (\d+)\.(\d+)\.(\d+)",
                        f.read()).groups()
    with open(os.path.join(ROOT, "include", "signal_slot",
                           "version.h.in")) as f:
        text = f.read()
    text = (text.replace("@PROJECT_VERSION_MAJOR@", ver[0])
            .replace("@PROJECT_VERSION_MINOR@", ver[1])
            .replace("@PROJECT_VERSION_PATCH@", ver[2])
            .replace("@PROJECT_VERSION@", ".".join(ver)))
    out = os.path.join(HERE, "build", "gen", "signal_slot")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "version.h")
    if not os.path.exists(path) or open(path).read() != text:
        with open(path, "w") as f:
            f.write(text)
    return os.path.join(HERE, "build", "gen")


def rel(*parts):
    return os.path.relpath(os.path.join(*parts), HERE)


lib_sources = sorted(rel(LIB_SRC, f) for f in os.listdir(LIB_SRC)
                     if f.endswith(".c"))
lib_sources.append(rel(LIB_SRC, "platform", "linux.c"))
ext_sources = sorted(rel(HERE, "src", f)
                     for f in os.listdir(os.path.join(HERE, "src"))
                     if f.endswith(".c"))

extra = ["-std=gnu11", "-fvisibility=hidden", "-Wall", "-Wextra",
         "-Wno-missing-field-initializers", "-Wno-unused-parameter"]
if os.environ.get("SS_PY_CFLAGS"):
    extra += os.environ["SS_PY_CFLAGS"].split()
link = []
if os.environ.get("SS_PY_LDFLAGS"):
    link += os.environ["SS_PY_LDFLAGS"].split()

# A sanitizer build keeps its objects apart (SS_PY_BUILD_BASE).
build_base = os.environ.get("SS_PY_BUILD_BASE", "build")

setup(
    options={"build": {"build_base": build_base}},
    ext_modules=[Extension(
        "signal_slot._core",
        sources=ext_sources + lib_sources,
        include_dirs=[rel(ROOT, "include"), gen_version_h(), rel(LIB_SRC)],
        define_macros=[("_GNU_SOURCE", None), ("SS_BUILDING", None),
                       ("SS_NO_STATIC_TLS", None)],
        extra_compile_args=extra,
        extra_link_args=link,
        libraries=["pthread"],
    )],
)
