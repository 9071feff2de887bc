# libFuzzer targets (docs/fuzzing.md). Run from the repository root:
#   make -f test/fuzz/fuzz.mk -j2        (test/fuzz/run.sh does this, then runs them)
#
# Convention: every test/fuzz/fuzz_<name>.cpp is a target (it defines LLVMFuzzerTestOneInput)
# and names the sources it links in a comment line of its own:
#   // fuzz-sources: src/core/a.cpp src/core/b.cpp
# (glob patterns such as src/core/*.cpp work). Drop a file in and it is built; its seed corpus
# is test/fuzz/corpus/<name>/. Boost is header-only (Beast/Asio from /usr/include) and built
# with -DBOOST_ERROR_CODE_HEADER_ONLY, as the extension is.
CLANGXX    ?= clang++
FUZZ_DIR   := test/fuzz
FUZZ_BUILD := $(FUZZ_DIR)/build
FUZZ_CXXFLAGS ?= -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                 -fno-sanitize-recover=undefined -Isrc -I$(FUZZ_DIR) -DBOOST_ERROR_CODE_HEADER_ONLY \
                 -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -MMD -MP
FUZZ_LDLIBS ?= -lssl -lcrypto -pthread

FUZZ_TARGET_SRCS := $(sort $(wildcard $(FUZZ_DIR)/fuzz_*.cpp))
FUZZ_NAMES       := $(patsubst $(FUZZ_DIR)/%.cpp,%,$(FUZZ_TARGET_SRCS))
FUZZ_BINS        := $(addprefix $(FUZZ_BUILD)/,$(FUZZ_NAMES))

all: $(FUZZ_BINS)
.PHONY: all list

list:
	@echo $(FUZZ_NAMES)

# Sources listed by a target's "// fuzz-sources:" line.
fuzz_sources = $(wildcard $(shell sed -n 's|^[[:space:]]*//[[:space:]]*fuzz-sources:||p' $(1)))

# Instrumented objects: one per source (shared by the targets that list it).
$(FUZZ_BUILD)/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(CLANGXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

define fuzz_target_rule
$(FUZZ_BUILD)/$(1): $(FUZZ_BUILD)/obj/$(FUZZ_DIR)/$(1).o $(patsubst %.cpp,$(FUZZ_BUILD)/obj/%.o,$(call fuzz_sources,$(FUZZ_DIR)/$(1).cpp))
	$$(CLANGXX) $$(FUZZ_CXXFLAGS) -fsanitize=fuzzer -o $$@ $$^ $$(FUZZ_LDLIBS)
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call fuzz_target_rule,$(n))))

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
