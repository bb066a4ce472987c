/* main.c: the fmnist command line. The only file that prints or exits. */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "augment.h"
#include "budget.h"
#include "clock.h"
#include "cli.h"
#include "convert.h"
#include "crc32.h"
#include "eval.h"
#include "fileio.h"
#include "fmnist.h"
#include "idx.h"
#include "image.h"
#include "kernels.h"
#include "mlp.h"
#include "meta.h"
#include "model_file.h"
#include "picture.h"
#include "plot.h"
#include "pool.h"
#include "prep.h"
#include "progress.h"
#include "rng.h"
#include "train.h"
#include "version.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* An option value that the data or the checkpoint show to be wrong (or
 * options that clash): after its one-line error, the line every usage
 * error ends with. Returns EXIT_USAGE. */
static int usage_hint(enum cli_command c)
{
    if (c >= CLI_TRAIN && c <= CLI_CONVERT)
        fprintf(stderr, "Try 'fmnist %s --help'.\n", cli_command_name(c));
    else
        fprintf(stderr, "Try 'fmnist --help'.\n");
    return EXIT_USAGE;
}
/* The version of every JSON object's keys ("format"; docs/json.md). */
enum { JSON_FORMAT = 1 };

/* ---- help, made from the option table (cli.h) ---- */

/* Prints text wrapped at 79 columns, every line after the first indented
 * by indent (the first continues at column col). A word longer than a line
 * (augment's default, a,b,c,...) is broken after its commas. */
static void wrap(const char *text, int col, int indent)
{
    const char *p = text;
    int glued = 0; /* p continues the word before it, a piece of a long one */
    while (*p) {
        const char *sp = strchr(p, ' ');
        int len = sp ? (int)(sp - p) : (int)strlen(p);
        const char *comma = glued || len > 79 - indent ? memchr(p, ',', (size_t)len - 1) : NULL;
        if (comma)
            len = (int)(comma - p) + 1;
        int sep = col > indent && !glued;
        if (col > indent && col + sep + len > 79) {
            printf("\n%*s", indent, "");
            col = indent;
        } else if (sep) {
            putchar(' ');
            col++;
        }
        printf("%.*s", len, p);
        col += len;
        p += len;
        glued = *p && *p != ' ';
        while (*p == ' ')
            p++;
    }
    putchar('\n');
}

static void help_option(const cli_option *op, enum cli_command c)
{
    char head[64];
    int n = snprintf(head, sizeof head, "  %s%s%s%s%s", op->short_name ? "-" : "",
                     op->short_name ? (char[2]){op->short_name, 0} : "",
                     op->short_name ? ", " : "", op->name, "");
    if (op->arg)
        n += snprintf(head + n, sizeof head - (size_t)n, " %s", op->arg);
    char help[1024], text[sizeof help + 256];
    cli_help_for(op->help, c, help, sizeof help);
    snprintf(text, sizeof text, "%s%s%s%s", help, op->deflt ? " (default " : "",
             op->deflt ? op->deflt : "", op->deflt ? ")" : "");
    if (n >= 20) {
        printf("%s\n%*s", head, 20, "");
        wrap(text, 20, 20);
    } else {
        printf("%-20s", head);
        wrap(text, 20, 20);
    }
}

static void help_command(enum cli_command c)
{
    static const char *const groups[] = {
        "the recipe", "files", "running",
        ("beyond the recipe (all off by default; the model file records them)"), "information"};
    int nc, no;
    const cli_command_doc *cd = cli_commands(&nc), *d = NULL;
    const cli_option *ops = cli_options(&no);
    for (int i = 0; i < nc; i++)
        if (cd[i].command == c)
            d = &cd[i];
    printf("usage: fmnist %s %s\n\n", d->name, d->args);
    wrap(d->description, 0, 0);
    for (int g = CLI_GROUP_RECIPE; g <= CLI_GROUP_INFO; g++) {
        int first = 1;
        for (int k = 0; k < no; k++) {
            if (ops[k].group != g || !(ops[k].commands & (1u << c)))
                continue;
            if (first)
                printf("\n%c%s:\n", groups[g][0] - 'a' + 'A', groups[g] + 1);
            first = 0;
            help_option(&ops[k], c);
        }
    }
    if (d->notes) {
        putchar('\n');
        wrap(d->notes, 0, 0);
    }
}

static void help_main(void)
{
    int nc;
    const cli_command_doc *cd = cli_commands(&nc);
    printf("usage: fmnist COMMAND [OPTIONS]\n\n"
           "Trains a neural network on Fashion-MNIST and classifies clothing.\n\n"
           "commands:\n");
    for (int i = 0; i < nc; i++)
        printf("  %-10s %s\n", cd[i].name, cd[i].summary);
    printf("\n  fmnist COMMAND --help   options of a command (or: fmnist help COMMAND)\n"
           "  fmnist --version        version and build\n\n");
    wrap("The data set is found in --data DIR, else $FMNIST_DATA, else ./data, else "
         "/usr/share/datasets/fashion-mnist (Debian: apt-get install dataset-fashion-mnist), "
         "else ~/.pytorch/F_MNIST_data/FashionMNIST/raw; files raw or .gz. train takes the "
         "test files from the folder of the training files.", 0, 0);
}

static int report(const fm_err *e)
{
    if (e->file[0])
        fprintf(stderr, "fmnist: %s: %s\n", e->file, e->msg);
    else
        fprintf(stderr, "fmnist: %s\n", e->msg);
    return EXIT_FAIL;
}

/* The data set could not be found: say where we looked and how to get it. */
static int report_data(const fm_err *e)
{
    report(e);
    if (e->code == FM_ENOTFOUND)
        fprintf(stderr, "HINT: install it with 'sudo apt-get install dataset-fashion-mnist',\n"
                        "      or pass --data DIR with the four files (raw or .gz)\n");
    return EXIT_FAIL;
}

/* A name (a file, an option value) as normal output shows it: control
 * characters as '?', the same as in error messages, so a name can neither
 * colour the terminal nor forge a line. Four buffers in turn, so one printf
 * can show up to four names. */
static const char *shown(const char *name)
{
    static char buf[4][4200];
    static unsigned next;
    char *b = buf[next++ % 4];
    fm_printable(b, sizeof buf[0], name);
    return b;
}

/* name as shown(), and quoted for a POSIX shell when it holds anything
 * but letters, digits and _./:@%+=,- or starts with = (' as '\''), for
 * commands in hints that are meant to be pasted. */
static const char *shell_word(const char *name)
{
    static char buf[2][4 * 4200 + 3];
    static unsigned next;
    char *b = buf[next++ % 2];
    const char *p = shown(name);
    size_t plain = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                             "0123456789_./:@%+=,-");
    if (*p && !p[plain] && *p != '=') /* zsh expands a word's leading = */
        return p;
    size_t j = 0;
    b[j++] = '\'';
    for (; *p; p++) {
        if (*p == '\'') {
            memcpy(b + j, "'\\''", 4);
            j += 4;
        } else {
            b[j++] = *p;
        }
    }
    b[j++] = '\'';
    b[j] = 0;
    return b;
}

/* The length of the valid UTF-8 sequence at s (1..4), or 0 when it is not
 * one: overlong forms, surrogates and code points past U+10FFFF are not. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || (n == 2 && c < 0xc2))
        return n == 1;
    unsigned cp = c & (0x7fu >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string, valid UTF-8 whatever the bytes: control characters
 * escaped, and each byte that is not part of valid UTF-8 written as
 * U+FFFD. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
        } else if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p++);
        } else if (*p < 0x20 || *p == 0x7f || (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
            fprintf(f, "\\u%04x", n == 1 ? *p : p[1]);
            p += n;
        } else {
            fwrite(p, 1, (size_t)n, f);
            p += n;
        }
    }
    fputc('"', f);
}

/* A number in JSON: NaN and infinities, which JSON has not, as null. */
static void json_num(FILE *f, const char *fmt, double x)
{
    if (isfinite(x))
        fprintf(f, fmt, x);
    else
        fputs("null", f);
}

typedef struct runtime {
    pool *pool;
    const kernel_impl *kernel;
} runtime;

