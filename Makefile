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
TOOL_BIN := $(BUILD)/tools/fmnist_predict $(BUILD)/tools/augment_sheet $(BUILD)/tools/gen_docs
# The man page and the completions, made from the option table (cli.c).
DOCS := $(BUILD)/doc/fmnist.1 $(BUILD)/doc/fmnist.bash $(BUILD)/doc/_fmnist

.PHONY: all check check-torch run bench clean install uninstall deps deps-test deps-data fuzz docs
all: $(BIN) $(DOCS)
docs: $(DOCS)

$(BUILD)/doc/fmnist.1: $(BUILD)/tools/gen_docs
	@mkdir -p $(dir $@)
	$(BUILD)/tools/gen_docs man > $@.tmp && mv $@.tmp $@
$(BUILD)/doc/fmnist.bash: $(BUILD)/tools/gen_docs
	@mkdir -p $(dir $@)
	$(BUILD)/tools/gen_docs bash > $@.tmp && mv $@.tmp $@
$(BUILD)/doc/_fmnist: $(BUILD)/tools/gen_docs
	@mkdir -p $(dir $@)
	$(BUILD)/tools/gen_docs zsh > $@.tmp && mv $@.tmp $@

# Missing packages: plain make and make install report them and the one
# command that installs them; make deps installs them (as root), and so do
# the README's set-up commands (make run, make check) and the CI targets.
DEPS_GOALS := run check deps deps-test deps-data fuzz fuzz-ci memcheck
export DEPS_INSTALL := $(if $(filter $(DEPS_GOALS),$(MAKECMDGOALS)),1,)
$(BUILD)/.deps:
	@PKG_CONFIG='$(PKG_CONFIG)' sh tools/deps.sh build
	@mkdir -p $(BUILD) && touch $@
$(BUILD)/.deps-test:
	@PKG_CONFIG='$(PKG_CONFIG)' sh tools/deps.sh test
	@mkdir -p $(BUILD) && touch $@
deps: $(BUILD)/.deps $(BUILD)/.deps-test deps-data
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
# binary through FMNIST_BIN. Then the PyTorch round trip, which skips itself
# (with a message) where Debian's python3-torch is missing.
check: $(BIN) $(TEST_BIN) $(TOOL_BIN) $(DOCS)
	@failed=0; for t in $(TEST_BIN); do \
	  echo "== $$t"; \
	  FMNIST_BIN=./$(BIN) ./$$t || failed=$$((failed+1)); \
	done; \
	for t in tests/*.sh; do \
	  echo "== $$t"; \
	  FMNIST_BIN=./$(BIN) FMNIST_BUILD=$(BUILD) sh $$t || failed=$$((failed+1)); \
	done; \
	echo "== tools/check_roundtrip.sh"; \
	sh tools/check_roundtrip.sh ./$(BIN) $(TOOL_BIN) || failed=$$((failed+1)); \
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

# make model: the model the README recommends for people's own pictures,
# --preset robust with seed 1 on Debian's data set: the same bits on every
# machine, so its SHA-256 is known (README) and checked here.
MODEL_SHA256 := 4a916421daf80a5047dc1fc1327c1a8bfb1dd8a654eebe882abacb0e06da28e6
MODEL := $(BUILD)/fmnist.model
.PHONY: model
model: $(BIN)
	@DEPS_INSTALL=1 sh tools/deps.sh data
	./$(BIN) train --preset robust --seed 1 --quiet --model $(MODEL).new
	@sum=$$(sha256sum $(MODEL).new | cut -d' ' -f1); \
	if [ "$$sum" != "$(MODEL_SHA256)" ]; then \
	  echo "make model: SHA-256 $$sum, the README says $(MODEL_SHA256)" >&2; \
	  echo "    (another data set, or a change to training; kept as $(MODEL).new)" >&2; exit 1; \
	fi; mv $(MODEL).new $(MODEL); echo "make model: $(MODEL), SHA-256 $$sum as documented"

# make install / make uninstall: GNU's directory variables; DESTDIR for
# staging. uninstall removes exactly what install installs (INSTALLED); the
# model of make model is installed when it was made.
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR  ?= $(DATADIR)/man
DOCDIR  ?= $(DATADIR)/doc/fmnist
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/vendor-completions
INSTALLED = $(BINDIR)/fmnist $(MANDIR)/man1/fmnist.1 $(BASHCOMPDIR)/fmnist \
            $(ZSHCOMPDIR)/_fmnist $(DOCDIR)/README.md $(DOCDIR)/LICENSE \
            $(DATADIR)/fmnist/fmnist.model
install: $(BIN) $(DOCS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) \
	  $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(DOCDIR)
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/fmnist
	install -m 644 $(BUILD)/doc/fmnist.1 $(DESTDIR)$(MANDIR)/man1/fmnist.1
	install -m 644 $(BUILD)/doc/fmnist.bash $(DESTDIR)$(BASHCOMPDIR)/fmnist
	install -m 644 $(BUILD)/doc/_fmnist $(DESTDIR)$(ZSHCOMPDIR)/_fmnist
	install -m 644 README.md LICENSE $(DESTDIR)$(DOCDIR)/
	@if [ -f $(MODEL) ]; then \
	  echo "install -m 644 $(MODEL) $(DESTDIR)$(DATADIR)/fmnist/fmnist.model"; \
	  install -d $(DESTDIR)$(DATADIR)/fmnist && \
	  install -m 644 $(MODEL) $(DESTDIR)$(DATADIR)/fmnist/fmnist.model; \
	else echo "make install: no model ($(MODEL)); 'make model' makes the recommended one"; fi
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DATADIR)/fmnist 2>/dev/null

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
