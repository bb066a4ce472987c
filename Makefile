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
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# Development helpers linking the library (not installed).
TOOL_BIN := $(BUILD)/tools/fmnist_predict $(BUILD)/tools/augment_sheet

.PHONY: all check check-torch run bench clean install deps deps-test deps-data fuzz
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

$(BUILD)/tests/%: tests/%.c $(LIB) tests/testutil.h | $(BUILD)/.deps-test
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(LIB) $(LDFLAGS) $(CMOCKA_LIBS) $(LDLIBS)

$(BUILD)/tools/%: tools/%.c $(LIB) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

# Every test binary runs from the top directory; the CLI tests find the
# binary through FMNIST_BIN. Then the PyTorch round trip and the ONNX and
# safetensors checks, which skip themselves (with a message) where Debian's
# python3-torch, python3-onnx or numpy is missing.
check: $(BIN) $(TEST_BIN) $(TOOL_BIN)
	@failed=0; for t in $(TEST_BIN); do \
	  echo "== $$t"; \
	  FMNIST_BIN=./$(BIN) ./$$t || failed=$$((failed+1)); \
	done; \
	for t in tests/*.sh; do \
	  echo "== $$t"; \
	  FMNIST_BIN=./$(BIN) sh $$t || failed=$$((failed+1)); \
	done; \
	echo "== tools/check_roundtrip.sh"; \
	sh tools/check_roundtrip.sh ./$(BIN) $(TOOL_BIN) || failed=$$((failed+1)); \
	echo "== tools/check_onnx.sh"; \
	sh tools/check_onnx.sh ./$(BIN) $(BUILD)/tools/fmnist_predict || failed=$$((failed+1)); \
	if [ $$failed -ne 0 ]; then echo "$$failed test program(s) failed"; exit 1; fi; \
	echo "all test programs passed"

check-torch: $(BIN) $(TOOL_BIN)
	@sh tools/check_roundtrip.sh ./$(BIN) $(TOOL_BIN)

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
