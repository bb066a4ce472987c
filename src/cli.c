/* cli.c: strict parsing of the command line. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "convert.h"
#include "idx.h"
#include "prep.h"

const char *cli_command_name(enum cli_command c)
{
    switch (c) {
    case CLI_TRAIN: return "train";
    case CLI_EVAL: return "eval";
    case CLI_CLASSIFY: return "classify";
    case CLI_EXPORT: return "export";
    case CLI_CONVERT: return "convert";
    default: return "";
    }
}

static int parse_long(const char *opt, const char *s, long min, long max, long *out, fm_err *e)
{
    char *end;
    errno = 0;
    if (!*s || !(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')))
        return fm_fail(e, FM_EINVAL, opt, "'%s' is not an integer", s);
    long v = strtol(s, &end, 10);
    if (*end)
        return fm_fail(e, FM_EINVAL, opt, "'%s' is not an integer", s);
    if (errno == ERANGE || v < min || v > max)
        return fm_fail(e, FM_EINVAL, opt, "%s is out of range %ld..%ld", s, min, max);
    *out = v;
    return FM_OK;
}

static int parse_int(const char *opt, const char *s, int min, int max, int *out, fm_err *e)
{
    long v;
    int rc = parse_long(opt, s, min, max, &v, e);
    if (!rc)
        *out = (int)v;
    return rc;
}

static int parse_u64(const char *opt, const char *s, uint64_t *out, fm_err *e)
{
    char *end;
    errno = 0;
    if (!*s || s[0] < '0' || s[0] > '9')
        return fm_fail(e, FM_EINVAL, opt, "'%s' is not a non-negative integer", s);
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return fm_fail(e, FM_EINVAL, opt, "'%s' is not a non-negative integer", s);
    if (errno == ERANGE)
        return fm_fail(e, FM_EINVAL, opt, "%s is out of range 0..18446744073709551615", s);
    *out = (uint64_t)v;
    return FM_OK;
}

static int parse_double(const char *opt, const char *s, double min_excl, double max, double *out,
                        fm_err *e)
{
    char *end;
    errno = 0;
    if (!*s || !(s[0] == '-' || s[0] == '+' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9')))
        return fm_fail(e, FM_EINVAL, opt, "'%s' is not a number", s);
    double v = strtod(s, &end);
    if (*end)
        return fm_fail(e, FM_EINVAL, opt, "'%s' is not a number", s);
    if (!isfinite(v) || !(v > min_excl) || v > max)
        return fm_fail(e, FM_EINVAL, opt, "%s is out of range (%g, %g]", s, min_excl, max);
    *out = v;
    return FM_OK;
}

/* Which options each command takes. */
enum {
    O_EPOCHS, O_BATCH, O_LR, O_SEED, O_DATA, O_MODEL, O_THREADS, O_JSON, O_QUIET, O_TOP,
    O_INVERT, O_SPLIT, O_INDEX, O_OUTPUT, O_HELP, O_RESUME, O_DROPOUT, O_WD, O_SCHEDULE,
    O_WARMUP, O_SMOOTHING, O_EMA, O_VAL, O_KEEP, O_PATIENCE, O_PRESET, O_SHOW, O_ASCII,
    O_ERRORS, O_CONFUSION, O_AUGMENT, O_COUNT
};
typedef struct opt_def {
    const char *name;
    int takes_value;
    unsigned commands; /* bit per cli_command */
} opt_def;
#define B(c) (1u << (c))
static const opt_def defs[O_COUNT] = {
    [O_EPOCHS] = {"--epochs", 1, B(CLI_TRAIN)},
    [O_BATCH] = {"--batch-size", 1, B(CLI_TRAIN)},
    [O_LR] = {"--lr", 1, B(CLI_TRAIN)},
    [O_SEED] = {"--seed", 1, B(CLI_TRAIN)},
    [O_DATA] = {"--data", 1, B(CLI_TRAIN) | B(CLI_EVAL) | B(CLI_EXPORT)},
    [O_MODEL] = {"--model", 1, B(CLI_TRAIN) | B(CLI_EVAL) | B(CLI_CLASSIFY) | B(CLI_CONVERT)},
    [O_THREADS] = {"--threads", 1, B(CLI_TRAIN) | B(CLI_EVAL) | B(CLI_CLASSIFY)},
    [O_JSON] = {"--json", 0, B(CLI_TRAIN) | B(CLI_EVAL) | B(CLI_CLASSIFY)},
    [O_QUIET] = {"--quiet", 0, B(CLI_TRAIN)},
    [O_TOP] = {"--top", 1, B(CLI_CLASSIFY)},
    [O_INVERT] = {"--invert", 1, B(CLI_CLASSIFY)},
    [O_SPLIT] = {"--split", 1, B(CLI_EXPORT)},
    [O_INDEX] = {"--index", 1, B(CLI_EXPORT)},
    [O_OUTPUT] = {"-o", 1, B(CLI_EXPORT) | B(CLI_CONVERT)},
    [O_HELP] = {"--help", 0, B(CLI_TRAIN) | B(CLI_EVAL) | B(CLI_CLASSIFY) | B(CLI_EXPORT) |
                             B(CLI_CONVERT)},
    [O_RESUME] = {"--resume", 0, B(CLI_TRAIN)},
    [O_DROPOUT] = {"--dropout", 1, B(CLI_TRAIN)},
    [O_WD] = {"--weight-decay", 1, B(CLI_TRAIN)},
    [O_SCHEDULE] = {"--schedule", 1, B(CLI_TRAIN)},
    [O_WARMUP] = {"--warmup", 1, B(CLI_TRAIN)},
    [O_SMOOTHING] = {"--label-smoothing", 1, B(CLI_TRAIN)},
    [O_EMA] = {"--ema", 1, B(CLI_TRAIN)},
    [O_VAL] = {"--val", 1, B(CLI_TRAIN)},
    [O_KEEP] = {"--keep", 1, B(CLI_TRAIN)},
    [O_PATIENCE] = {"--patience", 1, B(CLI_TRAIN)},
    [O_PRESET] = {"--preset", 1, B(CLI_TRAIN)},
    [O_SHOW] = {"--show", 1, B(CLI_CLASSIFY)},
    [O_ASCII] = {"--ascii", 0, B(CLI_CLASSIFY)},
    [O_ERRORS] = {"--errors", 1, B(CLI_EVAL)},
    [O_CONFUSION] = {"--confusion", 1, B(CLI_EVAL)},
    [O_AUGMENT] = {"--augment", 1, B(CLI_TRAIN)},
};