static int runtime_open(runtime *rt, int threads, int ftz)
{
    fm_err e;
    const char *name = getenv("FMNIST_KERNEL");
    rt->kernel = kernel_find(name && *name ? name : NULL);
    if (!rt->kernel) {
        fprintf(stderr, "fmnist: FMNIST_KERNEL=%s: unknown or not supported by this CPU\n",
                shown(name));
        return EXIT_USAGE;
    }
    int n = threads > 0 ? threads : pool_cpu_count();
    if (pool_create(&rt->pool, n, ftz, &e))
        return report(&e);
    if (pool_size(rt->pool) < n)
        fprintf(stderr, "fmnist: could start only %d of %d threads (a process limit?); "
                        "going on with %d: the results are the same\n",
                pool_size(rt->pool), n, pool_size(rt->pool));
    return EXIT_OK;
}

static void runtime_close(runtime *rt)
{
    pool_free(rt->pool);
    rt->pool = NULL;
}

/* The two files a split was read from. */
typedef struct data_files {
    char images[4096], labels[4096];
} data_files;

/* Where a split's two files are (--data, $FMNIST_DATA, the usual places);
 * an exit status. */
static int locate_split(const cli_opts *o, enum idx_split split, data_files *f)
{
    fm_err e;
    if (idx_locate(o->data, getenv("FMNIST_DATA"), getenv("HOME"), split, f->images, f->labels,
                   sizeof f->images, &e))
        return report_data(&e);
    return EXIT_OK;
}

static int load_split(const cli_opts *o, enum idx_split split, idx_set *out, data_files *where)
{
    data_files f;
    fm_err e;
    int rc = locate_split(o, split, &f);
    if (rc)
        return rc;
    if (idx_load(f.images, f.labels, out, &e))
        return report(&e);
    if (where)
        *where = f;
    return EXIT_OK;
}

/* The test split, read by a second thread while the first reads the
 * training split: decompressing the test images costs as long again as a
 * training epoch's evaluation, and the second CPU is idle meanwhile. */
typedef struct split_job {
    data_files f;
    idx_set set;
    fm_err e;
    int rc;
} split_job;

static void *load_split_job(void *arg)
{
    split_job *j = arg;
    j->rc = idx_load(j->f.images, j->f.labels, &j->set, &j->e);
    return NULL;
}

/* The test split, from the folder the training split was found in: the
 * four files come from one folder, never a training set from one and a
 * test set from another place of the search. */
static int test_split_beside(const data_files *train, data_files *test)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", train->images);
    fm_err e;
    if (idx_locate(dirname(dir), NULL, NULL, IDX_TEST, test->images, test->labels,
                   sizeof test->images, &e) == FM_OK)
        return EXIT_OK;
    if (e.code != FM_ENOTFOUND)
        return report_data(&e);
    snprintf(dir, sizeof dir, "%s", train->images);
    fprintf(stderr, "fmnist: %s: has the training split but not the test split (%s and %s, "
                    "raw or .gz)\n"
                    "HINT: train takes all four files from one folder: put the test files "
                    "beside the others, or pass --data DIR\n",
            shown(dirname(dir)), idx_images_name(IDX_TEST), idx_labels_name(IDX_TEST));
    return EXIT_FAIL;
}

/* Both splits, located first (a missing file is reported before anything
 * is read), then read at once; the training split's error comes first. */
static int load_splits(const cli_opts *o, idx_set *train, idx_set *test, data_files where[2])
{
    split_job j[2];
    memset(j, 0, sizeof j);
    int rc;
    if ((rc = locate_split(o, IDX_TRAIN, &j[0].f)) || (rc = test_split_beside(&j[0].f, &j[1].f)))
        return rc;
    pthread_t t;
    int threaded = pthread_create(&t, NULL, load_split_job, &j[1]) == 0;
    load_split_job(&j[0]);
    if (threaded)
        pthread_join(t, NULL);
    else
        load_split_job(&j[1]);
    int bad = j[0].rc ? 0 : j[1].rc ? 1 : -1;
    if (bad >= 0) {
        idx_free(&j[0].set);
        idx_free(&j[1].set);
        return report(&j[bad].e);
    }
    *train = j[0].set;
    *test = j[1].set;
    where[0] = j[0].f;
    where[1] = j[1].f;
    return EXIT_OK;
}

/* The file a path names (path "-": standard input); 0 when there is none. */
static int file_id(const char *path, struct stat *st)
{
    return (strcmp(path, "-") == 0 ? fstat(STDIN_FILENO, st) : stat(path, st)) == 0;
}

/* An output must not be one of the command's inputs (nor, through a link,
 * the same file): writing it would destroy what is being read. out NULL is
 * standard output, when it is a regular file (fmnist eval >> fmnist.model
 * would append to the model). n inputs; NULL entries are skipped. Returns
 * an exit status. */
static int check_output(const char *out, const char *const *in, int n)
{
    struct stat so, si;
    if (out ? stat(out, &so) != 0 /* an output "-" is a file of that name */
            : fstat(STDOUT_FILENO, &so) != 0 || !S_ISREG(so.st_mode))
        return EXIT_OK;
    for (int i = 0; i < n; i++)
        if (in[i] && file_id(in[i], &si) && so.st_dev == si.st_dev && so.st_ino == si.st_ino) {
            fprintf(stderr, "fmnist: %s: is the same file as the input %s; not %s it\n",
                    out ? shown(out) : "<stdout>", strcmp(in[i], "-") ? shown(in[i]) : "<stdin>",
                    out ? "overwriting" : "writing to");
            return EXIT_FAIL;
        }
    return EXIT_OK;
}

/* ---- train ---- */

typedef struct progress {
    int tty, quiet, json;
    double last_draw;
    double start, done_at_start; /* the first step's time and the run's fraction done */
    long steps, stop_after; /* FMNIST_STOP_AFTER_STEP: a test raises SIGINT there */
} progress;

/* The terminal's width: of standard error, else $COLUMNS, else 80. */
static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int n = c ? atoi(c) : 0;
    return n > 0 && n < 10000 ? n : 80;
}

static void on_step(void *ctx, const train_status *s)
{
    progress *pr = ctx;
    if (++pr->steps == pr->stop_after)
        raise(SIGINT);
    double t = clock_seconds();
    progress_status ps = {s->epoch, s->epochs, s->step, s->steps, s->loss,
                          s->seconds > 0 ? (double)s->images / s->seconds : 0, 0, 0};
    if (pr->start == 0) { /* the first step: where this run (perhaps resumed) began */
        pr->start = t;
        ps.step--;
        pr->done_at_start = progress_fraction(&ps);
        ps.step++;
    }
    if (pr->quiet || !pr->tty)
        return;
    if (s->step != s->steps && t - pr->last_draw < 0.1)
        return;
    pr->last_draw = t;
    ps.elapsed = t - pr->start;
    ps.done_at_start = pr->done_at_start;
    char line[512];
    progress_line(line, sizeof line, terminal_width(), &ps);
    /* Cleared first, back to the line's start after: what a pipe (fmnist
     * train | tee log) writes onto the same terminal starts at column 0. */
    fprintf(stderr, "\r\033[K%s\r", line);
    fflush(stderr);
}

static void on_epoch(void *ctx, const train_status *s)
{
    progress *pr = ctx;
    if (!pr->quiet) {
        if (pr->tty)
            fprintf(stderr, "\r\033[K");
        else
            fprintf(stderr, "epoch %d/%d: %ld steps, %.0f images/s\n", s->epoch, s->epochs,
                    s->steps, s->seconds > 0 ? (double)s->images / s->seconds : 0.0);
        fflush(stderr);
    }
    if (pr->json) {
        printf("{\"format\":%d,\"epoch\":%d,\"train_loss\":%.6f,\"train_accuracy\":%.6f,",
               JSON_FORMAT, s->epoch, s->loss, s->accuracy);
        if (s->val_accuracy >= 0) {
            printf("\"val_loss\":");
            json_num(stdout, "%.6f", s->val_loss);
            printf(",\"val_accuracy\":%.6f,\"best\":%s,", s->val_accuracy,
                   s->best ? "true" : "false");
        }
        printf("\"test_accuracy\":%.6f,\"test_loss\":", s->test_accuracy);
        json_num(stdout, "%.6f", s->test_loss);
        printf(",\"lr\":%.6g,\"seconds\":%.3f,\"train_seconds\":%.3f}\n", s->lr, s->seconds,
               s->train_seconds);
    } else {
        printf("epoch %d/%d  train loss %.4f  train acc %.2f%%", s->epoch, s->epochs, s->loss,
               100 * s->accuracy);
        if (s->val_accuracy >= 0)
            printf("  val acc %.2f%%%s", 100 * s->val_accuracy, s->best ? "*" : " ");
        printf("  test acc %.2f%%  %.2f s\n", 100 * s->test_accuracy, s->seconds);
    }
    fflush(stdout);
    if (!pr->quiet && s->epoch == s->epochs && pr->start > 0) {
        char d[32];
        progress_duration(d, sizeof d, clock_seconds() - pr->start);
        fprintf(stderr, "trained to epoch %d in %s\n", s->epochs, d);
    }
}

