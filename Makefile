# fmnist: see README.md. `make` builds ./fmnist, `make check` runs every test,
# `make run` trains and evaluates on the real data, `make bench` measures.
#
# Variables: CC (gcc or clang), CFLAGS (optimisation, default -O2 -g),
# SAN=1 (ASan + UBSan build of everything, in build-san/), PREFIX (install).
# Cross builds (tools/cross_arm64.sh): CC, AR, PKG_CONFIG (the target's, e.g.
# aarch64-linux-gnu-pkg-config) and BUILD (objects, tests and the binary in
# that folder instead of build/ and ./fmnist).

# Every rule is written here: make's built-in ones (%: %.o among them)
# would take an included dependency file, build/tests/fuzz_replay_X.d, for
# a program to link from fuzz_replay_X.d.o once replay.c changed.
MAKEFLAGS += --no-builtin-rules

CC      ?= cc
CFLAGS  ?= -O2 -g
PREFIX  ?= /usr/local
SAN     ?=
PKG_CONFIG ?= pkg-config

PKGS      := libpng zlib libjpeg
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lpng -lz -ljpeg)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

# -ffp-contract=off: no silent a*b+c fusion, so the reference kernels and the
# explicitly fused fast kernels define the same arithmetic under gcc and clang.
# -fno-math-errno lets sqrtf inline; it changes no result.
WARN     := -std=c11 -Wall -Wextra -Wpedantic
FPFLAGS  := -ffp-contract=off -fno-math-errno
# -fvisibility=hidden: only fmnist.h's API (FMNIST_API) is visible outside
# the public libraries (libfmnist.so.0, and the public libfmnist.a).
ALL_CFLAGS = $(WARN) $(FPFLAGS) $(CFLAGS) -Iinclude $(PKG_CFLAGS) -MMD -MP -pthread \
             -fvisibility=hidden
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
# The public libraries (see below).
PUB_A   := $(BUILD)/public/libfmnist.a
SO_NAME := libfmnist.so.0
SO      := $(BUILD)/public/$(SO_NAME)
PIC_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/pic/%.o)
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
TOOL_BIN := $(BUILD)/tools/fmnist_predict $(BUILD)/tools/augment_sheet $(BUILD)/tools/gen_docs \
            $(BUILD)/tools/augment_dump
# The man page and the completions, made from the option table (cli.c).
DOCS := $(BUILD)/doc/fmnist.1 $(BUILD)/doc/fmnist.bash $(BUILD)/doc/_fmnist

.PHONY: all check check-torch run bench clean install uninstall deps deps-test deps-data fuzz \
        docs mutate libs
all: $(BIN) $(DOCS) $(PUB_A) $(SO)
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

# (Objects depend on the Makefile too: its flags, -fvisibility=hidden among
# them, are part of what they are.)
$(BUILD)/%.o: src/%.c Makefile | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# Where make install puts the model that eval and classify find by default:
# $(DATADIR)/fmnist, compiled into main.o from a header that is rewritten
# only when that value changes, so that a new PREFIX or DATADIR rebuilds
# main.o (see make install below).
$(BUILD)/main.o: $(BUILD)/datadir.h
$(BUILD)/main.o: ALL_CFLAGS += -include $(BUILD)/datadir.h

# The public libraries (make install): a static one whose only global
# symbols are fmnist_* (the objects linked into one with ld -r, then every
# hidden symbol made local), and a shared one, libfmnist.so.0, built from
# position-independent objects and exporting fmnist_* alone (its version
# script, tools/libfmnist.map). tests/api.sh checks both with nm.
$(BUILD)/pic/%.o: src/%.c Makefile | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@
$(PUB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(LD) -r -o $(BUILD)/public/fmnist.o $(LIB_OBJ)
	objcopy --localize-hidden $(BUILD)/public/fmnist.o
	rm -f $@ && $(AR) rcs $@ $(BUILD)/public/fmnist.o
$(SO): $(PIC_OBJ) tools/libfmnist.map
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SO_NAME) -Wl,--version-script=tools/libfmnist.map $(LDFLAGS) \
	  -o $@ $(PIC_OBJ) $(LDLIBS)
	ln -sf $(SO_NAME) $(BUILD)/public/libfmnist.so
libs: $(PUB_A) $(SO)

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

# A fault injector some tests load into fmnist (LD_PRELOAD); never with a
# sanitizer, whose runtime must come first.
PRELOAD := $(BUILD)/tests/preload_fsync.so
$(PRELOAD): tests/preload_fsync.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O2 -shared -fPIC -o $@ $< -ldl