/* A number in [0, max]. */
static int parse_fraction(const char *opt, const char *s, double max, double *out, fm_err *e)
{
    if (!strcmp(s, "0") || !strcmp(s, "0.0")) {
        *out = 0;
        return FM_OK;
    }
    double v;
    int rc = parse_double(opt, s, 0.0, max, &v, e);
    if (rc)
        return fm_fail(e, FM_EINVAL, opt, "'%s' is not a number in [0, %g]", s, max);
    *out = v;
    return FM_OK;
}

/* The named recipes: "best", tuned for the data set (README: "Beyond the
 * recipe"), and "robust", the same network trained on augmented images
 * for people's own pictures (README: "Your own pictures"). Options given
 * on the command line win over a preset's. */
typedef struct preset {
    const char *name;
    int epochs;
    double lr, weight_decay, dropout, smoothing, ema;
    int schedule;
    uint32_t val;
    int keep, augment;
} preset;
static const preset presets[] = {
    {"best", 40, 0.001, 0.05, 0.2, 0.1, 0.999, SCHEDULE_COSINE, 5000, KEEP_BEST, 0},
    {"robust", 40, 0.001, 0.05, 0.1, 0.1, 0.999, SCHEDULE_COSINE, 5000, KEEP_BEST, 1},
};

static const preset *preset_find(const char *name)
{
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (!strcmp(presets[i].name, name))
            return &presets[i];
    return NULL;
}

