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

/* The length of the command name that s starts with as "NAME: ", else 0. */
static size_t part_name(const char *s)
{
    for (int c = CLI_TRAIN; c <= CLI_CONVERT; c++) {
        const char *name = cli_command_name((enum cli_command)c);
        size_t k = strlen(name);
        if (strncmp(s, name, k) == 0 && strncmp(s + k, ": ", 2) == 0)
            return k;
    }
    return 0;
}

void cli_help_for(const char *help, enum cli_command c, char *out, size_t cap)
{
    const char *cmd = cli_command_name(c);
    for (const char *p = part_name(help) ? help : NULL; p; p = strstr(p, "; ")) {
        if (p != help)
            p += 2;
        size_t k = part_name(p);
        if (k != strlen(cmd) || strncmp(p, cmd, k) != 0)
            continue;
        const char *start = p + k + 2, *end = start + strlen(start);
        for (const char *q = start; (q = strstr(q, "; ")); q += 2)
            if (part_name(q + 2)) {
                end = q;
                break;
            }
        snprintf(out, cap, "%.*s", (int)(end - start), start);
        return;
    }
    snprintf(out, cap, "%s", help);
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

/* Which options each command takes: THE table. The parser, every --help
 * (main.c), the man page and the bash and zsh completions (tools/gen_docs.c)
 * are made from it, and tests/docs.sh checks that each shows every option. */
enum {
    O_EPOCHS, O_BATCH, O_LR, O_SEED, O_DATA, O_MODEL, O_THREADS, O_JSON, O_QUIET, O_TOP,
    O_INVERT, O_SPLIT, O_INDEX, O_OUTPUT, O_HELP, O_RESUME, O_DROPOUT, O_WD, O_SCHEDULE,
    O_WARMUP, O_SMOOTHING, O_EMA, O_VAL, O_KEEP, O_PATIENCE, O_PRESET, O_SHOW, O_ASCII,
    O_ERRORS, O_CONFUSION, O_AUGMENT, O_NET, O_VERSION, O_COUNT
};
#define B(c) (1u << (c))
#define ALL (B(CLI_TRAIN) | B(CLI_EVAL) | B(CLI_CLASSIFY) | B(CLI_EXPORT) | B(CLI_CONVERT))
/* The named recipes, each option's value written once: applied by
 * preset_apply, shown by --help and listed in errors from this table.
 * "best" is tuned for the data set (docs/recipes.md), "robust" is it
 * with the convolutional network trained on augmented images, for people's
 * own pictures (docs/pictures.md). X(name, what, base options, its own options, how
 * --help names the base) */
#define PRESET_BEST_OPTIONS                                                                       \
    "--epochs 40 --lr 0.001 --weight-decay 0.05 --dropout 0.2 --schedule cosine "              \
    "--label-smoothing 0.1 --ema 0.999 --val 5000 --keep best"
#define PRESETS(X)                                                                                \
    X("best", "the tuned recipe", "", PRESET_BEST_OPTIONS, "")                                    \
    X("robust", "the recipe for people's own pictures", PRESET_BEST_OPTIONS,                      \
      "--net cnn --epochs 20 --lr 0.005 --dropout 0 --augment default", "best with ")
#define PRESET_NAME(name, what, base, own, shown) " " name
#define PRESET_HELP(name, what, base, own, shown) name ": " what ", " shown own "; "
#define PRESET_ROW(name, what, base, own, shown) {name, base " " own},
#define PRESET_FITS(name, what, base, own, shown)                                                 \
    _Static_assert(sizeof(base " " own) <= PRESET_MAX, "preset_apply's buffer is too small");
enum { PRESET_MAX = 512 };
PRESETS(PRESET_FITS)
static const struct {
    const char *name, *options;
} presets[] = {PRESETS(PRESET_ROW)};

/* The options of preset name, or NULL when there is none of that name. */
static const char *preset_find(const char *name)
{
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (!strcmp(presets[i].name, name))
            return presets[i].options;
    return NULL;
}

static const cli_option defs[O_COUNT] = {
    [O_EPOCHS] = {"--epochs", 0, "N", B(CLI_TRAIN), CLI_GROUP_RECIPE, NULL, "5",
                  "passes over the training set, 1..100000"},
    [O_BATCH] = {"--batch-size", 0, "N", B(CLI_TRAIN), CLI_GROUP_RECIPE, NULL, "64",
                 "images per step, 1..60000"},
    [O_LR] = {"--lr", 0, "X", B(CLI_TRAIN), CLI_GROUP_RECIPE, NULL, "0.003",
              "Adam's learning rate, above 0 and at most 1e6"},
    [O_SEED] = {"--seed", 0, "N", B(CLI_TRAIN), CLI_GROUP_RECIPE, NULL, "1",
                "seed of the initialisation, shuffles, validation split, dropout and "
                "augmentation; the same seed gives the same model file, bit for bit"},
    [O_DATA] = {"--data", 0, "DIR", B(CLI_TRAIN) | B(CLI_EVAL) | B(CLI_EXPORT), CLI_GROUP_FILES,
                "@dir", NULL,
                "where the data set is (default: searched, see fmnist --help)"},
    [O_MODEL] = {"--model", 0, "FILE",
                 B(CLI_TRAIN) | B(CLI_EVAL) | B(CLI_CLASSIFY) | B(CLI_CONVERT),
                 CLI_GROUP_FILES, "@file", NULL,
                 "the model file: train writes it (default ./fmnist.model); eval, "
                 "classify and convert read it (convert: safetensors when FILE ends in "
                 ".safetensors), by default $FMNIST_MODEL when set, else the first of "
                 "./fmnist.model, ${XDG_DATA_HOME:-~/.local/share}/fmnist/fmnist.model and "
                 "the installed one that exists"},
    [O_OUTPUT] = {"--output", 'o', "FILE", B(CLI_EXPORT) | B(CLI_CONVERT), CLI_GROUP_FILES,
                  "@file", NULL,
                  "export: where to write the PNG (default SPLIT-INDEX-CLASS.png; - writes it "
                  "to standard output); convert: the file to write, in the format its name "
                  "ends in: .onnx, .safetensors or .model (required)"},
    [O_THREADS] = {"--threads", 0, "N", B(CLI_TRAIN) | B(CLI_EVAL) | B(CLI_CLASSIFY),
                   CLI_GROUP_RUN, NULL, NULL,
                   "threads to use, 1..256 (default: every CPU available; classify: 1, one "
                   "picture at a time, N: N pictures at a time); results do not depend on it"},
    [O_JSON] = {"--json", 0, NULL, B(CLI_TRAIN) | B(CLI_EVAL) | B(CLI_CLASSIFY), CLI_GROUP_RUN,
                NULL, NULL, "JSON on standard output (train: one object per epoch; eval: one "
                "object; classify: one per picture), nothing else there"},
    [O_QUIET] = {"--quiet", 'q', NULL, ALL, CLI_GROUP_RUN, NULL, NULL,
                 "no progress and no notes: nothing on standard error but errors, and no "
                 "line naming a file written (export, convert); results are still printed"},
    [O_RESUME] = {"--resume", 0, NULL, B(CLI_TRAIN), CLI_GROUP_RUN, NULL, NULL,
                  "continue the run whose checkpoint is FILE.ckpt"},
    [O_DROPOUT] = {"--dropout", 0, "P", B(CLI_TRAIN), CLI_GROUP_BEYOND, NULL, "0",
                   "inverted dropout on the hidden layers in training, 0..0.95"},
    [O_WD] = {"--weight-decay", 0, "W", B(CLI_TRAIN), CLI_GROUP_BEYOND, NULL, "0",
              "decoupled weight decay, as AdamW: p *= 1 - lr*W each step, 0..10"},
    [O_SCHEDULE] = {"--schedule", 0, "S", B(CLI_TRAIN), CLI_GROUP_BEYOND, "const cosine step",
                    "const", "learning rate over the run: const, cosine (down to 0 by the last "
                    "step), step (x0.1 at 1/2, x0.01 at 3/4)"},
    [O_WARMUP] = {"--warmup", 0, "N", B(CLI_TRAIN), CLI_GROUP_BEYOND, NULL, "0",
                  "first N epochs: the rate rises linearly from lr/steps to lr"},
    [O_SMOOTHING] = {"--label-smoothing", 0, "S", B(CLI_TRAIN), CLI_GROUP_BEYOND, NULL, "0",
                     "cross-entropy against targets (1-S) one-hot + S/10, 0..0.5"},
    [O_EMA] = {"--ema", 0, "D", B(CLI_TRAIN), CLI_GROUP_BEYOND, NULL, "0",
               "keep a moving average of the weights (decay D per step, e.g. 0.999); it is "
               "what is evaluated and saved"},
    [O_VAL] = {"--val", 0, "N", B(CLI_TRAIN), CLI_GROUP_BEYOND, NULL, "0",
               "hold out N training images (fixed by the seed) and report validation loss "
               "and accuracy each epoch"},
    [O_KEEP] = {"--keep", 0, "K", B(CLI_TRAIN), CLI_GROUP_BEYOND, "last best", "last",
                "save the best validation epoch's model (best, needs --val) or the last"},
    [O_PATIENCE] = {"--patience", 0, "N", B(CLI_TRAIN), CLI_GROUP_BEYOND, NULL, "0",
                    "stop after N epochs without a better validation accuracy (0: never)"},
    [O_NET] = {"--net", 0, "NET", B(CLI_TRAIN), CLI_GROUP_RECIPE, "mlp cnn", "mlp",
               "the network: mlp, the tutorial's 784-256-128-64-10; cnn, a convolutional "
               "network (two 3x3 convolutions of 16 and 32 channels, each with ReLU and 2x2 "
               "max pooling, then 1568-64-10): better on pictures not from the data set, "
               "about 6 times the work per image"},
    [O_AUGMENT] = {"--augment", 0, "SPEC", B(CLI_TRAIN), CLI_GROUP_BEYOND, "none default",
                   "none",
                   "change the training images at random, so the model knows drawings, "
                   "icons and photos: 'default', 'none', or NAME=X items, e.g. "
                   "default,flip=0 or outline=0.2,rotate=10. drawn=P: a drawing of the "
                   "image's class made from a random sketch instead; clean=P (left as is); "
                   "style (at most one, probabilities summing to at most 1): outline, "
                   "silhouette, flat, posterize; shoes "
                   "(probabilities): pair (two side by side), tilt (turned 15-45 degrees); "
                   "square=P (the short side longer, as icons are drawn); geometry: scale=F "
                   "and squeeze=F (+-F), rotate=DEG, shift=PX, flip=P, fit=P (framed as "
                   "classify frames items); intensity (probabilities): blur, gamma, "
                   "contrast, noise. default is " AUGMENT_DEFAULT_STYLE ","
                   AUGMENT_DEFAULT_GEOMETRY "," AUGMENT_DEFAULT_INTENSITY},
    [O_PRESET] = {"--preset", 0, "NAME", B(CLI_TRAIN), CLI_GROUP_BEYOND,
                  &PRESETS(PRESET_NAME)[1] /* past the first space */, NULL,
                  PRESETS(PRESET_HELP) "options given too win"},
    [O_TOP] = {"--top", 0, "K", B(CLI_CLASSIFY), CLI_GROUP_RUN, NULL, "3",
               "classes to list per picture, 1..10"},
    [O_INVERT] = {"--invert", 0, "MODE", B(CLI_CLASSIFY), CLI_GROUP_RUN, "auto yes no", "auto",
                  "auto: ink is what differs from the background; yes: ink is darkness; no: "
                  "ink is lightness"},
    [O_SHOW] = {"--show", 0, "FILE.png", B(CLI_CLASSIFY), CLI_GROUP_FILES, "@file", NULL,
                "write the 28x28 image the network received, enlarged 10x; with several "
                "pictures FILE needs a %d, replaced by the picture's number (1, 2, ...): "
                "--show seen-%d.png"},
    [O_ASCII] = {"--ascii", 0, NULL, B(CLI_CLASSIFY), CLI_GROUP_RUN, NULL, NULL,
                 "print the image the network received as text"},
    [O_ERRORS] = {"--errors", 0, "FILE.png", B(CLI_EVAL), CLI_GROUP_FILES, "@file", NULL,
                  "a sheet of the misclassified test images, grouped by true class, each "
                  "labelled with the class it was taken for"},
    [O_CONFUSION] = {"--confusion", 0, "FILE.png", B(CLI_EVAL), CLI_GROUP_FILES, "@file", NULL,
                     "the confusion matrix as a heat map, with class names"},
    [O_SPLIT] = {"--split", 0, "S", B(CLI_EXPORT), CLI_GROUP_RUN, "test train", "test",
                 "which part of the data set: test or train"},
    [O_INDEX] = {"--index", 0, "N", B(CLI_EXPORT), CLI_GROUP_RUN, NULL, NULL,
                 "which image, from 0 (required)"},
    [O_HELP] = {"--help", 'h', NULL, ALL, CLI_GROUP_INFO, NULL, NULL, "show this help and exit"},
    [O_VERSION] = {"--version", 0, NULL, ALL, CLI_GROUP_INFO, NULL, NULL,
                   "show the version and exit"},
};

const cli_option *cli_options(int *n)
{
    *n = O_COUNT;
    return defs;
}

static const cli_command_doc commands[] = {
    {CLI_TRAIN, "train", "[OPTIONS]", "train a model on the training set and save it",
     "Trains the network with the tutorial's recipe (Adam, batch 64, reshuffled every epoch) "
     "and saves it. After each epoch prints the training loss and accuracy, the test "
     "accuracy and the seconds taken; progress goes to standard error.",
     "The test set never chooses anything: validation images do. Ctrl-C or SIGTERM stops "
     "after the current step and saves a checkpoint (weights, optimiser state, position, "
     "generator) to FILE.ckpt, exit status 130 or 143; --resume then ends with the model an "
     "uninterrupted run gives. A run that finishes removes FILE.ckpt; --resume refuses a "
     "checkpoint older than FILE."},
    {CLI_EVAL, "eval", "[OPTIONS]", "accuracy of a model on the 10,000 test images",
     "Evaluates a model on the 10,000 test images: accuracy with its standard error, mean "
     "loss, per-class precision and recall, confusion matrix.", NULL},
    {CLI_CLASSIFY, "classify", "[OPTIONS] PICTURE...", "classify pictures of clothing",
     "Classifies pictures (PNG: gray, colour, palette, alpha, 8 or 16 bits, interlaced, "
     "up to 1,000,000 pixels a side; JPEG; up to 50 megapixels; - reads standard input). Each is turned into what the "
     "network saw in training: the item (what differs from the border's colour, and what "
     "it encloses; on a tile, what the tile holds) cropped, scaled to fill 28x28 along its longest side, centred, light on "
     "black. For drawings and photos of your own, use a model trained with --preset robust.",
     NULL},
    {CLI_EXPORT, "export", "[OPTIONS] --index N", "write a data set image as a PNG",
     "Writes image N of the data set as a 28x28 gray PNG, to try classify on.", NULL},
    {CLI_CONVERT, "convert", "[OPTIONS] -o OUT", "write a model as ONNX or safetensors",
     "Writes the model in the format OUT's name ends in: ONNX (opset 13; input pixels, "
     "N x 784 floats 0..255, each row a 28x28 gray picture, light item on black, "
     "normalised in the graph; output log_probs, N x 10 log-probabilities), safetensors "
     "(the network's PyTorch state_dict in F32: fc1.weight to fc4.bias, or conv1.weight "
     "to fc2.bias for --net cnn; with the model's metadata) or an fmnist model file. The "
     "model read may be safetensors.",
     "OUT is replaced only when all went well."},
};

const cli_command_doc *cli_commands(int *n)
{
    *n = (int)(sizeof commands / sizeof *commands);
    return commands;
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

/* The training options that are numbers, each checked by
 * train_option_value, as the model file's metadata is. */
static int apply_number(cli_opts *o, int id, const char *name, const char *v, fm_err *e)
{
    static const struct { int id; const char *key; unsigned given; } nums[] = {
        {O_EPOCHS, "epochs", CLI_GIVEN_EPOCHS}, {O_BATCH, "batch_size", CLI_GIVEN_BATCH},
        {O_LR, "lr", CLI_GIVEN_LR}, {O_DROPOUT, "dropout", CLI_GIVEN_DROPOUT},
        {O_WD, "weight_decay", CLI_GIVEN_WD}, {O_SMOOTHING, "label_smoothing", CLI_GIVEN_SMOOTHING},
        {O_EMA, "ema", CLI_GIVEN_EMA}, {O_WARMUP, "warmup", CLI_GIVEN_WARMUP},
        {O_PATIENCE, "patience", CLI_GIVEN_PATIENCE}, {O_VAL, "val", CLI_GIVEN_VAL},
    };
    train_config *t = &o->train;
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        if (nums[i].id != id)
            continue;
        double x;
        o->given |= nums[i].given;
        int rc = train_option_value(nums[i].key, v, &x, e);
        if (rc)
            return fm_in_file(e, rc, name);
        switch (id) {
        case O_EPOCHS: t->epochs = (int)x; break;
        case O_BATCH: t->batch_size = (int)x; break;
        case O_LR: t->lr = x; break;
        case O_DROPOUT: t->dropout = x; break;
        case O_WD: t->weight_decay = x; break;
        case O_SMOOTHING: t->label_smoothing = x; break;
        case O_EMA: t->ema = x; break;
        case O_WARMUP: t->warmup = (int)x; break;
        case O_PATIENCE: t->patience = (int)x; break;
        default: t->val = (uint32_t)x; break;
        }
        return FM_OK;
    }
    return fm_fail(e, FM_EINVAL, name, "unknown option");
}

void cli_train_given(const cli_opts *o, train_config *t)
{
    const train_config *g = &o->train;
    unsigned b = o->given;
    if (b & CLI_GIVEN_EPOCHS) t->epochs = g->epochs;
    if (b & CLI_GIVEN_BATCH) t->batch_size = g->batch_size;
    if (b & CLI_GIVEN_LR) t->lr = g->lr;
    if (b & CLI_GIVEN_SEED) t->seed = g->seed;
    if (b & CLI_GIVEN_DROPOUT) t->dropout = g->dropout;
    if (b & CLI_GIVEN_WD) t->weight_decay = g->weight_decay;
    if (b & CLI_GIVEN_SCHEDULE) t->schedule = g->schedule;
    if (b & CLI_GIVEN_WARMUP) t->warmup = g->warmup;
    if (b & CLI_GIVEN_SMOOTHING) t->label_smoothing = g->label_smoothing;
    if (b & CLI_GIVEN_EMA) t->ema = g->ema;
    if (b & CLI_GIVEN_VAL) t->val = g->val;
    if (b & CLI_GIVEN_KEEP) t->keep = g->keep;
    if (b & CLI_GIVEN_PATIENCE) t->patience = g->patience;
    if (b & CLI_GIVEN_AUGMENT) t->augment = g->augment;
    if (b & CLI_GIVEN_NET) t->net = g->net;
}

/* The options whose value is one word of a list, the list being the
 * option's completions in THE table; each enum counts in the list's order. */
_Static_assert(SCHEDULE_CONST == 0 && SCHEDULE_COSINE == 1 && SCHEDULE_STEP == 2,
               "--schedule's words are const cosine step");
_Static_assert(KEEP_LAST == 0 && KEEP_BEST == 1, "--keep's words are last best");
_Static_assert(NET_MLP == 0 && NET_CNN == 1, "--net's words are mlp cnn");
_Static_assert(IMAGE_INVERT_AUTO == 0 && IMAGE_INVERT_YES == 1 && IMAGE_INVERT_NO == 2,
               "--invert's words are auto yes no");
static int apply_choice(cli_opts *o, int id, const char *name, const char *v, fm_err *e)
{
    const char *p = defs[id].complete;
    char list[64] = "";
    size_t at = 0, n = strlen(v);
    for (int i = 0; *p; i++) {
        size_t len = strcspn(p, " ");
        if (len == n && !strncmp(p, v, n)) {
            switch (id) {
            case O_SCHEDULE: o->given |= CLI_GIVEN_SCHEDULE; o->train.schedule = i; break;
            case O_KEEP: o->given |= CLI_GIVEN_KEEP; o->train.keep = i; break;
            case O_NET: o->given |= CLI_GIVEN_NET; o->train.net = i; break;
            case O_INVERT: o->invert = i; break;
            default: o->split = i ? IDX_TRAIN : IDX_TEST; break; /* test train */
            }
            return FM_OK;
        }
        int k = snprintf(list + at, sizeof list - at, "%s%.*s", i ? ", " : "", (int)len, p);
        at = k < 0 || (size_t)k >= sizeof list - at ? sizeof list - 1 : at + (size_t)k;
        p += len + (p[len] == ' ');
    }
    return fm_fail(e, FM_EINVAL, name, "'%s' is not one of %s", v, list);
}

/* The options whose value is a path: never empty. */
static int apply_path(cli_opts *o, int id, const char *name, const char *v, fm_err *e)
{
    if (!*v)
        return fm_fail(e, FM_EINVAL, name, "needs a non-empty path");
    switch (id) {
    case O_DATA: o->data = v; break;
    case O_MODEL: o->model = v, o->model_given = 1; break;
    case O_OUTPUT: o->output = v; break;
    case O_ERRORS: o->errors_png = v; break;
    case O_CONFUSION: o->confusion_png = v; break;
    default: {
        int ds = show_pattern_ds(v);
        if (ds < 0 || ds > 1)
            return fm_fail(e, FM_EINVAL, name,
                           "'%s': the only '%%' sequences allowed are one %%d (the image's "
                           "number) and %%%%", v);
        o->show = v;
        break;
    }
    }
    return FM_OK;
}

static int apply(cli_opts *o, int id, const char *name, const char *v, fm_err *e)
{
    switch (id) {
    case O_EPOCHS: case O_BATCH: case O_LR: case O_DROPOUT: case O_WD: case O_SMOOTHING:
    case O_EMA: case O_WARMUP: case O_PATIENCE: case O_VAL:
        return apply_number(o, id, name, v, e);
    case O_SCHEDULE: case O_KEEP: case O_NET: case O_INVERT: case O_SPLIT:
        return apply_choice(o, id, name, v, e);
    case O_DATA: case O_MODEL: case O_OUTPUT: case O_SHOW: case O_ERRORS: case O_CONFUSION:
        return apply_path(o, id, name, v, e);
    case O_SEED:
        o->given |= CLI_GIVEN_SEED;
        return fm_in_file(e, train_seed_value(v, &o->train.seed, e), name);
    case O_RESUME: o->resume = 1; return FM_OK;
    case O_AUGMENT:
        o->given |= CLI_GIVEN_AUGMENT;
        return augment_parse(v, &o->train.augment, e);
    case O_PRESET:
        if (!preset_find(v)) {
            char names[128] = "";
            for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         i ? ", " : "", presets[i].name);
            return fm_fail(e, FM_EINVAL, name, "'%s' is not a preset (presets: %s)", v, names);
        }
        o->preset = v;
        return FM_OK;
    case O_THREADS: return parse_int(name, v, 1, CLI_MAX_THREADS, &o->threads, e);
    case O_TOP: return parse_int(name, v, 1, IDX_CLASSES, &o->top, e);
    case O_INDEX: return parse_long(name, v, 0, (long)IDX_MAX_COUNT - 1, &o->index, e);
    case O_ASCII: o->ascii = 1; return FM_OK;
    case O_JSON: o->json = 1; return FM_OK;
    case O_QUIET: o->quiet = 1; return FM_OK;
    case O_HELP: o->help = 1; return FM_OK;
    case O_VERSION: o->version = 1; return FM_OK;
    }
    return fm_fail(e, FM_EINVAL, name, "unknown option");
}

