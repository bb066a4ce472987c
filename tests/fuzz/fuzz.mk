# tests/fuzz/fuzz.mk: fuzzing; included by the Makefile.
#
#   make check      also replays each harness on its seeds and regression
#                   inputs (BUILD/tests/replay_fuzz_*, plain main(), any CC,
#                   under ASan + UBSan with SAN=1)

FUZZ_HARNESSES := fuzz_idx fuzz_png fuzz_model fuzz_cli

# ---- replays, part of make check

REPLAY_BIN := $(FUZZ_HARNESSES:%=$(BUILD)/tests/replay_%)
TEST_BIN   += $(REPLAY_BIN)
check: $(REPLAY_BIN)
.SECONDARY: $(FUZZ_HARNESSES:%=$(BUILD)/tests/fuzz_replay_%.o)

$(BUILD)/tests/fuzz_replay_%.o: tests/fuzz/replay.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -DFUZZ_HARNESS='"$*"' -c $< -o $@

$(BUILD)/tests/replay_%: tests/fuzz/%.c $(BUILD)/tests/fuzz_replay_%.o $(LIB)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz -o $@ $< $(BUILD)/tests/fuzz_replay_$*.o $(LIB) \
	  $(LDFLAGS) $(LDLIBS)
