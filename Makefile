# Thin wrapper over CMake. `make demo` and `make test` do all set-up on a fresh machine.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test test-unit test-bpf test-root test-vm test-fuzz fuzz demo bench clean format

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

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

demo: build
	bash scripts/demo.sh $(BUILD)

bench: build
	bash bench/run-all.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h' | grep -v vmlinux.h)

clean:
	rm -rf $(BUILD)