/* Levenshtein distance of a[0..n) and b, capped at 9. */
static int distance(const char *a, size_t n, const char *b)
{
    size_t m = strlen(b);
    if (n > 40 || m > 40)
        return 9;
    int row[41];
    for (size_t j = 0; j <= m; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            diag = up;
            row[j] = best;
        }
    }
    return row[m] < 9 ? row[m] : 9;
}

/* The option of cmd closest to the unknown a[0..n): one it begins (a
 * prefix: refused, but named) or within 2 edits; NULL when none. */
static const char *closest(enum cli_command cmd, const char *a, size_t n)
{
    const char *best = NULL;
    int bd = 3;
    for (int d = 0; d < O_COUNT; d++) {
        if (!(defs[d].commands & B(cmd)))
            continue;
        int dist = n >= 3 && !strncmp(defs[d].name, a, n) ? 0 : distance(a, n, defs[d].name);
        if (dist < bd) {
            bd = dist;
            best = defs[d].name;
        }
    }
    return best;
}

/* Which option a (an argument starting with '-') is, or a usage error. */
static int find_option(const cli_opts *o, const char *a, size_t nlen, int *id, fm_err *e)
{
    for (int d = 0; d < O_COUNT; d++) {
        int match = nlen == 2 && a[1] == defs[d].short_name && defs[d].short_name;
        match |= strlen(defs[d].name) == nlen && !strncmp(defs[d].name, a, nlen);
        if (!match)
            continue;
        if (!(defs[d].commands & B(o->command)))
            return fm_fail(e, FM_EINVAL, defs[d].name, "not an option of %s",
                           cli_command_name(o->command));
        *id = d;
        return FM_OK;
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(nlen < 60 ? nlen : 60), a);
    const char *near = closest(o->command, a, nlen);
    if (near)
        return fm_fail(e, FM_EINVAL, name, "unknown option; did you mean %s?", near);
    return fm_fail(e, FM_EINVAL, name, "unknown option");
}