$(BUILD)/tools/%: tools/%.c $(LIB) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

# Every test binary runs from the top directory; the CLI tests find the
# binary through FMNIST_BIN. Then the PyTorch round trip and the ONNX and
# safetensors checks, which skip themselves where Debian's python3-torch,
# python3-onnx or numpy is missing. A program that exits 77 was
# skipped as a whole (cmocka reports its skipped tests itself): counted and
# named as such, never as passed. FAILFAST=1 stops at the first failing
# program, and CHECK_FIRST=test_x... runs those programs (or tests/x.sh
# scripts, named x.sh) first (make mutate uses both: the program that caught
# a mutant last time runs first).
FAILFAST ?=
CHECK_FIRST ?=
CHECK_FIRST_BIN = $(filter-out %.sh,$(CHECK_FIRST))
CHECK_FIRST_SH = $(filter %.sh,$(CHECK_FIRST))
CHECK_BIN = $(CHECK_FIRST_BIN:%=$(BUILD)/tests/%) \
            $(filter-out $(CHECK_FIRST_BIN:%=$(BUILD)/tests/%),$(TEST_BIN))
CHECK_SH = $(filter-out $(CHECK_FIRST_SH:%=tests/%),$(wildcard tests/*.sh))
# (The public libraries are not made in a sanitizer build: a program linked
# to them would need the sanitizer's runtime. tests/api.sh skips there, told
# by FMNIST_SAN: make install, which tests/docs.sh runs, makes them anyway.)
check: $(BIN) $(TEST_BIN) $(TOOL_BIN) $(PRELOAD) $(DOCS) $(if $(filter 1,$(SAN)),,$(PUB_A) $(SO))
	@failed=0; skipped=""; \
	run() { "$$@"; rc=$$?; \
	  if [ $$rc -eq 77 ]; then skipped="$$skipped $$name"; \
	  elif [ $$rc -ne 0 ]; then failed=$$((failed+1)); \
	    if [ -n "$(FAILFAST)" ]; then echo "$$name failed (FAILFAST)"; exit 1; fi; fi; }; \
	script() { echo "== $$1"; name=$$1; \
	  run env FMNIST_BIN=./$(BIN) FMNIST_BUILD=$(BUILD) FMNIST_SAN=$(SAN) sh $$1; }; \
	for t in $(CHECK_FIRST_SH:%=tests/%); do script $$t; done; \
	for t in $(CHECK_BIN); do \
	  echo "== $$t"; name=$$t; \
	  run env FMNIST_BIN=./$(BIN) FMNIST_BUILD=$(BUILD) ./$$t; \
	done; \
	for t in $(CHECK_SH); do script $$t; done; \
	echo "== tools/check_roundtrip.sh"; name=tools/check_roundtrip.sh; \
	run sh tools/check_roundtrip.sh ./$(BIN) $(TOOL_BIN); \
	echo "== tools/check_onnx.sh"; name=tools/check_onnx.sh; \
	run sh tools/check_onnx.sh ./$(BIN) $(BUILD)/tools/fmnist_predict; \
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

# make model: the model the README recommends for people's own pictures,
# --preset robust with seed 1 on Debian's data set: the same bits on every
# machine, so its SHA-256 is known (README) and checked here.
MODEL_SHA256 := 350dceffe5dfe437b9763786cbf419733e6349d979d368efe3c77c7fd97f989e
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
# staging. install installs INSTALLED, and the model of make model when it
# was made (MODEL=FILE: that one), and lists what it installed in
# $(DATADIR)/fmnist/install_manifest.txt (adding to the list of an earlier
# install there); uninstall removes exactly the manifest's files, then the
# manifest, and the folders only fmnist's files are in ($(DATADIR)/fmnist,
# $(DOCDIR)) when empty; the shared ones (bin, man/man1, lib, ...) stay.
# Without a manifest (nothing installed, or installed by an older
# Makefile), uninstall removes INSTALLED and leaves the model.
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
# $(call q,TEXT): TEXT as one shell word (single-quoted).
q = '$(subst ','\'',$(1))'
# The line of $(BUILD)/datadir.h: DATADIR/fmnist as a C string.
DATADIR_DEF = \#define FMNIST_DATADIR "$(subst ",\",$(subst \,\\,$(DATADIR)/fmnist))"
FORCE:
.PHONY: FORCE
# The binary install installs: ./fmnist when it was built for this DATADIR
# (or not built yet); else a copy linked from a main.o compiled for it
# ($(BUILD)/fmnist-install), so that installing elsewhere (the tests'
# DESTDIR, or make install PREFIX=... after a plain make) leaves ./fmnist
# as it was built.
BIN_DATADIR_DEF := $(shell cat $(BUILD)/datadir.h 2>/dev/null)
ifeq ($(BIN_DATADIR_DEF),)
INSTALL_BIN := $(BIN)
else ifeq ($(BIN_DATADIR_DEF),$(DATADIR_DEF))
INSTALL_BIN := $(BIN)
else
INSTALL_BIN := $(BUILD)/fmnist-install
endif
# (Written only when its line changes: a make install as root in a tree it
# cannot write then writes nothing here.)
$(BUILD)/datadir.h $(BUILD)/datadir-install.h: FORCE
	@want=$(call q,$(DATADIR_DEF)); \
	if [ "$$(cat $@ 2>/dev/null)" != "$$want" ]; then \
	  mkdir -p $(dir $@) && printf '%s\n' "$$want" > $@.tmp && mv $@.tmp $@; fi
$(BUILD)/main-install.o: src/main.c $(BUILD)/datadir-install.h Makefile | $(BUILD)/.deps
	$(CC) $(ALL_CFLAGS) -include $(BUILD)/datadir-install.h -c $< -o $@
$(BUILD)/fmnist-install: $(BUILD)/main-install.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
MANDIR  ?= $(DATADIR)/man
DOCDIR  ?= $(DATADIR)/doc/fmnist
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/vendor-completions
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
# Paths may hold spaces (not newlines): in the recipes every one is a
# single shell word, $(call q,...) or $(call dq,...) (DESTDIR prefixed).
dq = $(call q,$(DESTDIR)$(1))
# The docs: README.md, LICENSE, docs/*.md in docs/ (the README's links), the
# example docs/library.md links to (../examples/classify.c) and the rivals'
# sources docs/speed.md links to (../bench/rivals/).
DOC_MD  := $(wildcard docs/*.md)
RIVALS  := bench/rivals/fast_torch.py bench/rivals/fast_torch_cnn.py bench/rivals/train_openblas.c
INSTALLED = $(call q,$(BINDIR)/fmnist) $(call q,$(MANDIR)/man1/fmnist.1) \
            $(call q,$(BASHCOMPDIR)/fmnist) $(call q,$(ZSHCOMPDIR)/_fmnist) \
            $(call q,$(DOCDIR)/README.md) $(call q,$(DOCDIR)/LICENSE) \
            $(foreach f,$(DOC_MD) examples/classify.c $(RIVALS),$(call q,$(DOCDIR)/$(f))) \
            $(call q,$(INCLUDEDIR)/fmnist.h) \
            $(call q,$(LIBDIR)/libfmnist.a) $(call q,$(LIBDIR)/$(SO_NAME)) \
            $(call q,$(LIBDIR)/libfmnist.so) $(call q,$(LIBDIR)/pkgconfig/fmnist.pc)
# fmnist.pc's values: the .pc format splits its flags at spaces, and
# pkg-config reads '\ ' as an escaped space (and prints it so: the flags
# work where a shell parses them, in a Makefile's recipe or with eval, not
# in a plain $$(pkg-config ...) of the shell); escaped again for sed's s|||.
empty :=
space := $(empty) $(empty)
pcval = $(subst $(space),\\ ,$(subst |,\|,$(subst &,\&,$(subst \,\\,$(1)))))
install: $(INSTALL_BIN) $(DOCS) $(PUB_A) $(SO)
	install -d $(call dq,$(BINDIR)) $(call dq,$(MANDIR)/man1) $(call dq,$(BASHCOMPDIR)) \
	  $(call dq,$(ZSHCOMPDIR)) $(call dq,$(DOCDIR)/docs) $(call dq,$(DOCDIR)/examples) \
	  $(call dq,$(DOCDIR)/bench/rivals)
	install -m 755 $(INSTALL_BIN) $(call dq,$(BINDIR)/fmnist)
	install -m 644 $(BUILD)/doc/fmnist.1 $(call dq,$(MANDIR)/man1/fmnist.1)
	install -m 644 $(BUILD)/doc/fmnist.bash $(call dq,$(BASHCOMPDIR)/fmnist)
	install -m 644 $(BUILD)/doc/_fmnist $(call dq,$(ZSHCOMPDIR)/_fmnist)
	install -m 644 README.md LICENSE $(call dq,$(DOCDIR))/
	install -m 644 $(DOC_MD) $(call dq,$(DOCDIR)/docs)/
	install -m 644 examples/classify.c $(call dq,$(DOCDIR)/examples)/
	install -m 644 $(RIVALS) $(call dq,$(DOCDIR)/bench/rivals)/
	install -d $(call dq,$(INCLUDEDIR)) $(call dq,$(LIBDIR)/pkgconfig)
	install -m 644 include/fmnist.h $(call dq,$(INCLUDEDIR)/fmnist.h)
	install -m 644 $(PUB_A) $(call dq,$(LIBDIR)/libfmnist.a)
	install -m 755 $(SO) $(call dq,$(LIBDIR)/$(SO_NAME))
	ln -sf $(SO_NAME) $(call dq,$(LIBDIR)/libfmnist.so)
	sed -e $(call q,s|@PREFIX@|$(call pcval,$(PREFIX))|; s|@LIBDIR@|$(call pcval,$(LIBDIR))|; s|@INCLUDEDIR@|$(call pcval,$(INCLUDEDIR))|) \
	  -e 's|@VERSION@|'"$$(sed -n 's/^#define FMNIST_VERSION "\(.*\)"/\1/p' include/version.h)"'|' \
	  tools/fmnist.pc.in > $(call dq,$(LIBDIR)/pkgconfig/fmnist.pc)
	@m=$(call q,$(MODEL)); d=$(call dq,$(DATADIR)/fmnist); list="$$d/install_manifest.txt"; \
	install -d "$$d" && \
	{ if [ -f "$$list" ]; then cat "$$list"; fi; printf '%s\n' $(INSTALLED); } > "$$list.new" || exit 1; \
	if [ -f "$$m" ]; then \
	  echo "install -m 644 $$m $$d/fmnist.model"; \
	  install -m 644 "$$m" "$$d/fmnist.model" || exit 1; \
	  printf '%s\n' $(call q,$(DATADIR)/fmnist/fmnist.model) >> "$$list.new"; \
	else echo "make install: no model ($$m); 'make model' makes the recommended one"; fi; \
	sort -u "$$list.new" > "$$list" && rm -f "$$list.new"
uninstall:
	@d=$(call q,$(DESTDIR)); list=$(call dq,$(DATADIR)/fmnist/install_manifest.txt); n=0; \
	rmf() { if [ -e "$$d$$1" ] || [ -L "$$d$$1" ]; then \
	  echo "rm -f $$d$$1"; rm -f "$$d$$1" || exit 1; n=$$((n + 1)); fi; }; \
	if [ -f "$$list" ]; then \
	  while IFS= read -r f; do rmf "$$f"; done < "$$list"; rm -f "$$list" || exit 1; \
	else \
	  for f in $(INSTALLED); do rmf "$$f"; done; \
	  model=$(call dq,$(DATADIR)/fmnist/fmnist.model); \
	  if [ $$n -gt 0 ] && [ -f "$$model" ]; then \
	    echo "make uninstall: no $$list: left $$model (not known to be make install's)"; fi; \
	fi; \
	for dir in $(call dq,$(DOCDIR)/docs) $(call dq,$(DOCDIR)/examples) \
	  $(call dq,$(DOCDIR)/bench/rivals) $(call dq,$(DOCDIR)/bench) $(call dq,$(DOCDIR)) \
	  $(call dq,$(DATADIR)/fmnist); do \
	  if [ -d "$$dir" ]; then rmdir "$$dir" 2>/dev/null || true; fi; done

clean:
	rm -rf build build-san build-arm64 fmnist

# make fuzz, make fuzz-ci, and the fuzz replays that make check runs.
include tests/fuzz/fuzz.mk

# valgrind's memcheck over train, eval, export and classify (tools/memcheck.sh).
.PHONY: memcheck
memcheck: $(BIN)
	@if [ "$(SAN)" = 1 ]; then echo "memcheck: valgrind needs the plain build, not SAN=1" >&2; exit 2; fi
	@sh tools/memcheck.sh ./$(BIN)

-include $(wildcard $(BUILD)/*.d $(BUILD)/pic/*.d $(BUILD)/tests/*.d $(BUILD)/tools/*.d $(BUILD)/bench/*.d)
