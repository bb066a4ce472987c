# tests/fuzz/fuzz.mk: fuzzing; included by the Makefile.
#
#   make check      also replays each harness on its seeds and regression
#                   inputs (BUILD/tests/replay_fuzz_*, plain main(), any CC,
#                   under ASan + UBSan with SAN=1)
#   make fuzz       builds the libFuzzer harnesses with clang in build-fuzz/
#                   and runs each for FUZZ_SECONDS (default 60), in turn
#   make fuzz-ci    the same for 20 s each (what CI runs)

FUZZ_HARNESSES := fuzz_idx fuzz_inflate fuzz_png fuzz_jpeg fuzz_model fuzz_cli fuzz_safetensors
FUZZ_CC        ?= clang
FUZZ_SECONDS   ?= 60
FUZZ_BUILD     := build-fuzz
# IDX_READ_CHUNK: idx.c reads files 61 bytes at a time instead of 256 KB, so
# that small inputs split headers and gzip members across reads;
# IDX_PICK_CHUNK: idx_read_one takes the payload 100 bytes at a time, so that
# images straddle its chunks.
FUZZ_CFLAGS     = $(WARN) $(FPFLAGS) -O1 -g -Iinclude $(PKG_CFLAGS) -MMD -MP -pthread \
                  -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                  -fno-omit-frame-pointer -DIDX_READ_CHUNK=61 -DIDX_PICK_CHUNK=100
FUZZ_LIB_OBJ   := $(LIB_SRC:src/%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BIN       := $(FUZZ_HARNESSES:%=$(FUZZ_BUILD)/%)

# ---- replays, part of make check

REPLAY_BIN := $(FUZZ_HARNESSES:%=$(BUILD)/tests/replay_%)
TEST_BIN   += $(REPLAY_BIN)
check: $(REPLAY_BIN)
.SECONDARY: $(FUZZ_HARNESSES:%=$(BUILD)/tests/fuzz_replay_%.o)

$(BUILD)/tests/fuzz_replay_%.o: tests/fuzz/replay.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -DFUZZ_HARNESS='"$*"' -c $< -o $@

.SECONDARY: $(FUZZ_HARNESSES:%=$(BUILD)/tests/harness_%.o)
$(BUILD)/tests/harness_%.o: tests/fuzz/%.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -c $< -o $@

$(BUILD)/tests/replay_%: $(BUILD)/tests/harness_%.o $(BUILD)/tests/fuzz_replay_%.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/tests/fuzz_replay_$*.o $(LIB) $(LDFLAGS) $(LDLIBS)

# ---- libFuzzer builds

.PHONY: fuzz-ci fuzz-build fuzz-clean

$(FUZZ_BUILD)/.toolchain:
	@FUZZ_CC='$(FUZZ_CC)' sh tools/deps.sh fuzz
	@mkdir -p $(FUZZ_BUILD)
	@printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
	  >$(FUZZ_BUILD)/probe.c
	@$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $(FUZZ_BUILD)/probe.c \
	  -o $(FUZZ_BUILD)/probe 2>$(FUZZ_BUILD)/probe.log || { \
	  echo "fmnist: '$(FUZZ_CC) -fsanitize=fuzzer' does not work (see $(FUZZ_BUILD)/probe.log);" >&2; \
	  echo "    on Debian: apt-get install clang libclang-rt-dev, or set FUZZ_CC=clang-N" >&2; \
	  exit 1; }
	@touch $@

$(FUZZ_BUILD)/%.o: src/%.c | $(BUILD)/.deps $(FUZZ_BUILD)/.toolchain
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libfmnist.a: $(FUZZ_LIB_OBJ)
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libfmnist.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DFUZZ_LIBFUZZER -Itests/fuzz -fsanitize=fuzzer -o $@ $< \
	  $(FUZZ_BUILD)/libfmnist.a $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: $(FUZZ_BIN)
	@sh tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20

fuzz-clean:
	rm -rf $(FUZZ_BUILD)
clean: fuzz-clean

-include $(wildcard $(FUZZ_BUILD)/*.d)
