/* cli.h: the command line, parsed without printing or exiting.
 *
 *   fmnist train    [--epochs N=5] [--batch-size N=64] [--lr X=0.003] [--seed N=1]
 *                   [--data DIR] [--model FILE] [--threads N] [--json] [--quiet] [--resume]
 *                   [--dropout P] [--weight-decay W] [--schedule const|cosine|step]
 *                   [--warmup N] [--label-smoothing S] [--ema D] [--val N]
 *                   [--keep last|best] [--patience N] [--augment SPEC]
 *                   [--net mlp|cnn] [--preset best|robust]
 *   fmnist eval     [--data DIR] [--model FILE] [--threads N] [--json]
 *                   [--errors FILE.png] [--confusion FILE.png]
 *   fmnist classify [--model FILE] [--top K=3] [--invert auto|yes|no] [--json]
 *                   [--show FILE.png] [--ascii] IMAGE.png...
 *   fmnist export   [--data DIR] [--split test|train] --index N [-o FILE.png]
 *   fmnist convert  [--model FILE] -o OUT.onnx|OUT.safetensors|OUT.model
 *   fmnist --help | --version ;  fmnist COMMAND --help
 *
 * Options take their value as the next argument or after '='. "--" ends
 * the options. Every value is checked: a malformed or out-of-range value is
 * a usage error (FM_EINVAL) naming the option. */
#ifndef FMNIST_CLI_H
#define FMNIST_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "augment.h"
#include "train.h"

enum cli_command { CLI_NONE, CLI_TRAIN, CLI_EVAL, CLI_CLASSIFY, CLI_EXPORT, CLI_CONVERT, CLI_HELP,
                   CLI_VERSION };

#define CLI_MAX_EPOCHS TRAIN_MAX_EPOCHS
#define CLI_MAX_BATCH TRAIN_MAX_BATCH
#define CLI_MAX_THREADS 256
#define CLI_MAX_LR TRAIN_MAX_LR

/* Bits of cli_opts.given: which training options the command line set. */
enum {
    CLI_GIVEN_EPOCHS = 1 << 0, CLI_GIVEN_BATCH = 1 << 1, CLI_GIVEN_LR = 1 << 2,
    CLI_GIVEN_SEED = 1 << 3, CLI_GIVEN_DROPOUT = 1 << 4, CLI_GIVEN_WD = 1 << 5,
    CLI_GIVEN_SCHEDULE = 1 << 6, CLI_GIVEN_WARMUP = 1 << 7, CLI_GIVEN_SMOOTHING = 1 << 8,
    CLI_GIVEN_EMA = 1 << 9, CLI_GIVEN_VAL = 1 << 10, CLI_GIVEN_KEEP = 1 << 11,
    CLI_GIVEN_PATIENCE = 1 << 12, CLI_GIVEN_AUGMENT = 1 << 13, CLI_GIVEN_NET = 1 << 14
};

typedef struct cli_opts {
    enum cli_command command;
    unsigned given;          /* CLI_GIVEN_* */
    int resume;              /* train --resume */
    int help;                /* COMMAND --help */
    int version;             /* COMMAND --version */
    enum cli_command help_for; /* help COMMAND (CLI_NONE: the overview) */
    train_config train;      /* the recipe, changed by the options given */
    const char *preset;      /* --preset NAME, or NULL */
    const char *data, *model, *output;
    int model_given;         /* --model was given (else eval and classify search) */
    int threads;             /* 0: every CPU the process may use */
    int json, quiet;
    int top;
    int invert;              /* enum image_invert */
    int split;               /* enum idx_split */
    long index;              /* export; -1 when not given */
    char **files;            /* classify's images (points into argv) */
    int nfiles;
    const char *show;        /* classify --show: the input as seen, per cli_show_path */
    int ascii;               /* classify --ascii */
    const char *errors_png;  /* eval --errors */
    const char *confusion_png; /* eval --confusion */
} cli_opts;

/* t with the training options o's command line gave (o->given) set as given:
 * what a resumed run is asked to be, from its checkpoint's options. */
void cli_train_given(const cli_opts *o, train_config *t);

/* The option table: every option once, with what it takes, the commands
 * it belongs to, its default and its help. The parser, --help, the man
 * page and the completions are made from it. */
enum cli_group { CLI_GROUP_RECIPE, CLI_GROUP_FILES, CLI_GROUP_RUN, CLI_GROUP_BEYOND,
                 CLI_GROUP_INFO };
typedef struct cli_option {
    const char *name;     /* "--epochs" */
    char short_name;      /* 'o' for -o, or 0 */
    const char *arg;      /* the value's name ("N", "FILE"); NULL: a flag */
    unsigned commands;    /* bit (1 << cli_command) per command that takes it */
    int group;            /* enum cli_group: where --help lists it */
    const char *complete; /* the values, space-separated; "@file", "@dir"; or NULL */
    const char *deflt;    /* the default as shown, or NULL */
    const char *help;     /* what it does, one paragraph */
} cli_option;
const cli_option *cli_options(int *n);

/* The commands, for help and the man page. */
typedef struct cli_command_doc {
    enum cli_command command;
    const char *name, *args, *summary, *description, *notes; /* notes may be NULL */
} cli_command_doc;
const cli_command_doc *cli_commands(int *n);

/* Parses argv[1..argc). On success fills *o (defaults for what is not
 * given). On a usage error returns FM_EINVAL with the message in e (e->file
 * holds the option at fault) and o is unspecified. */
int cli_parse(int argc, char **argv, cli_opts *o, fm_err *e);

/* Where classify --show PATTERN writes image number index (1, 2, ... in
 * the order given): "%d" in the pattern becomes the number, "%%" a single
 * '%'. cli_parse has already checked the pattern (no other '%' sequence,
 * at most one "%d", and one is required with several images). Returns
 * FM_EINVAL when the result does not fit in cap bytes. */
int cli_show_path(const char *pattern, int index, char *out, size_t cap);

/* The command's name ("train", ...) for messages. */
const char *cli_command_name(enum cli_command c);

/* An option's help text for command c, as its --help and its part of the
 * man page show it: a text made of per-command parts ("export: ...;
 * convert: ...") gives c's part alone; any other text, all of it. */
void cli_help_for(const char *help, enum cli_command c, char *out, size_t cap);

#endif
