/* fuzz.h: what every fuzz harness includes.
 *
 * A harness is one LLVMFuzzerTestOneInput. It is linked two ways:
 *   - with libFuzzer (clang -fsanitize=fuzzer, FUZZ_LIBFUZZER defined):
 *     build-fuzz/fuzz_NAME, run by `make fuzz`;
 *   - with tests/fuzz/replay.c, a plain main() (any compiler, with or
 *     without SAN=1): build/tests/replay_fuzz_NAME, run by `make check` on
 *     the committed seeds and regression inputs.
 * Besides crashing on memory errors, undefined behaviour and leaks (the
 * sanitizers' job), each harness checks the library's contracts: outputs
 * untouched on failure, a one-line message, results within their documented
 * ranges. A broken contract aborts through FUZZ_ASSERT. */
#ifndef FMNIST_FUZZ_H
#define FMNIST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef FUZZ_LIBFUZZER
/* libFuzzer's own mutator, for harnesses with a custom one. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
#endif

static inline void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: contract broken: %s\n", file, line, what);
    fflush(stderr);
    abort();
}

#define FUZZ_ASSERT(cond) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))

/* The contract of every failing library call: e filled with the same code,
 * the file name given, and one non-empty printable line of text (no
 * control characters there or in the file name). e must have been
 * zeroed before the call. */
static inline void fuzz_check_err(const fm_err *e, int rc, const char *name)
{
    FUZZ_ASSERT(rc != FM_OK);
    FUZZ_ASSERT(e->code == rc);
    FUZZ_ASSERT(memchr(e->msg, 0, sizeof e->msg) != NULL);
    FUZZ_ASSERT(memchr(e->file, 0, sizeof e->file) != NULL);
    FUZZ_ASSERT(e->msg[0] != 0);
    for (const char *s = e->msg; *s; s++)
        FUZZ_ASSERT((unsigned char)*s >= 0x20 && *s != 0x7f); /* one printable line */
    for (const char *s = e->file; *s; s++)
        FUZZ_ASSERT((unsigned char)*s >= 0x20 && *s != 0x7f);
    if (name)
        FUZZ_ASSERT(strcmp(e->file, name) == 0);
}

#endif
