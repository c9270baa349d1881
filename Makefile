# The two commands of the README. Both work on a fresh Debian 12 machine,
# as root, from a fresh clone: they install what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build demo test bench clean python python-test python-asan

# The Python package (python/), built and installed into a virtual
# environment with Debian's python3 and no package index: the venv sees the
# system's packages (pytest, numpy, setuptools), pip builds without
# isolation and fetches nothing.
PYTHON ?= /usr/bin/python3
VENV ?= $(BUILD)/venv

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -DSS_WERROR=ON $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# Build and run the main example: the seed's ping-pong between the main
# loop and a loop process, for 3 seconds (the other examples are built too:
# $(BUILD)/examples/queue_demo, worker_pool, mixed...).
demo: build
	./$(BUILD)/examples/ping_pong 3

# Build with warnings as errors and run every test through CTest, then the
# Python package's tests.
test: build python
	ctest --test-dir $(BUILD) --output-on-failure -j 2
	$(VENV)/bin/python -m pytest -q python/tests

python: deps
	test -x $(VENV)/bin/python || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(VENV)/bin/pip install -q --no-build-isolation --no-deps --no-index ./python

python-test: python
	$(VENV)/bin/python -m pytest -q python/tests

# The Python tests under AddressSanitizer + UndefinedBehaviorSanitizer: the
# extension built with them into a venv of its own, the runtimes preloaded
# into Debian's python3 (leak checks off: the interpreter keeps memory).
ASAN_VENV ?= build-asan/venv
python-asan: deps
	test -x $(ASAN_VENV)/bin/python || $(PYTHON) -m venv --system-site-packages $(ASAN_VENV)
	SS_PY_BUILD_BASE=build/asan \
	SS_PY_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -O1 -g" \
	SS_PY_LDFLAGS="-fsanitize=address,undefined" \
	  $(ASAN_VENV)/bin/pip install -q --no-build-isolation --no-deps --no-index --force-reinstall ./python
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	  $(ASAN_VENV)/bin/python -m pytest -q -p no:cacheprovider python/tests

bench: build
	./$(BUILD)/bench/ss-bench signal
	./$(BUILD)/bench/ss-bench memory
	./$(BUILD)/bench/ss-bench queue
	./$(BUILD)/bench/ss-bench latency

clean:
	rm -rf $(BUILD)