static const struct { const char *name; enum cli_command cmd; } command_names[] = {
    {"train", CLI_TRAIN}, {"eval", CLI_EVAL}, {"classify", CLI_CLASSIFY}, {"export", CLI_EXPORT},
    {"convert", CLI_CONVERT},
};

static int command_of(const char *s, enum cli_command *out)
{
    for (size_t i = 0; i < sizeof command_names / sizeof *command_names; i++)
        if (!strcmp(s, command_names[i].name)) {
            *out = command_names[i].cmd;
            return 1;
        }
    return 0;
}

/* argv[1]: a command, help [COMMAND], --help or --version. Returns 1 when
 * nothing follows to parse (*rc holds the result). */
static int parse_command(int argc, char **argv, cli_opts *o, int *rc, fm_err *e)
{
    const char *cmd = argv[1];
    *rc = FM_OK;
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        o->command = CLI_HELP;
        int named = argc > 2 && !strcmp(cmd, "help") && command_of(argv[2], &o->help_for);
        if (named && argc > 3)
            *rc = fm_fail(e, FM_EINVAL, argv[3], "unexpected argument after 'help %s'", argv[2]);
        else if (argc > 2 && !named)
            *rc = fm_fail(e, FM_EINVAL, argv[2], "%s", !strcmp(cmd, "help")
                          ? "not a command (train, eval, classify, export, convert)"
                          : "unexpected argument after --help");
        return 1;
    }
    if (!strcmp(cmd, "--version")) {
        o->command = CLI_VERSION;
        if (argc > 2)
            *rc = fm_fail(e, FM_EINVAL, argv[2], "unexpected argument after --version");
        return 1;
    }
    if (command_of(cmd, &o->command))
        return 0;
    if (cmd[0] == '-')
        *rc = fm_fail(e, FM_EINVAL, cmd, "unknown option (a command comes first)");
    else
        *rc = fm_fail(e, FM_EINVAL, cmd, "unknown command (train, eval, classify, export, convert)");
    return 1;
}