/* Set by the first SIGINT/SIGTERM while training may stop cleanly
 * (stop_deferred); training then stops after the current step. */
static volatile sig_atomic_t stop_signal, stop_deferred;

/* Any other time, and at the second signal, the process ends as the
 * signal would end it, but without leaving a temporary file behind (the
 * files on disk are still whole: every save is atomic). */
static void on_signal(int sig)
{
    int stops = sig == SIGINT || sig == SIGTERM || sig == SIGHUP;
    if (stops && stop_deferred && !stop_signal) {
        stop_signal = sig;
        return;
    }
    file_remove_temporary();
    signal(sig, SIG_DFL);
    raise(sig); /* delivered when the handler returns */
}

/* SIGINT, SIGTERM and SIGHUP (unless ignored, as under nohup) go through
 * on_signal, and so do the other signals that end a process without a
 * crash (a pipe's reader gone, an alarm, a CPU limit, kill -USR1: these
 * never stop training cleanly, but leave no temporary file either; not
 * SIGPROF and SIGVTALRM, which profilers use);
 * SIGXFSZ is ignored, so a write past ulimit -f fails with EFBIG ("File
 * too large") and is reported like any failed write. */
static void catch_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP,  SIGQUIT,
                               SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU};
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(&sa.sa_mask, sigs[i]);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);
}

static void checkpoint_path(char *buf, size_t cap, const char *model)
{
    snprintf(buf, cap, "%s.ckpt", model);
}

/* What a checkpoint records beyond the recipe and the state: the training
 * set it was made on (train_set_id; empty in older checkpoints) and the
 * preset named. */
typedef struct ckpt_extra {
    char train_set[64], preset[32];
} ckpt_extra;

/* The training set, as a checkpoint records it: its size and the CRC-32 of
 * its labels and images. */
static void train_set_id(const idx_set *t, char *out, size_t cap)
{
    uint32_t crc = fm_crc32(0, t->labels, t->n);
    crc = fm_crc32(crc, t->images, (size_t)t->n * IDX_PIXELS);
    snprintf(out, cap, "%u images, crc32 %08x", t->n, crc);
}

/* --preset given again must be the checkpoint's (none: it carries on).
 * A checkpoint from before they recorded it (no train_set either) says
 * nothing of its preset. */
static int check_preset(const cli_opts *o, const char *path, const ckpt_extra *x)
{
    if (!o->preset || !x->train_set[0] || strcmp(o->preset, x->preset) == 0)
        return EXIT_OK;
    fprintf(stderr, "fmnist: %s: was made %s%s; --resume continues with that\n", shown(path),
            x->preset[0] ? "with --preset " : "without --preset", x->preset);
    return usage_hint(CLI_TRAIN);
}

/* Whether the lines of text hold one equal to line (of len bytes). */
static int has_line(const char *text, const char *line, size_t len)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n == len && memcmp(p, line, n) == 0)
            return 1;
        p += n + (p[n] == '\n');
    }
    return 0;
}

/* The first option (a key=value line) where two metadata texts differ, as
 * "seed=1, not seed=2" or "dropout=0.1, not dropout at its default" (have's
 * first; an option at its default has no line). */
static void first_difference(const char *have, const char *asked, char *out, size_t cap)
{
    const char *a = have, *b = asked;
    for (int pass = 0; pass < 2; pass++, a = asked, b = have)
        for (const char *p = a; *p;) {
            size_t n = strcspn(p, "\n"), key = strcspn(p, "=");
            if (!has_line(b, p, n)) {
                const char *q = b; /* the other's line of the same key */
                size_t m = 0;
                while (*q && !((m = strcspn(q, "\n")) > key && !memcmp(q, p, key + 1)))
                    q += m + (q[m] == '\n');
                const char *x = pass ? q : p, *y = pass ? p : q;
                int nx = (int)(pass ? m : n), ny = (int)(pass ? n : m);
                if (*q)
                    snprintf(out, cap, "%.*s, not %.*s", nx, x, ny, y);
                else if (pass)
                    snprintf(out, cap, "%.*s at its default, not %.*s", (int)key, p, (int)n, p);
                else
                    snprintf(out, cap, "%.*s, not %.*s at its default", (int)n, p, (int)key, p);
                return;
            }
            p += n + (p[n] == '\n');
        }
    snprintf(out, cap, "other options");
}

/* Loads a checkpoint and checks it against the options given with --resume.
 * Fills net, state and cfg from it. Returns an exit status. */
static int load_checkpoint(const cli_opts *o, const char *path, mlp *net, train_state *st,
                           train_config *cfg, ckpt_extra *x)
{
    fm_err e;
    char *meta = NULL;
    float *blocks = NULL;
    int nblocks = 0, rc = EXIT_OK;
    if (model_load_fmnist(path, net, &meta, &blocks, &nblocks, &e)) {
        report(&e);
        if (e.code == FM_ENOTFOUND)
            fprintf(stderr, "HINT: --resume continues a run stopped with Ctrl-C or SIGTERM, "
                            "which saves %s\n", path);
        return EXIT_FAIL;
    }
    memset(st, 0, sizeof *st);
    train_config c;
    if (train_config_from_meta(&c, meta, &e) || train_state_from_meta(st, &c, meta, &e) ||
        nblocks != train_state_blocks(&c)) {
        if (!e.msg[0] || nblocks != train_state_blocks(&c))
            snprintf(e.msg, sizeof e.msg, "not a training checkpoint");
        fm_in_file(&e, FM_EFORMAT, path);
        rc = report(&e);
        goto out;
    }
    /* Adam's second moments (the second block) are sums of squares. */
    for (size_t i = 0; i < net->nparams; i++)
        if (blocks[net->nparams + i] < 0) {
            fprintf(stderr, "fmnist: %s: corrupt: Adam's second moment %zu is negative\n",
                    shown(path), i);
            rc = EXIT_FAIL;
            goto out;
        }
    if (!mlp_has_shape(net, train_net_shape(c.net))) {
        fprintf(stderr, "fmnist: %s: its network is not the one its metadata names (net=%s)\n",
                shown(path), c.net == NET_CNN ? "cnn" : "mlp");
        rc = EXIT_FAIL;
        goto out;
    }
    if (!meta_get(meta, "train_set", x->train_set, sizeof x->train_set))
        x->train_set[0] = 0;
    if (!meta_get(meta, "preset", x->preset, sizeof x->preset))
        x->preset[0] = 0;
    if ((rc = check_preset(o, path, x)))
        goto out;
    /* Options given again must agree, except --epochs, which may extend the run;
     * those not given are the checkpoint's. */
    unsigned must_match = o->given & ~(unsigned)CLI_GIVEN_EPOCHS;
    train_config g = c;
    cli_train_given(o, &g);
    g.epochs = c.epochs;
    char have[512], asked[512];
    have[0] = asked[0] = 0;
    train_config_to_meta(&c, have, sizeof have);
    train_config_to_meta(&g, asked, sizeof asked);
    if (must_match && strcmp(have, asked) != 0) {
        char why[600];
        first_difference(have, asked, why, sizeof why);
        fprintf(stderr, "fmnist: %s: was made with %s; --resume continues with the "
                        "checkpoint's options\n", shown(path), why);
        rc = usage_hint(CLI_TRAIN);
        goto out;
    }
    if (o->given & CLI_GIVEN_EPOCHS)
        c.epochs = o->train.epochs;
    if (st->epoch >= c.epochs) {
        fprintf(stderr, "fmnist: %s: already %d epoch%s in; give --epochs N with N > %d\n",
                shown(path), st->epoch, st->epoch == 1 ? "" : "s", st->epoch);
        rc = usage_hint(CLI_TRAIN);
        goto out;
    }
    *cfg = c;
    st->blocks = blocks;
    st->nblocks = nblocks;
    blocks = NULL;
out:
    free(blocks);
    free(meta);
    if (rc)
        mlp_free(net);
    return rc;
}

