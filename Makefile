# Thin wrapper over CMake. `make demo` and `make test` do all set-up on a fresh machine.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps deps-demo configure configure-demo build build-demo test test-unit test-bpf test-root test-vm test-fuzz fuzz demo bench clean format

all: build

# Every package: the tests, the fuzz tier, the benchmarks (scripts/install-deps.sh all).
deps:
	@bash scripts/install-deps.sh all
# Only what the demo builds and runs.
deps-demo:
	@bash scripts/install-deps.sh demo

# The full tree, tests included. A tree the demo configured without tests is reconfigured once
# (its objects are kept: same flags); CMAKE_FLAGS always reconfigures.
configure: deps
	@if [ -n "$(CMAKE_FLAGS)" ] || ! grep -qs '^CHAOS_BUILD_TESTS:BOOL=ON$$' $(BUILD)/CMakeCache.txt; then \
	  cmake -S . -B $(BUILD) -G Ninja -DCHAOS_BUILD_TESTS=ON $(CMAKE_FLAGS); fi

# The demo's tree: a new one is configured without tests (GoogleTest need not be installed) and
# without debug info (-O2, no -g: a third less compile time); one that exists is used as it is,
# tests and all. `make test` in a tree the demo made keeps its flags.
DEMO_TREE_FLAGS = -DCHAOS_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG"
configure-demo: deps-demo
	@if [ -n "$(CMAKE_FLAGS)" ] || [ ! -f $(BUILD)/build.ninja ]; then \
	  cmake -S . -B $(BUILD) -G Ninja $(if $(wildcard $(BUILD)/CMakeCache.txt),,$(DEMO_TREE_FLAGS)) $(CMAKE_FLAGS); fi

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# chaos-agent, chaosctl and the BPF objects (the CMake target demo-programs), nothing else.
build-demo: configure-demo
	cmake --build $(BUILD) -j $(JOBS) --target demo-programs

# Every tier this machine can run; a tier that cannot run says why (a visible skip), never a silent pass.
test: build
	bash scripts/run-tests.sh $(BUILD)

test-unit: build
	cd $(BUILD) && ctest -L unit --output-on-failure
test-bpf: build
	cd $(BUILD) && ctest -L bpf --output-on-failure
test-root: build
	cd $(BUILD) && ctest -L root --output-on-failure
test-vm: build
	cd $(BUILD) && ctest -L vm --output-on-failure

# The fuzz tier: its own clang tree ($(BUILD)/fuzz), each libFuzzer target for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh $(BUILD)/fuzz
test-fuzz: deps
	FUZZ_SECONDS=30 bash scripts/fuzz.sh $(BUILD)/fuzz

demo: build-demo
	bash scripts/demo.sh $(BUILD)

bench: build
	bash bench/run-all.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h' | grep -v vmlinux.h)

clean:
	rm -rf $(BUILD)