static void preset_apply(cli_opts *o)
{
    const preset *p = preset_find(o->preset);
    train_config *t = &o->train;
    if (!(o->given & CLI_GIVEN_EPOCHS)) t->epochs = p->epochs;
    if (!(o->given & CLI_GIVEN_LR)) t->lr = p->lr;
    if (!(o->given & CLI_GIVEN_WD)) t->weight_decay = p->weight_decay;
    if (!(o->given & CLI_GIVEN_DROPOUT)) t->dropout = p->dropout;
    if (!(o->given & CLI_GIVEN_SCHEDULE)) t->schedule = p->schedule;
    if (!(o->given & CLI_GIVEN_SMOOTHING)) t->label_smoothing = p->smoothing;
    if (!(o->given & CLI_GIVEN_EMA)) t->ema = p->ema;
    if (!(o->given & CLI_GIVEN_VAL)) t->val = p->val;
    if (!(o->given & CLI_GIVEN_KEEP)) t->keep = p->keep;
    if (!(o->given & CLI_GIVEN_AUGMENT) && p->augment) t->augment = augment_default();
}

/* How many "%d" a --show pattern holds, or -1 when it has another '%'
 * sequence. */
static int show_pattern_ds(const char *p)
{
    int n = 0;
    for (; *p; p++) {
        if (*p != '%')
            continue;
        if (p[1] == 'd')
            n++;
        else if (p[1] != '%')
            return -1;
        p++;
    }
    return n;
}

int cli_show_path(const char *pattern, int index, char *out, size_t cap)
{
    if (cap == 0)
        return FM_EINVAL;
    size_t at = 0;
    for (const char *p = pattern; *p; p++) {
        char num[16];
        const char *piece = p;
        size_t n = 1;
        if (*p == '%' && p[1] == 'd') {
            snprintf(num, sizeof num, "%d", index);
            piece = num;
            n = strlen(num);
            p++;
        } else if (*p == '%' && p[1] == '%') {
            p++;
        }
        if (at + n >= cap)
            return FM_EINVAL;
        memcpy(out + at, piece, n);
        at += n;
    }
    out[at] = 0;
    return FM_OK;
}