/* A checkpoint older than the model belongs to a run that a later one
 * replaced: resuming it would bring the older run back over the newer
 * model. Returns an exit status. */
static int check_checkpoint_age(const char *ckpt, const char *model)
{
    struct stat c, m;
    if (stat(ckpt, &c) != 0 || stat(model, &m) != 0)
        return EXIT_OK;
    if (m.st_mtim.tv_sec < c.st_mtim.tv_sec ||
        (m.st_mtim.tv_sec == c.st_mtim.tv_sec && m.st_mtim.tv_nsec <= c.st_mtim.tv_nsec))
        return EXIT_OK;
    fprintf(stderr, "fmnist: %s: older than %s, which a later run wrote; not resuming it\n"
                    "HINT: remove the checkpoint, or move the model away to resume anyway\n",
            shown(ckpt), shown(model));
    return EXIT_FAIL;
}

/* Whether path begins as an fmnist model file (a checkpoint is one). */
static int is_model_file(const char *path)
{
    uint8_t head[8];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    do
        n = read(fd, head, sizeof head);
    while (n < 0 && errno == EINTR);
    close(fd);
    return n == 8 && memcmp(head, MODEL_MAGIC, 8) == 0;
}

/* The model is saved: its checkpoint, used up by --resume or left by an
 * earlier interrupted run, must not bring that run back later. Anything
 * else of that name is not ours to remove. */
