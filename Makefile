# fmnist: see README.md. `make` builds ./fmnist, `make check` runs every test,
# `make run` trains and evaluates on the real data, `make bench` measures.
#
# Variables: CC (gcc or clang), CFLAGS (optimisation, default -O2 -g),
# SAN=1 (ASan + UBSan build of everything, in build-san/), PREFIX (install).
# Cross builds (tools/cross_arm64.sh): CC, AR, PKG_CONFIG (the target's, e.g.
# aarch64-linux-gnu-pkg-config) and BUILD (objects, tests and the binary in
# that folder instead of build/ and ./fmnist).

CC      ?= cc
CFLAGS  ?= -O2 -g
PREFIX  ?= /usr/local
SAN     ?=
PKG_CONFIG ?= pkg-config

PKGS      := libpng zlib
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lpng -lz)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

# -ffp-contract=off: no silent a*b+c fusion, so the reference kernels and the
# explicitly fused fast kernels define the same arithmetic under gcc and clang.
# -fno-math-errno lets sqrtf inline; it changes no result.
WARN     := -std=c11 -Wall -Wextra -Wpedantic
FPFLAGS  := -ffp-contract=off -fno-math-errno
ALL_CFLAGS = $(WARN) $(FPFLAGS) $(CFLAGS) -Iinclude $(PKG_CFLAGS) -MMD -MP -pthread
LDLIBS   = $(PKG_LIBS) -lm -pthread

# BUILD is taken from the command line only (an environment variable of
# that name must not move the build).
ifneq ($(origin BUILD),command line)
BUILD    := $(if $(filter 1,$(SAN)),build-san,build)
endif
ifeq ($(SAN),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=address,undefined
endif

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libfmnist.a
BIN      := $(if $(filter build,$(BUILD)),fmnist,$(BUILD)/fmnist)

TEST_SRC := $(wildcard tests/test_*.c)
# make check runs the quick unit tests first and the end-to-end ones last,
# so that FAILFAST=1 (make mutate) stops early; tests not listed run after.
TEST_ORDER := adam grad idx image model_file plot kernels options pinned torch_golden train \
              cli cli_image resume
TEST_NAMES := $(TEST_SRC:tests/%.c=%)
TEST_NAMES := $(foreach t,$(TEST_ORDER),$(filter test_$(t),$(TEST_NAMES))) \
              $(filter-out $(TEST_ORDER:%=test_%),$(TEST_NAMES))
TEST_BIN := $(TEST_NAMES:%=$(BUILD)/tests/%)
# Development helpers linking the library (not installed).
TOOL_BIN := $(BUILD)/tools/fmnist_predict

.PHONY: all check check-torch run bench clean install deps deps-test deps-data fuzz mutate
all: $(BIN)

# Missing packages are installed when we can (root with apt-get), otherwise
# the one command that would do it is printed.
$(BUILD)/.deps:
	@PKG_CONFIG='$(PKG_CONFIG)' sh tools/deps.sh build
	@mkdir -p $(BUILD) && touch $@
$(BUILD)/.deps-test:
	@PKG_CONFIG='$(PKG_CONFIG)' sh tools/deps.sh test
	@mkdir -p $(BUILD) && touch $@
deps: $(BUILD)/.deps
deps-test: $(BUILD)/.deps-test
deps-data:
	@sh tools/deps.sh data

$(BUILD)/%.o: src/%.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BIN): $(BUILD)/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests compile once and relink when the library changes (make mutate
# rebuilds the library for every mutant).
$(BUILD)/tests/test_%.o: tests/test_%.c tests/testutil.h | $(BUILD)/.deps-test
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -c $< -o $@
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(CMOCKA_LIBS) $(LDLIBS)
.SECONDARY: $(TEST_BIN:%=%.o)

$(BUILD)/tools/%: tools/%.c $(LIB) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

# Every test binary runs from the top directory; the CLI tests find the
# binary through FMNIST_BIN. Then the PyTorch round trip, which skips itself
# where Debian's python3-torch is missing. A program that exits 77 was
# skipped as a whole (cmocka reports its skipped tests itself): counted and
# named as such, never as passed. FAILFAST=1 stops at the first failing
# program, and CHECK_FIRST=test_x... runs those programs first (make mutate
# uses both: the program that catches a mutant runs first).
FAILFAST ?=
CHECK_FIRST ?=
CHECK_BIN = $(CHECK_FIRST:%=$(BUILD)/tests/%) $(filter-out $(CHECK_FIRST:%=$(BUILD)/tests/%),$(TEST_BIN))
check: $(BIN) $(TEST_BIN) $(TOOL_BIN)
	@failed=0; skipped=""; \
	run() { "$$@"; rc=$$?; \
	  if [ $$rc -eq 77 ]; then skipped="$$skipped $$name"; \
	  elif [ $$rc -ne 0 ]; then failed=$$((failed+1)); \
	    if [ -n "$(FAILFAST)" ]; then echo "$$name failed (FAILFAST)"; exit 1; fi; fi; }; \
	for t in $(CHECK_BIN); do \
	  echo "== $$t"; name=$$t; \
	  run env FMNIST_BIN=./$(BIN) ./$$t; \
	done; \
	for t in tests/*.sh; do \
	  echo "== $$t"; name=$$t; \
	  run env FMNIST_BIN=./$(BIN) sh $$t; \
	done; \
	echo "== tools/check_roundtrip.sh"; name=tools/check_roundtrip.sh; \
	run sh tools/check_roundtrip.sh ./$(BIN) $(TOOL_BIN); \
	if [ $$failed -ne 0 ]; then echo "$$failed test program(s) failed"; exit 1; fi; \
	if [ -n "$$skipped" ]; then echo "all test programs passed but these were SKIPPED:$$skipped"; \
	else echo "all test programs passed"; fi

check-torch: $(BIN) $(TOOL_BIN)
	@sh tools/check_roundtrip.sh ./$(BIN) $(TOOL_BIN); rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "check-torch: SKIPPED" >&2; fi; exit $$rc

# Mutation testing: every mutant of tools/mutants.txt must make `make check`
# fail (tools/mutate.sh; in a copy of the tree, never in this one).
mutate:
	@sh tools/mutate.sh

run: $(BIN)
	@sh tools/deps.sh data
	./$(BIN) train --epochs 5
	./$(BIN) eval

BENCH_BIN := $(BUILD)/bench/bench_kernels
$(BENCH_BIN): bench/bench_kernels.c bench/peak.c bench/peak.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ibench -o $@ bench/bench_kernels.c bench/peak.c $(LIB) $(LDFLAGS) $(LDLIBS)

bench: $(BIN) $(BENCH_BIN)
	@FMNIST_BIN=./$(BIN) BENCH_KERNELS=$(BENCH_BIN) sh bench/run.sh

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/fmnist

clean:
	rm -rf build build-san build-arm64 fmnist

# make fuzz, make fuzz-ci, and the fuzz replays that make check runs.
include tests/fuzz/fuzz.mk

# valgrind's memcheck over train, eval, export and classify (tools/memcheck.sh).
.PHONY: memcheck
memcheck: $(BIN)
	@if [ "$(SAN)" = 1 ]; then echo "memcheck: valgrind needs the plain build, not SAN=1" >&2; exit 2; fi
	@sh tools/memcheck.sh ./$(BIN)

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d $(BUILD)/tools/*.d)