static int apply(cli_opts *o, int id, const char *name, const char *v, fm_err *e)
{
    train_config *t = &o->train;
    switch (id) {
    case O_EPOCHS:
        o->given |= CLI_GIVEN_EPOCHS;
        return parse_int(name, v, 1, CLI_MAX_EPOCHS, &t->epochs, e);
    case O_BATCH:
        o->given |= CLI_GIVEN_BATCH;
        return parse_int(name, v, 1, CLI_MAX_BATCH, &t->batch_size, e);
    case O_LR:
        o->given |= CLI_GIVEN_LR;
        return parse_double(name, v, 0.0, CLI_MAX_LR, &t->lr, e);
    case O_SEED:
        o->given |= CLI_GIVEN_SEED;
        return parse_u64(name, v, &t->seed, e);
    case O_RESUME: o->resume = 1; return FM_OK;
    case O_DROPOUT:
        o->given |= CLI_GIVEN_DROPOUT;
        return parse_fraction(name, v, 0.95, &t->dropout, e);
    case O_WD:
        o->given |= CLI_GIVEN_WD;
        return parse_fraction(name, v, 10, &t->weight_decay, e);
    case O_SMOOTHING:
        o->given |= CLI_GIVEN_SMOOTHING;
        return parse_fraction(name, v, 0.5, &t->label_smoothing, e);
    case O_EMA:
        o->given |= CLI_GIVEN_EMA;
        return parse_fraction(name, v, 0.99999, &t->ema, e);
    case O_WARMUP:
        o->given |= CLI_GIVEN_WARMUP;
        return parse_int(name, v, 0, CLI_MAX_EPOCHS, &t->warmup, e);
    case O_PATIENCE:
        o->given |= CLI_GIVEN_PATIENCE;
        return parse_int(name, v, 0, CLI_MAX_EPOCHS, &t->patience, e);
    case O_VAL: {
        int n;
        o->given |= CLI_GIVEN_VAL;
        int rc = parse_int(name, v, 0, CLI_MAX_BATCH - 1, &n, e);
        if (!rc)
            t->val = (uint32_t)n;
        return rc;
    }
    case O_SCHEDULE:
        o->given |= CLI_GIVEN_SCHEDULE;
        if (!strcmp(v, "const"))
            t->schedule = SCHEDULE_CONST;
        else if (!strcmp(v, "cosine"))
            t->schedule = SCHEDULE_COSINE;
        else if (!strcmp(v, "step"))
            t->schedule = SCHEDULE_STEP;
        else
            return fm_fail(e, FM_EINVAL, name, "'%s' is not one of const, cosine, step", v);
        return FM_OK;
    case O_KEEP:
        o->given |= CLI_GIVEN_KEEP;
        if (!strcmp(v, "last"))
            t->keep = KEEP_LAST;
        else if (!strcmp(v, "best"))
            t->keep = KEEP_BEST;
        else
            return fm_fail(e, FM_EINVAL, name, "'%s' is not one of last, best", v);
        return FM_OK;
    case O_AUGMENT:
        o->given |= CLI_GIVEN_AUGMENT;
        return augment_parse(v, &t->augment, e);
    case O_PRESET:
        if (!preset_find(v))
            return fm_fail(e, FM_EINVAL, name, "'%s' is not a preset (presets: %s)", v,
                           CLI_PRESETS);
        o->preset = v;
        return FM_OK;
    case O_THREADS: return parse_int(name, v, 1, CLI_MAX_THREADS, &o->threads, e);
    case O_TOP: return parse_int(name, v, 1, IDX_CLASSES, &o->top, e);
    case O_INDEX: return parse_long(name, v, 0, (long)IDX_MAX_COUNT - 1, &o->index, e);
    case O_DATA:
    case O_MODEL:
    case O_OUTPUT:
        if (!*v)
            return fm_fail(e, FM_EINVAL, name, "needs a non-empty path");
        if (id == O_DATA)
            o->data = v;
        else if (id == O_MODEL)
            o->model = v;
        else
            o->output = v;
        return FM_OK;
    case O_INVERT:
        if (!strcmp(v, "auto"))
            o->invert = IMAGE_INVERT_AUTO;
        else if (!strcmp(v, "yes"))
            o->invert = IMAGE_INVERT_YES;
        else if (!strcmp(v, "no"))
            o->invert = IMAGE_INVERT_NO;
        else
            return fm_fail(e, FM_EINVAL, name, "'%s' is not one of auto, yes, no", v);
        return FM_OK;
    case O_SPLIT:
        if (!strcmp(v, "test"))
            o->split = IDX_TEST;
        else if (!strcmp(v, "train"))
            o->split = IDX_TRAIN;
        else
            return fm_fail(e, FM_EINVAL, name, "'%s' is not one of test, train", v);
        return FM_OK;
    case O_SHOW:
    case O_ERRORS:
    case O_CONFUSION:
        if (!*v)
            return fm_fail(e, FM_EINVAL, name, "needs a non-empty path");
        if (id == O_SHOW) {
            int ds = show_pattern_ds(v);
            if (ds < 0 || ds > 1)
                return fm_fail(e, FM_EINVAL, name,
                               "'%s': the only '%%' sequences allowed are one %%d (the image's "
                               "number) and %%%%", v);
            o->show = v;
        } else if (id == O_ERRORS) {
            o->errors_png = v;
        } else {
            o->confusion_png = v;
        }
        return FM_OK;
    case O_ASCII: o->ascii = 1; return FM_OK;
    case O_JSON: o->json = 1; return FM_OK;
    case O_QUIET: o->quiet = 1; return FM_OK;
    case O_HELP: o->help = 1; return FM_OK;
    }
    return fm_fail(e, FM_EINVAL, name, "unknown option");
}

/* convert: -o names the output format; the input is a model file or
 * safetensors. */
static int convert_check(const cli_opts *o, fm_err *e)
{
    if (!o->output)
        return fm_fail(e, FM_EINVAL, "-o", "convert needs -o OUT (ending in %s)",
                       CONVERT_EXTENSIONS);
    if (convert_format_of(o->output) == CONVERT_UNKNOWN)
        return fm_fail(e, FM_EINVAL, "-o", "'%s': the name must end in %s", o->output,
                       CONVERT_EXTENSIONS);
    if (convert_format_of(o->model) == CONVERT_ONNX)
        return fm_fail(e, FM_EINVAL, "--model",
                       "'%s': convert reads fmnist model files and .safetensors, not ONNX",
                       o->model);
    return FM_OK;
}

