# mk/fuzz.mk — libFuzzer harnesses (tests/fuzz/fuzz_*.c) and the seed maker.
#
#   make fuzz [FUZZ_SECONDS=60]      build under build-fuzz/ with clang, run each target
#
# `make fuzz` (Makefile) re-enters make with BUILD=$(FUZZ_BUILD), CC=clang and the
# sanitizers plus -fsanitize=fuzzer-no-link in SAN, so the library and the CLI helpers are
# instrumented; only the harnesses link libFuzzer (-fsanitize=fuzzer).
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= build-fuzz
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_SRCS:%.c=$(BUILD)/%) $(BUILD)/tests/fuzz/mkseeds

.PHONY: fuzz-build
fuzz-build: $(FUZZ_BINS)

# The harness of the CLI's parsers links the CLI's option helpers (not its main).
$(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tools/sluice/cli.o $(BUILD)/tools/sluice/gpus.o $(LIB_A)
	$(CC) -fsanitize=fuzzer -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/fuzz/mkseeds: $(BUILD)/tests/fuzz/mkseeds.o $(LIB_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

-include $(FUZZ_SRCS:%.c=$(BUILD)/%.d) $(BUILD)/tests/fuzz/mkseeds.d
