# The two commands of the README. Both work on a fresh Debian 12 machine,
# as root, from a fresh clone: they install what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build demo test bench clean python python-test

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

bench: build
	./$(BUILD)/bench/ss-bench signal
	./$(BUILD)/bench/ss-bench memory
	./$(BUILD)/bench/ss-bench queue
	./$(BUILD)/bench/ss-bench latency

clean:
	rm -rf $(BUILD)
