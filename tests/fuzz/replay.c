/* replay.c: runs a fuzz harness on saved inputs, without libFuzzer.
 *
 *   replay_fuzz_NAME [FILE|DIR]...
 *
 * Calls the harness's LLVMFuzzerTestOneInput once per file (a directory's
 * regular files in name order, dot files skipped). With no arguments it
 * replays tests/fuzz/corpus/fuzz_NAME (the seeds, which must be there) and
 * tests/fuzz/regress/fuzz_NAME (inputs that once crashed or cost far too
 * much, when any), from the top of the source tree: this is what `make
 * check` runs. Built by the ordinary toolchain, so `make check SAN=1`
 * replays under ASan + UBSan.
 * A crash names the input being replayed. Exit status 0 when every input
 * ran, 1 when an input could not be read. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef FUZZ_HARNESS
#error "FUZZ_HARNESS must name the harness, e.g. -DFUZZ_HARNESS='\"fuzz_idx\"'"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define REPLAY_SANITIZED 1
#endif
#endif
#ifdef REPLAY_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

static char current[4096]; /* the input being replayed, for crash reports */

static void say_current(void)
{
    static const char pre[] = "replay " FUZZ_HARNESS ": crashed on input ";
    if (!current[0])
        return;
    /* Only async-signal-safe calls: this runs from signal handlers. */
    ssize_t r = write(STDERR_FILENO, pre, sizeof pre - 1);
    r = write(STDERR_FILENO, current, strlen(current));
    r = write(STDERR_FILENO, "\n", 1);
    (void)r;
}

static void on_signal(int sig)
{
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay %s: %s: %s\n", FUZZ_HARNESS, path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        fprintf(stderr, "replay %s: %s: cannot read\n", FUZZ_HARNESS, path);
        return -1;
    }
    snprintf(current, sizeof current, "%s", path);
    /* An exact-size copy, so ASan sees reads past the input's end. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    current[0] = 0;
    return 0;
}

static int skip_dot(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Replays a file, or each regular file of a directory. Returns the number
 * run, -1 on an unreadable input. A missing path counts as empty when
 * optional. */
static long run_path(const char *path, int optional)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (optional && errno == ENOENT)
            return 0;
        fprintf(stderr, "replay %s: %s: %s\n", FUZZ_HARNESS, path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path) ? -1 : 1;
    struct dirent **names;
    int n = scandir(path, &names, skip_dot, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay %s: %s: %s\n", FUZZ_HARNESS, path, strerror(errno));
        return -1;
    }
    long done = 0;
    for (int i = 0; i < n; i++) {
        char full[4096];
        int k = snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name);
        if (done >= 0 && k > 0 && (size_t)k < sizeof full && stat(full, &st) == 0 &&
            S_ISREG(st.st_mode))
            done = run_file(full) ? -1 : done + 1;
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv)
{
    static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], on_signal);
#ifdef REPLAY_SANITIZED
    __sanitizer_set_death_callback(say_current);
#endif
    const char *defaults[2] = {"tests/fuzz/corpus/" FUZZ_HARNESS,
                               "tests/fuzz/regress/" FUZZ_HARNESS};
    int use_defaults = argc < 2;
    int npaths = use_defaults ? 2 : argc - 1;
    long total = 0;
    for (int i = 0; i < npaths; i++) {
        const char *path = use_defaults ? defaults[i] : argv[i + 1];
        long n = run_path(path, use_defaults && i == 1);
        if (n < 0)
            return 1;
        if (use_defaults && i == 0 && n == 0) {
            fprintf(stderr, "replay %s: no seeds in %s\n", FUZZ_HARNESS, path);
            return 1;
        }
        printf("replay %s: %ld input(s) from %s\n", FUZZ_HARNESS, n, path);
        fflush(stdout);
        total += n;
    }
    printf("replay %s: %ld input(s), all passed\n", FUZZ_HARNESS, total);
    return 0;
}
