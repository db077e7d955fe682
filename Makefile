# sluice — top-level build.  Plain GNU Make; the kernel module builds through Kbuild (`make module`).
#
#   make            libsluice.a, libsluice.so, the sluice CLI and the test programs, under build/
#   make check      install missing packages (scripts/deps.sh), build, run every test (tests/run.sh)
#   make asan       the same tests built with AddressSanitizer + UBSan, under build-asan/
#   make tsan       the unit tests built with ThreadSanitizer, under build-tsan/
#   make fuzz       the libFuzzer targets (tests/fuzz/), FUZZ_SECONDS each (60), under build-fuzz/
#   make demo       generate a small synthetic model (cached) and run it; then stories260K if present
#   make install PREFIX=/usr/local
#   make print-version  the version (VERSION below, the only place it is written)
#   make module KDIR=/lib/modules/<ver>/build
#
# Conventions that let several people add files without touching this Makefile:
#   runtime/**/*.c            -> libsluice (files named *_avx2.c get -mavx2 -mfma -mf16c, *_avx512.c
#                                also -mavx512f/bw/vl/vnni; both are used only when CPUID says so)
#   tools/sluice/*.c          -> the sluice CLI
#   tests/unit/test_*.c       -> one test program each, linked with the static library
#   tests/*/test_*.sh         -> shell tests, run by tests/run.sh
#   mk/*.mk                   -> extra rules (module, VM harness, ...), included below

BUILD    ?= build
CC       ?= cc
PREFIX   ?= /usr/local
# The one place the version is written: the library (sluice_version(), via -DSLUICE_VERSION), the
# shared library's file name, sluice.pc and `sluice version` all take it from here.
VERSION  := 0.1.0
SOVER    := 0

PKG_CFLAGS := $(shell pkg-config --cflags liburing libdrm libpcre2-8 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs liburing libdrm libpcre2-8 2>/dev/null)
# The CLI alone (sluice serve: HTTP and JSON); libsluice does not link them.
CLI_PKG_CFLAGS := $(shell pkg-config --cflags libmicrohttpd jansson 2>/dev/null)
CLI_PKG_LIBS   := $(shell pkg-config --libs libmicrohttpd jansson 2>/dev/null)

OPT      ?= -O2
WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS   ?=
# DEBUG_DEFS: -DSL_DEBUG turns internal consistency checks into assertions (make asan sets it).
DEBUG_DEFS ?=
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -fPIC -fvisibility=hidden -pthread \
              -DSLUICE_VERSION='"$(VERSION)"' $(DEBUG_DEFS) \
              -Iruntime/include -Iruntime -I. $(PKG_CFLAGS) $(SAN) $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -lm -lpthread -ldl $(SAN)
SIMD_FLAGS := -mavx2 -mfma -mf16c
AVX512_FLAGS := $(SIMD_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512vnni

LIB_SRCS  := $(sort $(shell find runtime -name '*.c'))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_SRCS  := $(sort $(wildcard tools/sluice/*.c))
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS := $(TEST_SRCS:%.c=$(BUILD)/%)
TEST_HELPER_SRCS := $(sort $(wildcard tests/unit/helpers/*.c))
TEST_HELPER_OBJS := $(TEST_HELPER_SRCS:%.c=$(BUILD)/%.o)

LIB_A   := $(BUILD)/libsluice.a
LIB_SO  := $(BUILD)/libsluice.so.$(VERSION)
CLI     := $(BUILD)/sluice

.PHONY: all lib cli tests check asan tsan fuzz demo install clean deps print-version
# Keep the test objects make would otherwise delete as intermediates.
.SECONDARY:
all: lib cli tests $(BUILD)/sluice.pc

lib: $(LIB_A) $(LIB_SO)
cli: $(CLI)
tests: $(TEST_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(if $(findstring _avx2,$<),$(SIMD_FLAGS)) $(if $(findstring _avx512,$<),$(AVX512_FLAGS)) \
	    -MMD -MP -c $< -o $@

# The version reaches engine.c as -DSLUICE_VERSION: rebuild it when the Makefile changes.
$(BUILD)/runtime/engine.o: Makefile

print-version:
	@echo $(VERSION)

$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The shared library exports only what sluice.h declares (SLUICE_API + runtime/libsluice.map).
$(LIB_SO): $(LIB_OBJS) runtime/libsluice.map
	$(CC) -shared -Wl,-soname,libsluice.so.$(SOVER) -Wl,--version-script=runtime/libsluice.map \
	    -Wl,--no-undefined -o $@ $(LIB_OBJS) $(LDLIBS_ALL)
	ln -sf libsluice.so.$(VERSION) $(BUILD)/libsluice.so.$(SOVER)
	ln -sf libsluice.so.$(VERSION) $(BUILD)/libsluice.so

$(CLI_OBJS): CFLAGS_ALL += $(CLI_PKG_CFLAGS)
$(CLI): $(CLI_OBJS) $(LIB_A)
	$(CC) -o $@ $(CLI_OBJS) $(LIB_A) $(CLI_PKG_LIBS) $(LDLIBS_ALL)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(TEST_HELPER_OBJS) $(LIB_A)
	$(CC) -o $@ $< $(TEST_HELPER_OBJS) $(LIB_A) $(LDLIBS_ALL)

$(BUILD)/sluice.pc: runtime/sluice.pc.in Makefile
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

deps:
	bash scripts/deps.sh

check: deps
	$(MAKE) all
	bash tests/run.sh --build $(BUILD)

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 DEBUG_DEFS=-DSL_DEBUG \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	    bash tests/run.sh --build build-asan --no-vm

# ThreadSanitizer: the unit tests (the threaded ones are what it is for: contexts of one model on
# several threads, the thread pool, the asynchronous backend, the I/O threads, the pressure monitor).
# A test TSan cannot run skips itself (exit 77) with the reason, when __SANITIZE_THREAD__ is defined.
tsan:
	$(MAKE) BUILD=build-tsan OPT=-O1 DEBUG_DEFS=-DSL_DEBUG SAN="-fsanitize=thread -fno-omit-frame-pointer" all
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 bash tests/run.sh --build build-tsan --no-vm unit/

# clang, ASan + UBSan, coverage for libFuzzer; the rules are in mk/fuzz.mk.
fuzz:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT=-O1 DEBUG_DEFS=-DSL_DEBUG \
	    SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-build
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

demo: deps
	$(MAKE) cli
	bash scripts/demo.sh $(BUILD)

install: lib cli $(BUILD)/sluice.pc
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libsluice.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libsluice.so.$(SOVER)
	ln -sf libsluice.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libsluice.so
	install -m 644 runtime/include/sluice.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' runtime/sluice.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/sluice.pc
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/sluice
	install -m 755 scripts/trace_plot.py $(DESTDIR)$(PREFIX)/share/sluice/

clean:
	rm -rf build build-asan build-tsan
	rm -rf build build-asan build-fuzz

-include mk/*.mk
-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(TEST_BINS:%=%.d) $(TEST_HELPER_OBJS:.o=.d)