/* Short options at argv[*i], grouped as getopt takes them: -q, -qh, -o
 * FILE, -oFILE, -qo FILE, -qoFILE (a value runs to the word's end, or is
 * the next word, moving *i). */
static int parse_short(int argc, char **argv, int *i, cli_opts *o, fm_err *e)
{
    for (const char *p = argv[*i] + 1; *p; p++) {
        const char flag[3] = {'-', *p, 0};
        int id = -1, rc;
        if ((rc = find_option(o, flag, 2, &id, e)))
            return rc;
        if (!defs[id].arg) {
            if ((rc = apply(o, id, defs[id].name, "", e)))
                return rc;
            continue;
        }
        const char *v = p[1] ? p + 1 : *i + 1 < argc ? argv[++*i] : NULL;
        if (!v)
            return fm_fail(e, FM_EINVAL, defs[id].name, "needs a value");
        return apply(o, id, defs[id].name, v, e);
    }
    return FM_OK;
}

/* One option at argv[*i] (its value may be argv[*i + 1], moving *i). */
static int parse_option(int argc, char **argv, int *i, cli_opts *o, fm_err *e)
{
    const char *a = argv[*i], *v = NULL;
    if (a[1] != '-')
        return parse_short(argc, argv, i, o, e);
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    int id = -1, rc;
    if ((rc = find_option(o, a, nlen, &id, e)))
        return rc;
    const char *name = defs[id].name;
    if (defs[id].arg) {
        if (eq)
            v = eq + 1;
        else if (a[nlen])
            v = a + nlen;
        else if (*i + 1 < argc)
            v = argv[++*i];
        else
            return fm_fail(e, FM_EINVAL, name, "needs a value");
    } else if (eq || a[nlen]) {
        return fm_fail(e, FM_EINVAL, name, "takes no value");
    }
    return apply(o, id, name, v ? v : "", e);
}