static void remove_checkpoint(const char *ckpt, int resumed, int quiet)
{
    struct stat st;
    if (lstat(ckpt, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    if (!is_model_file(ckpt)) {
        if (!quiet)
            fprintf(stderr, "fmnist: %s: not an fmnist checkpoint; left as it is\n",
                    shown(ckpt));
        return;
    }
    if (unlink(ckpt) != 0)
        fprintf(stderr, "fmnist: %s: cannot remove the old checkpoint: %s\n", shown(ckpt),
                strerror(errno));
    else if (!resumed && !quiet)
        fprintf(stderr, "fmnist: removed %s, the checkpoint of an earlier interrupted run "
                        "(this run's model replaces it)\n", shown(ckpt));
}

/* Training stopped on a signal (how, in what): the checkpoint to resume
 * from. Returns 128 + the signal, or 1 when it cannot be saved. */
static int save_checkpoint(const cli_opts *o, const char *ckpt, const mlp *net,
                           const train_config *cfg, const train_state *stopped, const char *what,
                           const idx_set *train, const char *preset)
{
    fm_err e;
    int sig = stop_signal ? stop_signal : SIGINT;
    char meta[4096] = "", id[64];
    meta_append(meta, sizeof meta, "fmnist_version", "%s", FMNIST_VERSION);
    train_config_to_meta(cfg, meta, sizeof meta);
    train_state_to_meta(stopped, cfg, meta, sizeof meta);
    train_set_id(train, id, sizeof id);
    meta_append(meta, sizeof meta, "train_set", "%s", id);
    if (preset[0])
        meta_append(meta, sizeof meta, "preset", "%s", preset);
    if (model_save(ckpt, net, meta, stopped->blocks, stopped->nblocks, &e))
        return report(&e);
    fprintf(stderr, "fmnist: %s: %s; checkpoint saved to %s\n"
                    "HINT: continue with: fmnist train --resume%s%s%s%s\n",
            sig == SIGTERM ? "terminated" : "interrupted", what, shown(ckpt),
            o->data ? " --data " : "", o->data ? shell_word(o->data) : "",
            strcmp(o->model, "fmnist.model") ? " --model " : "",
            strcmp(o->model, "fmnist.model") ? shell_word(o->model) : "");
    return 128 + sig;
}

/* Training finished: the model, with what made it. Returns an exit status. */
static int save_model(const cli_opts *o, const char *ckpt, const mlp *net,
                      const train_config *cfg, const char *preset, uint32_t train_images,
                      const train_result *res)
{
    fm_err e;
    char meta[4096] = "";
    meta_append(meta, sizeof meta, "fmnist_version", "%s", FMNIST_VERSION);
    train_config_to_meta(cfg, meta, sizeof meta);
    if (preset[0])
        meta_append(meta, sizeof meta, "preset", "%s", preset);
    meta_append(meta, sizeof meta, "train_images", "%u", train_images);
    if (res->epochs_run != cfg->epochs)
        meta_append(meta, sizeof meta, "epochs_run", "%d", res->epochs_run);
    if (cfg->val) {
        meta_append(meta, sizeof meta, "best_epoch", "%d", res->best_epoch);
        meta_append(meta, sizeof meta, "val_accuracy", "%.4f", res->val_accuracy);
    }
    meta_append(meta, sizeof meta, "test_accuracy", "%.4f", res->test_accuracy);
    if (model_save(o->model, net, meta, NULL, 0, &e))
        return report(&e);
    remove_checkpoint(ckpt, o->resume, o->quiet);
    if (!o->quiet) {
        if (cfg->keep == KEEP_BEST)
            fprintf(stderr, "saved %s: epoch %d, the best on validation (%.2f%%); test accuracy %.2f%%\n",
                    shown(o->model), res->best_epoch, 100 * res->val_accuracy,
                    100 * res->test_accuracy);
        else
            fprintf(stderr, "saved %s (test accuracy %.2f%%)\n", shown(o->model),
                    100 * res->test_accuracy);
    }
    if (stop_signal) { /* it came after the last step: nothing was left to stop */
        fprintf(stderr, "fmnist: %s after the last step; the finished model is saved\n",
                stop_signal == SIGTERM ? "terminated" : "interrupted");
        return 128 + stop_signal;
    }
    return EXIT_OK;
}

/* What must hold before a run starts, its data loaded: no output is one
 * of its inputs; the save would not be refused (checked now, not after
 * the training it would throw away); a resumed run has the training set
 * its checkpoint was made on; --val leaves images to train on. */
static int check_train_run(const cli_opts *o, const char *ckpt, const data_files *tf,
                           const idx_set *train, const train_config *cfg, const ckpt_extra *x)
{
    fm_err e;
    int rc;
    const char *inputs[] = {tf[0].images, tf[0].labels, tf[1].images, tf[1].labels,
                            o->resume ? ckpt : NULL};
    if ((rc = check_output(o->model, inputs, 4)) || (rc = check_output(ckpt, inputs, 4)) ||
        (rc = check_output(NULL, inputs, 5)))
        return rc;
    /* Both saves: the model at the end, a checkpoint if stopped. */
    if (file_check_replace(o->model, MODEL_MAGIC, 8, &e) ||
        file_check_replace(ckpt, MODEL_MAGIC, 8, &e))
        return report(&e);
    char id[64] = "";
    if (o->resume && x->train_set[0])
        train_set_id(train, id, sizeof id);
    if (o->resume && x->train_set[0] && strcmp(id, x->train_set) != 0) {
        fprintf(stderr, "fmnist: %s: was made on another training set (%s; this one: %s); "
                        "give the --data it was made with\n", shown(ckpt), x->train_set, id);
        return usage_hint(CLI_TRAIN);
    }
    if (cfg->val >= train->n) {
        fprintf(stderr, "fmnist: --val: %u leaves no training images (the training set has %u)\n",
                cfg->val, train->n);
        return usage_hint(CLI_TRAIN);
    }
    return EXIT_OK;
}

static int cmd_train(const cli_opts *o)
{
    char ckpt[4200];
    checkpoint_path(ckpt, sizeof ckpt, o->model);
    fm_err e;
    mlp net;
    train_state resume, stopped;
    memset(&stopped, 0, sizeof stopped);
    memset(&resume, 0, sizeof resume);
    train_config cfg = o->train;
    ckpt_extra x = {"", ""};
    if (o->preset)
        snprintf(x.preset, sizeof x.preset, "%s", o->preset);
    rng r;
    rng_seed(&r, cfg.seed);
    int rc;
    if (o->resume) {
        if ((rc = check_checkpoint_age(ckpt, o->model)) ||
            (rc = load_checkpoint(o, ckpt, &net, &resume, &cfg, &x)))
            return rc;
    } else {
        if (mlp_create_shape(&net, train_net_shape(cfg.net), &e))
            return report(&e);
        mlp_init_params(&net, &r);
    }
    idx_set train = {0}, test = {0};
    runtime rt = {0};
    data_files tf[2];
    if ((rc = load_splits(o, &train, &test, tf)) ||
        (rc = check_train_run(o, ckpt, tf, &train, &cfg, &x)) ||
        (rc = runtime_open(&rt, o->threads, 1)))
        goto out;
    progress pr = {.tty = isatty(STDERR_FILENO), .quiet = o->quiet, .json = o->json};
    const char *stop_at = getenv("FMNIST_STOP_AFTER_STEP");
    pr.stop_after = stop_at && *stop_at ? atol(stop_at) : 0;
    train_hooks hooks = {on_step, on_epoch, &pr, &stop_signal};
    train_result res;
    /* A reader of standard output that goes away (train | head -1) must not
     * throw the training away: writes there fail (reported at the end), the
     * model is saved. */
    signal(SIGPIPE, SIG_IGN);
    /* Until the model or the checkpoint is saved, a first signal waits:
     * one during the final save is noted and the finished model kept. */
    stop_deferred = 1;
    rc = train_run(&net, &r, &train, &test, &cfg, rt.pool, rt.kernel, &hooks,
                   o->resume ? &resume : NULL, &stopped, &res, &e);
    if (rc && pr.tty && !pr.quiet)
        fprintf(stderr, "\r\033[K");
    if (rc == FM_EINTR) {
        rc = save_checkpoint(o, ckpt, &net, &cfg, &stopped, e.msg, &train, x.preset);
    } else if (rc) {
        rc = report(&e);
        if (e.code == FM_ENUMERIC)
            fprintf(stderr, "fmnist: %s: not written; the previous file, if any, is unchanged\n",
                    shown(o->model));
    } else {
        rc = save_model(o, ckpt, &net, &cfg, x.preset, train.n - cfg.val, &res);
    }
    stop_deferred = 0;
out:
    train_state_free(&resume);
    train_state_free(&stopped);
    mlp_free(&net);
    runtime_close(&rt);
    idx_free(&train);
    idx_free(&test);
    return rc;
}

/* ---- eval ---- */

#ifndef FMNIST_DATADIR
#define FMNIST_DATADIR "/usr/local/share/fmnist"
#endif

/* eval and classify without --model: $FMNIST_MODEL when set (a name that
 * does not exist is an error, as $FMNIST_DATA's is: a typo must not
 * quietly give another model), else the first model file of
 * ./fmnist.model, ${XDG_DATA_HOME:-~/.local/share}/fmnist/fmnist.model and
 * the installed one (make install; FMNIST_DATADIR) that exists; o->model
 * points to it. When none does, says where it looked. */
static int locate_model(cli_opts *o)
{
    static char found[3][4096];
    const char *env = getenv("FMNIST_MODEL"), *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    int n = 0;
    if (env && *env) {
        if (access(env, F_OK) != 0) {
            fprintf(stderr, "fmnist: %s: %s (the model $FMNIST_MODEL names; unset it to search "
                            "./fmnist.model and the rest)\n", shown(env), strerror(errno));
            return EXIT_FAIL;
        }
        o->model = env;
        return EXIT_OK;
    }
    snprintf(found[n++], sizeof found[0], "fmnist.model");
    if (xdg && *xdg)
        snprintf(found[n++], sizeof found[0], "%s/fmnist/fmnist.model", xdg);
    else if (home && *home)
        snprintf(found[n++], sizeof found[0], "%s/.local/share/fmnist/fmnist.model", home);
    snprintf(found[n++], sizeof found[0], "%s/fmnist.model", FMNIST_DATADIR);
    for (int i = 0; i < n; i++)
        if (access(found[i], F_OK) == 0) {
            o->model = found[i];
            return EXIT_OK;
        }
    fprintf(stderr, "fmnist: no model file found; looked for");
    for (int i = 0; i < n; i++)
        fprintf(stderr, "%s %s", i ? "," : "", shown(found[i]));
    fprintf(stderr, "\nHINT: train one with 'fmnist train' (or 'make model' and 'make install'), "
                    "or pass --model FILE\n");
    return EXIT_FAIL;
}

/* Loads a model and checks it is fmnist's network. */
static int load_model(const char *path, mlp *net, char **meta)
{
    fm_err e;
    if (model_load_fmnist(path, net, meta, NULL, NULL, &e)) {
        report(&e);
        if (e.code == FM_ENOTFOUND)
            fprintf(stderr, "HINT: train one first with 'fmnist train', or pass --model FILE\n");
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* Whether s is a JSON number as written (-?int frac? exp?): metadata
 * values that are numbers go out as numbers, verbatim (finite ones: a
 * parser reads 1e999 as infinity, which JSON has not). */
static int json_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return 0;
    if (*p == '.') {
        if (!(*++p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == 0;
}

static void print_meta_json(const char *meta)
{
    printf("{");
    int first = 1;
    for (const char *line = meta; *line;) {
        const char *eq = strchr(line, '='), *nl = strchr(line, '\n');
        if (!nl)
            nl = line + strlen(line);
        if (eq && eq < nl) {
            char key[128], val[512];
            snprintf(key, sizeof key, "%.*s", (int)(eq - line), line);
            snprintf(val, sizeof val, "%.*s", (int)(nl - eq - 1), eq + 1);
            printf("%s", first ? "" : ",");
            json_str(stdout, key);
            printf(":");
            if (json_number(val) && isfinite(strtod(val, NULL)))
                fputs(val, stdout);
            else
                json_str(stdout, val);
            first = 0;
        }
        line = *nl ? nl + 1 : nl;
    }
    printf("}");
}

/* --errors and --confusion: pictures written atomically; a line on stdout
 * says where, unless --json keeps stdout for the JSON object. */
static int write_picture(const cli_opts *o, const char *path, const plot_canvas *c,
                         const char *what)
{
    fm_err e;
    if (image_write_rgb_png(path, c->rgb, c->w, c->h, &e))
        return report(&e);
    if (!o->json)
        printf("wrote %s: %s (%dx%d)\n", shown(path), what, c->w, c->h);
    return EXIT_OK;
}

static int write_errors_sheet(const cli_opts *o, const idx_set *test, const uint8_t *preds,
                              long nwrong)
{
    fm_err e;
    plot_canvas c;
    if (plot_errors_sheet(test->images, test->labels, preds, test->n, IDX_CLASSES,
                          fmnist_class_names, &c, &e))
        return report(&e);
    char what[128];
    snprintf(what, sizeof what, "the %ld misclassified test images by true class", nwrong);
    int rc = write_picture(o, o->errors_png, &c, what);
    plot_canvas_free(&c);
    return rc;
}

static int write_confusion(const cli_opts *o, const eval_result *r)
{
    fm_err e;
    plot_canvas c;
    if (plot_confusion(&r->confusion[0][0], IDX_CLASSES, fmnist_class_names, &c, &e))
        return report(&e);
    int rc = write_picture(o, o->confusion_png, &c, "the confusion matrix as a heat map");
    plot_canvas_free(&c);
    return rc;
}

/* Whether two output paths name one file: the same file when both exist,
 * else the same name in the same folder (e.png and ./e.png, not yet
 * written). */
static int same_destination(const char *a, const char *b)
{
    struct stat sa, sb;
    int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea || eb)
        return ea && eb && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char ca[PATH_MAX], cb[PATH_MAX], ra[PATH_MAX], rb[PATH_MAX];
    snprintf(ca, sizeof ca, "%s", a);
    snprintf(cb, sizeof cb, "%s", b);
    if (!realpath(dirname(ca), ra) || !realpath(dirname(cb), rb) || strcmp(ra, rb) != 0)
        return !strcmp(a, b);
    snprintf(ca, sizeof ca, "%s", a);
    snprintf(cb, sizeof cb, "%s", b);
    return !strcmp(basename(ca), basename(cb));
}

static int check_eval_outputs(const cli_opts *o, const data_files *d)
{
    const char *in[] = {o->model, d->images, d->labels, o->errors_png};
    int rc = check_output(NULL, in, 3);
    if (!rc && o->errors_png)
        rc = check_output(o->errors_png, in, 3);
    if (!rc && o->confusion_png)
        rc = check_output(o->confusion_png, in, 4);
    if (!rc && o->errors_png && o->confusion_png &&
        same_destination(o->errors_png, o->confusion_png)) {
        fprintf(stderr, "fmnist: %s: given to both --errors and --confusion\n",
                shown(o->errors_png));
        rc = usage_hint(CLI_EVAL);
    }
    return rc;
}

/* The accuracy's standard error, sqrt(p (1 - p) / n). */
static double accuracy_stderr(const eval_result *r)
{
    double acc = (double)r->correct / (double)r->n;
    return sqrt(acc * (1 - acc) / (double)r->n);
}

/* A fraction for JSON: %.6f, or null when undefined (NaN). */
static const char *json_fraction(char buf[32], double v)
{
    if (isnan(v))
        return "null";
    snprintf(buf, 32, "%.6f", v);
    return buf;
}

/* A fraction as a percentage cell: "86.51%", or "-" when undefined. */
static const char *percent_cell(char buf[32], double v)
{
    if (isnan(v))
        return "-";
    snprintf(buf, 32, "%.2f%%", 100 * v);
    return buf;
}

static void eval_print_json(const cli_opts *o, const char *meta, const eval_result *r)
{
    double acc = (double)r->correct / (double)r->n, se = accuracy_stderr(r);
    printf("{\"format\":%d,\"accuracy\":%.6f,\"accuracy_stderr\":%.6f,\"correct\":%ld,"
           "\"n\":%ld,\"loss\":", JSON_FORMAT, acc, se, r->correct, r->n);
    json_num(stdout, "%.6f", r->loss);
    printf(",\"model\":");
    json_str(stdout, o->model);
    printf(",\"meta\":");
    print_meta_json(meta);
    printf(",\"per_class\":[");
    for (int c = 0; c < IDX_CLASSES; c++) {
        printf("%s{\"label\":%d,\"name\":", c ? "," : "", c);
        json_str(stdout, fmnist_class_names[c]);
        char pr[32], rc[32];
        printf(",\"precision\":%s,\"recall\":%s}", json_fraction(pr, eval_precision(r, c)),
               json_fraction(rc, eval_recall(r, c)));
    }
    printf("],\"confusion\":[");
    for (int t = 0; t < IDX_CLASSES; t++) {
        printf("%s[", t ? "," : "");
        for (int p = 0; p < IDX_CLASSES; p++)
            printf("%s%ld", p ? "," : "", r->confusion[t][p]);
        printf("]");
    }
    printf("]}\n");
}

/* s is a count as train writes one: 1 to 18 digits (metadata shown to the
 * user is checked first: a file's words are not echoed as if they were
 * fmnist's). */
static int counts(const char *s)
{
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= 18 && !s[n];
}

static void eval_print_text(const cli_opts *o, const mlp *net, const char *meta,
                            const eval_result *r, const char *test_images)
{
    char shape[128];
    mlp_shape_text(net, shape, sizeof shape);
    double acc = (double)r->correct / (double)r->n, se = accuracy_stderr(r);
    char ep[32] = "?", lr[32] = "?", seed[32] = "?", opts[512] = "", done[32], step[32];
    char when[128];
    meta_get(meta, "epochs", ep, sizeof ep);
    meta_get(meta, "lr", lr, sizeof lr);
    meta_get(meta, "seed", seed, sizeof seed);
    /* A checkpoint (FILE.ckpt) is a model of a run stopped part way: its
     * epochs are the run's goal, not what it trained. */
    if (meta_get(meta, "state_epoch", done, sizeof done) &&
        meta_get(meta, "state_step", step, sizeof step) && counts(done) && counts(step))
        snprintf(when, sizeof when, "a checkpoint after step %s, %s of %s epochs done", step,
                 done, ep);
    else
        snprintf(when, sizeof when, "epochs %s", ep);
    printf("model:    %s (%s; %s, lr %s, seed %s)\n", shown(o->model), shape, when, lr, seed);
    train_config tc;
    if (!train_config_from_meta(&tc, meta, NULL))
        train_config_describe(&tc, opts, sizeof opts);
    if (opts[0]) {
        char be[32] = "";
        meta_get(meta, "best_epoch", be, sizeof be);
        printf("options:  %s%s%s\n", opts, be[0] ? "; kept epoch " : "", be);
    }
    printf("test set: %s (%ld image%s)\n", shown(test_images), r->n, r->n == 1 ? "" : "s");
    printf("accuracy: %.2f%% +- %.2f%% (%ld of %ld)\n", 100 * acc, 100 * se, r->correct, r->n);
    printf("loss:     %.4f (mean NLL)\n\n", r->loss);
    printf("   class         precision  recall\n");
    for (int c = 0; c < IDX_CLASSES; c++) {
        char pr[32], rc[32];
        printf("   %d %-12s  %7s   %7s\n", c, fmnist_class_names[c],
               percent_cell(pr, eval_precision(r, c)), percent_cell(rc, eval_recall(r, c)));
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted)\n");
    printf("%-13s", "");
    for (int p = 0; p < IDX_CLASSES; p++)
        printf(" %5.5s", fmnist_class_names[p]);
    printf("\n");
    for (int t = 0; t < IDX_CLASSES; t++) {
        printf("%-13s", fmnist_class_names[t]);
        for (int p = 0; p < IDX_CLASSES; p++)
            printf(" %5ld", r->confusion[t][p]);
        printf("\n");
    }
}

static int cmd_eval(const cli_opts *o)
{
    mlp net;
    char *meta = NULL;
    int rc = load_model(o->model, &net, &meta);
    if (rc)
        return rc;
    idx_set test = {0};
    data_files where;
    if ((rc = load_split(o, IDX_TEST, &test, &where)) || (rc = check_eval_outputs(o, &where))) {
        idx_free(&test);
        mlp_free(&net);
        free(meta);
        return rc;
    }
    uint8_t *preds = NULL; /* --errors: each test image's predicted class */
    runtime rt;
    if ((rc = runtime_open(&rt, o->threads, 0)))
        goto out;
    fm_err e;
    eval_result r;
    if (o->errors_png && !(preds = malloc(test.n ? test.n : 1))) {
        fprintf(stderr, "fmnist: out of memory\n");
        rc = EXIT_FAIL;
        runtime_close(&rt);
        goto out;
    }
    if (eval_run(&net, &test, rt.pool, rt.kernel, NULL, &r, preds, &e)) {
        rc = report(&e);
        runtime_close(&rt);
        goto out;
    }
    runtime_close(&rt);
    if (o->json)
        eval_print_json(o, meta, &r);
    else
        eval_print_text(o, &net, meta, &r, where.images);
    fflush(stdout);
    if (o->errors_png && write_errors_sheet(o, &test, preds, r.n - r.correct))
        rc = EXIT_FAIL;
    if (o->confusion_png && write_confusion(o, &r))
        rc = EXIT_FAIL;
out:
    free(preds);
    idx_free(&test);
    mlp_free(&net);
    free(meta);
    return rc;
}

/* ---- classify ---- */

/* --ascii: what the network received, and how it was made. */
static void print_seen(const uint8_t *in, const image_prep_info *info, int w, int h)
{
    char how[256];
    if (info->empty)
        snprintf(how, sizeof how, "nothing stood out from the background: blank");
    else if (info->passthrough)
        snprintf(how, sizeof how, "already a data set image: used as is%s",
                 info->inverted ? ", negated" : "");
    else
        snprintf(how, sizeof how, "the item's %dx%d box at %d,%d of %dx%d%s, scaled and centred; %s%s",
                 info->box_w, info->box_h, info->box_x, info->box_y, w, h,
                 info->tile ? ", inside a tile" : "",
                 info->transparent_bg ? (info->inverted ? "dark on transparent"
                                                        : "light on transparent")
                 : info->inverted ? "darker than its background, negated"
                                  : "lighter than its background",
                 info->drawing ? "; a drawing: its inside is item" : "");
    printf("  seen by the network (28x28; %s):\n", how);
    char art[(IDX_COLS * 2 + 1) * IDX_ROWS + 1];
    plot_ascii(in, IDX_COLS, IDX_ROWS, art, sizeof art);
    for (char *line = art; *line;) {
        char *nl = strchr(line, '\n');
        printf("  |%.*s|\n", (int)(nl - line), line);
        line = nl + 1;
    }
}

/* --show: writes the network's input, enlarged 10x, where the pattern
 * says for image number index. */
static int show_input(const char *pattern, int index, const uint8_t *in)
{
    char path[4096];
    if (cli_show_path(pattern, index, path, sizeof path)) {
        fprintf(stderr, "fmnist: --show: the name for image %d is too long\n", index);
        return EXIT_FAIL;
    }
    fm_err e;
    uint8_t *big;
    if (plot_enlarge_gray(in, IDX_COLS, IDX_ROWS, 10, &big, &e))
        return report(&e);
    int rc = image_write_gray_png(path, big, IDX_COLS * 10, IDX_ROWS * 10, &e);
    free(big);
    return rc ? report(&e) : EXIT_OK;
}

/* Neither standard output nor --show writes over the model or an image
 * being classified. */
static int check_classify_outputs(const cli_opts *o)
{
    const char **in = malloc(((size_t)o->nfiles + 1) * sizeof *in);
    if (!in) {
        fprintf(stderr, "fmnist: out of memory\n");
        return EXIT_FAIL;
    }
    in[0] = o->model;
    for (int f = 0; f < o->nfiles; f++)
        in[f + 1] = o->files[f];
    int rc = check_output(NULL, in, o->nfiles + 1);
    char path[4096];
    for (int f = 0; o->show && f < o->nfiles && !rc; f++)
        if (cli_show_path(o->show, f + 1, path, sizeof path) == FM_OK)
            rc = check_output(path, in, o->nfiles + 1);
    free(in);
    return rc;
}

/* A blank picture (nothing stands out, or a data set image of one value)
 * is classified, with a warning. */
static void warn_if_blank(const cli_opts *o, const char *name, const uint8_t *in,
                          image_prep_info *info)
{
    int uniform = 1;
    for (int i = 1; i < IDX_PIXELS && uniform; i++)
        uniform = in[i] == in[0];
    if (uniform)
        info->empty = 1;
    if (info->empty && !o->quiet)
        fprintf(stderr, "fmnist: %s: nothing stands out from the background; "
                        "classified a blank image\n", shown(name));
}

/* classify is built on the public API (include/fmnist.h): the model and
 * the network come from libfmnist as any program embedding it gets them
 * (one work buffer per thread, the model shared: the API's promise); only
 * reading and preparing the picture is the program's (--invert, --show,
 * --ascii and the blank-picture warning need the steps' details). With
 * --threads N, N threads take the pictures of a block of CLASSIFY_BLOCK,
 * and the main thread reports them in order. */
#define CLASSIFY_BLOCK 64

/* What the threads may hold at once (budget.h), whatever their number: the
 * picture files read (each up to IMAGE_MAX_FILE_BYTES) and what decoding
 * and preparing them takes (picture_decode_memory: a 50-megapixel PNG
 * about 260 MB, a progressive CMYK JPEG about 660 MB). A picture larger
 * than a budget is read or decoded alone. */
#define CLASSIFY_FILE_BUDGET ((uint64_t)256 << 20)
#define CLASSIFY_PIXEL_BUDGET ((uint64_t)1 << 30)

typedef struct seen { /* what became of one picture */
    uint8_t in[IDX_PIXELS];
    image_prep_info info;
    int pw, ph, rc;
    float probs[IDX_CLASSES];
    fm_err e;
} seen;

typedef struct classifier {
    const cli_opts *o;
    fmnist_model *model;
    fmnist_work **work; /* one per thread of the pool */
    runtime rt;
    budget files, pixels;
    int first;          /* the block's first picture */
    seen *seen;         /* the block's pictures */
} classifier;

/* A file's bytes as its reading will hold them: standard input, the most a
 * picture file may be; a regular file, its size (a file over the limit is
 * refused unread); anything else is refused unread: nothing. */
static uint64_t file_bytes(const char *path)
{
    struct stat st;
    if (strcmp(path, "-") == 0)
        return IMAGE_MAX_FILE_BYTES;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > IMAGE_MAX_FILE_BYTES)
        return 0;
    return (uint64_t)st.st_size + 1;
}

/* picture_read within c's budgets: the file's bytes held from before it is
 * read until it is decoded, the pixels' from before decoding until the
 * caller gives back *pixels (after preparing the image). */
static int read_within(classifier *c, const char *path, image *img, uint64_t *pixels,
                       fm_err *e)
{
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    uint64_t bytes = file_bytes(path);
    uint8_t *buf;
    size_t len;
    budget_take(&c->files, bytes);
    int rc = file_read_all(path, IMAGE_MAX_FILE_BYTES, &buf, &len, e);
    *pixels = 0;
    if (rc == FM_OK) {
        *pixels = picture_decode_memory(buf, len);
        budget_take(&c->pixels, *pixels);
        rc = picture_decode(buf, len, name, img, e);
        free(buf);
    }
    budget_give(&c->files, bytes);
    return rc;
}

/* One picture: read, prepared (into s->in, its info and size) and
 * classified (s->probs, the 10 probabilities) with work w. */
static int classify_picture(classifier *c, fmnist_work *w, const char *path, seen *s, fm_err *e)
{
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    image img;
    uint64_t pixels;
    if (!*path)
        return fm_fail(e, FM_EINVAL, "''", "an empty argument, not a file name");
    int rc = read_within(c, path, &img, &pixels, e);
    if (rc == FM_OK) {
        s->pw = img.w, s->ph = img.h;
        if ((rc = image_prepare(&img, c->o->invert, s->in, &s->info, e)))
            fm_in_file(e, rc, name);
        image_free(&img);
    }
    budget_give(&c->pixels, pixels);
    if (rc)
        return rc;
    /* A model can hold finite parameters that still overflow: say so
     * rather than print "nan%". */
    fmnist_error err;
    if ((rc = fmnist_classify_28x28(c->model, w, s->in, s->probs, &err)) == FMNIST_ENUMERIC)
        return fm_fail(e, FM_ENUMERIC, name, "the model's output for it is not a number "
                                             "(the model's weights overflow)");
    return rc ? fm_fail(e, rc, name, "%s", err.message) : FM_OK;
}

static void classify_chunk(void *arg, int chunk, int thread)
{
    classifier *c = arg;
    seen *s = &c->seen[chunk];
    s->rc = classify_picture(c, c->work[thread], c->o->files[c->first + chunk], s, &s->e);
}

static void print_classification(const cli_opts *o, const char *name, const float *probs)
{
    int order[IDX_CLASSES]; /* by probability, ties to the lower label */
    fmnist_top(probs, IDX_CLASSES, order);
    if (o->json) {
        printf("{\"format\":%d,\"file\":", JSON_FORMAT);
        json_str(stdout, name);
        printf(",\"label\":%d,\"name\":", order[0]);
        json_str(stdout, fmnist_class_name(order[0]));
        printf(",\"probability\":%.6f,\"top\":[", probs[order[0]]);
        for (int k = 0; k < o->top; k++) {
            printf("%s{\"label\":%d,\"name\":", k ? "," : "", order[k]);
            json_str(stdout, fmnist_class_name(order[k]));
            printf(",\"probability\":%.6f}", probs[order[k]]);
        }
        printf("]}\n");
        return;
    }
    printf("%s: %s (%.1f%%)", shown(name), fmnist_class_name(order[0]), 100.0 * probs[order[0]]);
    for (int k = 1; k < o->top; k++)
        printf("%s%s %.1f%%", k == 1 ? "; then " : ", ", fmnist_class_name(order[k]),
               100.0 * probs[order[k]]);
    printf("\n");
}

/* A picture that failed: its error on stderr, and with --json a record
 * of its own on stdout, so that a consumer can pair inputs and results. */
static void print_failure(const cli_opts *o, const char *name, const fm_err *e)
{
    report(e);
    if (!o->json)
        return;
    printf("{\"format\":%d,\"file\":", JSON_FORMAT);
    json_str(stdout, name);
    printf(",\"error\":");
    json_str(stdout, e->msg);
    printf("}\n");
}

/* The model, the pool of up to --threads threads (no more than there are
 * pictures) and a work buffer for each. */
static int classifier_open(const cli_opts *o, classifier *c)
{
    fmnist_error err;
    memset(c, 0, sizeof *c);
    c->o = o;
    budget_init(&c->files, CLASSIFY_FILE_BUDGET);
    budget_init(&c->pixels, CLASSIFY_PIXEL_BUDGET);
    if (fmnist_model_load(o->model, &c->model, &err)) {
        fprintf(stderr, "fmnist: %s\n", err.message);
        if (err.code == FMNIST_ENOTFOUND)
            fprintf(stderr, "HINT: train one first with 'fmnist train', or pass --model FILE\n");
        return EXIT_FAIL;
    }
    int n = o->threads > 1 ? (o->threads < o->nfiles ? o->threads : o->nfiles) : 1, rc;
    if ((rc = runtime_open(&c->rt, n, 0)))
        return rc;
    n = pool_size(c->rt.pool);
    c->work = calloc((size_t)n, sizeof *c->work);
    c->seen = malloc(sizeof *c->seen * CLASSIFY_BLOCK);
    if (!c->work || !c->seen) {
        fprintf(stderr, "fmnist: out of memory\n");
        return EXIT_FAIL;
    }
    for (int t = 0; t < n; t++)
        if (fmnist_work_new(c->model, &c->work[t], &err)) {
            fprintf(stderr, "fmnist: %s\n", err.message);
            return EXIT_FAIL;
        }
    return EXIT_OK;
}

static void classifier_close(classifier *c)
{
    for (int t = 0; c->work && t < pool_size(c->rt.pool); t++)
        fmnist_work_free(c->work[t]);
    free(c->work);
    free(c->seen);
    runtime_close(&c->rt);
    fmnist_model_free(c->model);
    budget_destroy(&c->files);
    budget_destroy(&c->pixels);
}

/* Picture f's outcome, as it would be reported had it been done alone.
 * Returns the failures it adds. */
static int report_picture(const cli_opts *o, int f, seen *s)
{
    const char *name = strcmp(o->files[f], "-") == 0 ? "<stdin>" : o->files[f];
    if (s->rc) {
        print_failure(o, name, &s->e);
        return 1;
    }
    warn_if_blank(o, name, s->in, &s->info);
    print_classification(o, name, s->probs);
    if (o->ascii)
        print_seen(s->in, &s->info, s->pw, s->ph);
    fflush(stdout);
    return o->show && show_input(o->show, f + 1, s->in);
}

static int cmd_classify(const cli_opts *o)
{
    int rc = check_classify_outputs(o);
    if (rc)
        return rc;
    classifier c;
    if ((rc = classifier_open(o, &c))) {
        classifier_close(&c);
        return rc;
    }
    int failures = 0;
    for (c.first = 0; c.first < o->nfiles; c.first += CLASSIFY_BLOCK) {
        int n = o->nfiles - c.first < CLASSIFY_BLOCK ? o->nfiles - c.first : CLASSIFY_BLOCK;
        pool_run(c.rt.pool, n, classify_chunk, &c);
        for (int i = 0; i < n; i++)
            failures += report_picture(o, c.first + i, &c.seen[i]);
    }
    classifier_close(&c);
    return failures ? EXIT_FAIL : EXIT_OK;
}

/* ---- export ---- */

static int export_to_stdout(const uint8_t *pix, fm_err *e)
{
    uint8_t *png;
    size_t len;
    if (image_encode_gray_png(pix, IDX_COLS, IDX_ROWS, &png, &len, e))
        return report(e);
    size_t wrote = fwrite(png, 1, len, stdout);
    free(png);
    if (wrote != len || fflush(stdout)) {
        fprintf(stderr, "fmnist: <stdout>: write error\n");
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int cmd_export(const cli_opts *o)
{
    /* One image kept, not the split: a crafted 1.5 MB .gz claiming two
     * million images would otherwise take 1.5 GB here. */
    data_files df;
    uint8_t pix[IDX_PIXELS], label;
    uint32_t n;
    fm_err e;
    int rc = locate_split(o, (enum idx_split)o->split, &df);
    if (rc)
        return rc;
    const char *in[] = {df.images, df.labels};
    if ((rc = check_output(NULL, in, 2)))
        return rc;
    if (idx_load_one(df.images, df.labels, (uint32_t)o->index, pix, &label, &n, &e))
        return report(&e);
    const char *split = o->split == IDX_TRAIN ? "train" : "test";
    if ((uint32_t)o->index >= n) {
        fprintf(stderr, "fmnist: --index: %ld is past the last %s image (%u)\n", o->index, split,
                n - 1);
        return usage_hint(CLI_EXPORT);
    }
    char name[256], slug[64];
    const char *cn = fmnist_class_names[label];
    size_t j = 0;
    for (size_t i = 0; cn[i] && j + 1 < sizeof slug; i++) {
        char c = cn[i];
        slug[j++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a')
                    : ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ? c : '-';
    }
    slug[j] = 0;
    snprintf(name, sizeof name, "%s-%ld-%s.png", split, o->index, slug);
    const char *out = o->output ? o->output : name;
    if (!strcmp(out, "-")) {
        /* -o -: the PNG on standard output (export ... -o - | fmnist classify -);
         * the note that names it goes to standard error. */
        rc = export_to_stdout(pix, &e);
        if (!rc && !o->quiet)
            fprintf(stderr, "<stdout>: %s image %ld, label %d (%s)\n", split, o->index, label, cn);
        return rc;
    }
    rc = check_output(out, in, 2);
    if (!rc && image_write_gray_png(out, pix, IDX_COLS, IDX_ROWS, &e))
        rc = report(&e);
    else if (!rc && !o->quiet)
        printf("%s: %s image %ld, label %d (%s)\n", shown(out), split, o->index, label, cn);
    return rc;
}

/* ---- convert ---- */

static int cmd_convert(const cli_opts *o)
{
    static const char *const names[] = {"", "fmnist model", "ONNX", "safetensors"};
    const char *in[] = {o->model};
    mlp net;
    char *meta;
    fm_err e;
    if (check_output(o->output, in, 1) || check_output(NULL, in, 1))
        return EXIT_FAIL;
    if (convert_load(o->model, &net, &meta, &e))
        return report(&e);
    int rc = EXIT_OK;
    if (convert_save(o->output, &net, meta, &e)) {
        rc = report(&e);
    } else if (!o->quiet) {
        char shape[128];
        mlp_shape_text(&net, shape, sizeof shape);
        printf("%s: %s, %s, %zu parameters from %s\n", shown(o->output),
               names[convert_format_of(o->output)], shape, net.nparams, shown(o->model));
    }
    mlp_free(&net);
    free(meta);
    return rc;
}

/* A closed standard stream's descriptor would go to the next file opened,
 * which would then receive what is printed. Hold it with /dev/null, read
 * only, so that writing there still fails and is reported. */
static void hold_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int n = open("/dev/null", O_RDONLY);
            if (n >= 0 && n != fd)
                close(n);
        }
}

/* As coreutils' close_stdout: output that could not be written is a
 * failure, whatever the command did. */
static int close_stdout(int rc)
{
    errno = 0;
    int bad = fflush(stdout) != 0 || ferror(stdout);
    int err = errno;
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (!bad)
        return rc;
    if (err)
        fprintf(stderr, "fmnist: write error on standard output: %s\n", strerror(err));
    else
        fprintf(stderr, "fmnist: write error on standard output\n");
    return rc ? rc : EXIT_FAIL;
}

static int run(int argc, char **argv)
{
    cli_opts o;
    fm_err e;
    if (cli_parse(argc, argv, &o, &e)) {
        if (e.file[0])
            fprintf(stderr, "fmnist: %s: %s\n", e.file, e.msg);
        else
            fprintf(stderr, "fmnist: %s\n", e.msg);
        return usage_hint(o.command);
    }
    if (o.command == CLI_HELP || o.help) {
        enum cli_command c = o.help ? o.command : o.help_for;
        if (c >= CLI_TRAIN && c <= CLI_CONVERT)
            help_command(c);
        else
            help_main();
        return EXIT_OK;
    }
    if (o.version)
        o.command = CLI_VERSION;
    switch (o.command) {
    case CLI_VERSION: {
        const kernel_impl *k = kernel_find(NULL);
        printf("fmnist %s\n"
               "kernels: %s on this CPU (any kernel gives the same bits)\n"
               "model format: %d\n"
               "Copyright (c) 2026 The fmnist authors.\n"
               "License MIT: <https://opensource.org/license/mit>.\n"
               "This is free software: you are free to change and redistribute it.\n"
               "There is NO WARRANTY, to the extent permitted by law.\n",
               FMNIST_VERSION, k ? k->name : "?", MODEL_FORMAT);
        return EXIT_OK;
    }
    case CLI_TRAIN: return cmd_train(&o);
    case CLI_EVAL: return o.model_given || !locate_model(&o) ? cmd_eval(&o) : EXIT_FAIL;
    case CLI_CLASSIFY: return o.model_given || !locate_model(&o) ? cmd_classify(&o) : EXIT_FAIL;
    case CLI_EXPORT: return cmd_export(&o);
    case CLI_CONVERT: return o.model_given || !locate_model(&o) ? cmd_convert(&o) : EXIT_FAIL;
    default: break;
    }
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    hold_std_fds();
    catch_signals();
    return close_stdout(run(argc, argv));
}