int cli_parse(int argc, char **argv, cli_opts *o, fm_err *e)
{
    memset(o, 0, sizeof *o);
    o->train = train_defaults();
    o->model = "fmnist.model";
    o->top = 3;
    o->invert = IMAGE_INVERT_AUTO;
    o->split = IDX_TEST;
    o->index = -1;
    o->files = NULL;
    if (argc < 2)
        return fm_fail(e, FM_EINVAL, NULL, "no command given");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        o->command = CLI_HELP;
        if (argc > 2)
            return fm_fail(e, FM_EINVAL, argv[2], "unexpected argument after %s", cmd);
        return FM_OK;
    }
    if (!strcmp(cmd, "--version")) {
        o->command = CLI_VERSION;
        if (argc > 2)
            return fm_fail(e, FM_EINVAL, argv[2], "unexpected argument after --version");
        return FM_OK;
    }
    if (!strcmp(cmd, "train"))
        o->command = CLI_TRAIN;
    else if (!strcmp(cmd, "eval"))
        o->command = CLI_EVAL;
    else if (!strcmp(cmd, "classify"))
        o->command = CLI_CLASSIFY;
    else if (!strcmp(cmd, "export"))
        o->command = CLI_EXPORT;
    else if (!strcmp(cmd, "convert"))
        o->command = CLI_CONVERT;
    else if (cmd[0] == '-')
        return fm_fail(e, FM_EINVAL, cmd, "unknown option (a command comes first)");
    else
        return fm_fail(e, FM_EINVAL, cmd, "unknown command");

    int only_files = 0;
    for (int i = 2; i < argc; i++) {
        char *a = argv[i];
        if (only_files || a[0] != '-' || !strcmp(a, "-")) {
            if (o->command != CLI_CLASSIFY)
                return fm_fail(e, FM_EINVAL, a, "unexpected argument");
            /* Compact the files to the front of their span of argv (the
             * entries overwritten were options already consumed). */
            if (!o->files)
                o->files = argv + i;
            o->files[o->nfiles++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_files = 1;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        int id = -1;
        for (int d = 0; d < O_COUNT; d++)
            if (strlen(defs[d].name) == nlen && !strncmp(defs[d].name, a, nlen)) {
                id = d;
                break;
            }
        if (id < 0 || !(defs[id].commands & B(o->command))) {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(nlen < 60 ? nlen : 60), a);
            return fm_fail(e, FM_EINVAL, name, id < 0 ? "unknown option" : "not an option of %s",
                           cli_command_name(o->command));
        }
        const char *name = defs[id].name, *v = NULL;
        if (defs[id].takes_value) {
            if (eq)
                v = eq + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else
                return fm_fail(e, FM_EINVAL, name, "needs a value");
        } else if (eq) {
            return fm_fail(e, FM_EINVAL, name, "takes no value");
        }
        int rc = apply(o, id, name, v ? v : "", e);
        if (rc)
            return rc;
    }
    if (o->help)
        return FM_OK;
    if (o->preset)
        preset_apply(o);
    if (o->command == CLI_TRAIN) {
        const train_config *t = &o->train;
        if ((t->keep == KEEP_BEST || t->patience) && !t->val)
            return fm_fail(e, FM_EINVAL, t->keep == KEEP_BEST ? "--keep" : "--patience",
                           "needs a validation split: add --val N");
        if (t->warmup > t->epochs)
            return fm_fail(e, FM_EINVAL, "--warmup", "%d epochs is more than --epochs %d",
                           t->warmup, t->epochs);
    }
    if (o->command == CLI_CLASSIFY && o->nfiles == 0)
        return fm_fail(e, FM_EINVAL, NULL, "classify needs at least one IMAGE.png (or - for stdin)");
    if (o->show && o->nfiles > 1 && show_pattern_ds(o->show) != 1)
        return fm_fail(e, FM_EINVAL, "--show",
                       "with %d images the name needs a %%d for the image's number "
                       "(e.g. --show seen-%%d.png)", o->nfiles);
    if (o->ascii && o->json)
        return fm_fail(e, FM_EINVAL, "--ascii", "cannot be combined with --json");
    if (o->command == CLI_EXPORT && o->index < 0)
        return fm_fail(e, FM_EINVAL, "--index", "export needs --index N");
    if (o->command == CLI_CONVERT)
        return convert_check(o, e);
    return FM_OK;
}
