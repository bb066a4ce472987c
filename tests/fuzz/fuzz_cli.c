/* fuzz_cli.c: cli_parse on any command line.
 *
 * Input: the arguments after "fmnist", separated by NUL bytes (a final NUL
 * ends the last one; two NULs in a row make an empty argument). Each
 * argument is its own allocation, so a read past its end is caught, and
 * argv is a writable array, as main's is: cli_parse compacts classify's
 * file names within it.
 *
 * On success every value must be within its documented range and every
 * string must point into an argument (or be the default); the file list
 * must be the non-option arguments, in order. */
#include "cli.h"
#include "fuzz.h"
#include "idx.h"
#include "prep.h"

#define MAX_ARGS 4096

/* Index of the argument s points into (in [orig[i], orig[i] + len[i]]), or -1. */
static int arg_of(const char *s, char *const *orig, const size_t *len, int argc)
{
    for (int i = 0; i < argc; i++)
        if ((uintptr_t)s >= (uintptr_t)orig[i] && (uintptr_t)s <= (uintptr_t)(orig[i] + len[i]))
            return i;
    return -1;
}

static void check_path(const char *p, char *const *orig, const size_t *len, int argc)
{
    if (!p)
        return;
    FUZZ_ASSERT(arg_of(p, orig, len, argc) >= 1);
    FUZZ_ASSERT(*p != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nargs = 1;
    for (size_t i = 0; i < size; i++)
        nargs += data[i] == 0;
    if (size > 0 && data[size - 1] != 0)
        nargs++;
    if (nargs > MAX_ARGS)
        return 0;
    int argc = (int)nargs;

    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    char **orig = calloc((size_t)argc + 1, sizeof *orig);
    size_t *len = calloc((size_t)argc + 1, sizeof *len);
    if (!argv || !orig || !len) {
        free(argv), free(orig), free(len);
        return 0;
    }
    int ok = 1;
    size_t start = 0;
    for (int a = 0; a < argc && ok; a++) {
        const char *s = "fmnist";
        size_t n = strlen(s);
        if (a > 0) {
            const uint8_t *nul = memchr(data + start, 0, size - start);
            n = nul ? (size_t)(nul - (data + start)) : size - start;
            s = (const char *)data + start;
            start += n + 1;
        }
        orig[a] = malloc(n + 1);
        if (!orig[a]) {
            ok = 0;
            break;
        }
        memcpy(orig[a], s, n);
        orig[a][n] = 0;
        len[a] = n;
        argv[a] = orig[a];
    }

    cli_opts o;
    fm_err e;
    memset(&e, 0, sizeof e);
    int rc = ok ? cli_parse(argc, argv, &o, &e) : FM_OK;
    if (!ok) {
        /* out of memory building the input: nothing to test */
    } else if (rc != FM_OK) {
        fuzz_check_err(&e, rc, NULL);
        FUZZ_ASSERT(rc == FM_EINVAL);
    } else {
        FUZZ_ASSERT(o.command >= CLI_TRAIN && o.command <= CLI_VERSION);
        FUZZ_ASSERT(o.help == 0 || o.help == 1);
        const train_config *t = &o.train;
        FUZZ_ASSERT(t->epochs >= 1 && t->epochs <= CLI_MAX_EPOCHS);
        FUZZ_ASSERT(t->batch_size >= 1 && t->batch_size <= CLI_MAX_BATCH);
        FUZZ_ASSERT(t->lr > 0 && t->lr <= CLI_MAX_LR);
        FUZZ_ASSERT(t->dropout >= 0 && t->dropout < 1);
        FUZZ_ASSERT(t->label_smoothing >= 0 && t->label_smoothing < 1);
        FUZZ_ASSERT(t->ema >= 0 && t->ema < 1);
        FUZZ_ASSERT(t->weight_decay >= 0 && t->weight_decay <= 10);
        /* What cli_parse checks across options (not done for --help or
         * --version, which end the command there). */
        int info = o.help || o.version;
        if (!info) {
            FUZZ_ASSERT(t->warmup >= 0 && t->warmup <= t->epochs);
            FUZZ_ASSERT(t->keep == KEEP_LAST || t->val > 0);
            FUZZ_ASSERT(t->patience == 0 || t->val > 0);
        }
        FUZZ_ASSERT(t->schedule >= SCHEDULE_CONST && t->schedule <= SCHEDULE_STEP);
        FUZZ_ASSERT(o.threads >= 0 && o.threads <= CLI_MAX_THREADS);
        FUZZ_ASSERT(o.json == 0 || o.json == 1);
        FUZZ_ASSERT(o.quiet == 0 || o.quiet == 1);
        FUZZ_ASSERT(o.top >= 1 && o.top <= IDX_CLASSES);
        FUZZ_ASSERT(o.invert == IMAGE_INVERT_AUTO || o.invert == IMAGE_INVERT_YES ||
                    o.invert == IMAGE_INVERT_NO);
        FUZZ_ASSERT(o.split == IDX_TRAIN || o.split == IDX_TEST);
        FUZZ_ASSERT(o.index == -1 || (o.index >= 0 && o.index < (long)IDX_MAX_COUNT));
        check_path(o.data, orig, len, argc);
        if (strcmp(o.model, "fmnist.model") != 0)
            check_path(o.model, orig, len, argc);
        check_path(o.output, orig, len, argc);
        if (o.command == CLI_EXPORT && !info)
            FUZZ_ASSERT(o.index >= 0);
        if (o.command == CLI_CLASSIFY && !info)
            FUZZ_ASSERT(o.nfiles >= 1);
        if (o.command != CLI_CLASSIFY)
            FUZZ_ASSERT(o.nfiles == 0);
        if (o.nfiles > 0) {
            /* The list lies within argv, and names whole arguments, each
             * once, in their original order. */
            FUZZ_ASSERT(o.files >= argv + 2 && o.files + o.nfiles <= argv + argc);
            int prev = 1;
            for (int k = 0; k < o.nfiles; k++) {
                int i = arg_of(o.files[k], orig, len, argc);
                FUZZ_ASSERT(i > prev && o.files[k] == orig[i]);
                prev = i;
            }
        }
    }
    for (int a = 0; a < argc; a++)
        free(orig[a]);
    free(argv);
    free(orig);
    free(len);
    return 0;
}