/* Applies preset name's options to o, as if given before all others
 * (and so not counted as given: what the command line gives wins). */
static int preset_apply(const char *name, cli_opts *o, fm_err *e)
{
    char buf[PRESET_MAX], *words[PRESET_MAX / 2];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", preset_find(name));
    for (char *p = buf; *p;) { /* "--option value ..." split at spaces */
        while (*p == ' ')
            *p++ = '\0';
        if (*p)
            words[n++] = p;
        while (*p && *p != ' ')
            p++;
    }
    for (int i = 0; i < n; i++) {
        int id = -1, rc;
        if ((rc = find_option(o, words[i], strlen(words[i]), &id, e)))
            return rc;
        const char *v = defs[id].arg && i + 1 < n ? words[++i] : "";
        if ((rc = apply(o, id, defs[id].name, v, e)))
            return rc;
    }
    o->given = 0;
    return FM_OK;
}

/* The options and pictures of argv[2..] into o; the pictures are kept (in
 * argv, moved to the front of their span) only when keep_files. */
static int parse_args(int argc, char **argv, cli_opts *o, int keep_files, fm_err *e)
{
    int only_files = 0, rc;
    for (int i = 2; i < argc; i++) {
        char *a = argv[i];
        if (only_files || a[0] != '-' || !strcmp(a, "-")) {
            if (o->command != CLI_CLASSIFY)
                return fm_fail(e, FM_EINVAL, a, "unexpected argument");
            /* The entries overwritten were options already consumed. */
            if (keep_files && !o->files)
                o->files = argv + i;
            if (keep_files)
                o->files[o->nfiles++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_files = 1;
            continue;
        }
        if ((rc = parse_option(argc, argv, &i, o, e)))
            return rc;
    }
    return FM_OK;
}

/* convert: -o names the output format; the input is a model file or
 * safetensors. */
static int convert_check(const cli_opts *o, fm_err *e)
{
    if (!o->output)
        return fm_fail(e, FM_EINVAL, "--output", "convert needs -o OUT (ending in %s)",
                       CONVERT_EXTENSIONS);
    if (convert_format_of(o->output) == CONVERT_UNKNOWN) {
        /* ".onnx" alone: the extension, but no name before it */
        const char *base = strrchr(o->output, '/') ? strrchr(o->output, '/') + 1 : o->output;
        char named[4096];
        int bare = snprintf(named, sizeof named, "x%s", base) < (int)sizeof named &&
                   convert_format_of(named) != CONVERT_UNKNOWN;
        return fm_fail(e, FM_EINVAL, "--output", "'%s': the name must end in %s%s", o->output,
                       CONVERT_EXTENSIONS, bare ? ", after a name" : "");
    }
    if (o->model && convert_format_of(o->model) == CONVERT_ONNX)
        return fm_fail(e, FM_EINVAL, "--model",
                       "'%s': convert reads fmnist model files and .safetensors, not ONNX",
                       o->model);
    return FM_OK;
}

/* Combinations the options alone cannot judge. */
static int check_combination(cli_opts *o, fm_err *e)
{
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
        return fm_fail(e, FM_EINVAL, NULL,
                       "classify needs at least one PICTURE (a PNG or JPEG, or - for stdin)");
    for (int i = 0, stdin_seen = 0; i < o->nfiles; i++)
        if (!strcmp(o->files[i], "-") && stdin_seen++)
            return fm_fail(e, FM_EINVAL, "-", "standard input given twice (it holds one picture)");
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
    int rc;
    if (parse_command(argc, argv, o, &rc, e))
        return rc;
    /* A first look for --preset, whose options go in before all others,
     * and for --help and --version: as getopt's, they win over a mistake
     * that comes after them (train --help --epochs 0 shows the help). */
    cli_opts look = *o;
    int bad = parse_args(argc, argv, &look, 0, NULL);
    if (look.help || look.version) {
        *o = look;
        return FM_OK;
    }
    if (!bad && look.preset && (rc = preset_apply(look.preset, o, e)))
        return rc;
    if ((rc = parse_args(argc, argv, o, 1, e)))
        return rc;
    if (o->help || o->version)
        return FM_OK;
    return check_combination(o, e);
}
