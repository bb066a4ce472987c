/* main.c: the fmnist command line. The only file that prints or exits. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "augment.h"
#include "cli.h"
#include "convert.h"
#include "eval.h"
#include "idx.h"
#include "image.h"
#include "kernels.h"
#include "mlp.h"
#include "model_file.h"
#include "plot.h"
#include "pool.h"
#include "prep.h"
#include "rng.h"
#include "train.h"
#include "version.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static const char usage_main[] =
    "usage: fmnist COMMAND [OPTIONS]\n"
    "\n"
    "Trains a 784-256-128-64-10 network on Fashion-MNIST and classifies clothing.\n"
    "\n"
    "commands:\n"
    "  train      train a model on the training set and save it\n"
    "  eval       accuracy of a model on the 10,000 test images\n"
    "  classify   classify PNG pictures of clothing\n"
    "  export     write a data set image as a PNG\n"
    "  convert    write a model as ONNX or safetensors, or read safetensors\n"
    "\n"
    "  fmnist COMMAND --help   options of a command\n"
    "  fmnist --version        version and build\n"
    "\n"
    "The data set is found in --data DIR, else $FMNIST_DATA, else ./data, else\n"
    "/usr/share/datasets/fashion-mnist (Debian: apt-get install dataset-fashion-mnist),\n"
    "else ~/.pytorch/F_MNIST_data/FashionMNIST/raw; files raw or .gz.\n";

static const char usage_train[] =
    "usage: fmnist train [OPTIONS]\n"
    "\n"
    "Trains the network with the tutorial's recipe (Adam, batch 64, reshuffled\n"
    "every epoch) and saves it. After each epoch prints the training loss and\n"
    "accuracy, the test accuracy and the seconds taken; progress goes to stderr.\n"
    "\n"
    "  --epochs N        passes over the training set (default 5)\n"
    "  --batch-size N    images per step, 1..60000 (default 64)\n"
    "  --lr X            Adam's learning rate (default 0.003)\n"
    "  --seed N          seed of the initialisation, shuffles, validation split and\n"
    "                    dropout (default 1); the same seed gives the same model\n"
    "                    file, bit for bit\n"
    "  --data DIR        where the data set is (default: searched, see fmnist --help)\n"
    "  --model FILE      where to save the model (default fmnist.model)\n"
    "  --threads N       threads to use (default: every CPU available); the\n"
    "                    model does not depend on it\n"
    "  --json            one JSON object per epoch on stdout, nothing else there\n"
    "  --quiet           no progress on stderr\n"
    "  --resume          continue the run whose checkpoint is FILE.ckpt\n"
    "\n"
    "Beyond the recipe (all off by default; the model file records them):\n"
    "  --dropout P       inverted dropout on the hidden layers in training, 0..0.95\n"
    "  --weight-decay W  decoupled weight decay, as AdamW: p *= 1 - lr*W each step\n"
    "  --schedule S      learning rate over the run: const (default), cosine (down\n"
    "                    to 0 by the last step), step (x0.1 at 1/2, x0.01 at 3/4)\n"
    "  --warmup N        first N epochs: the rate rises linearly from lr/steps to lr\n"
    "  --label-smoothing S  cross-entropy against targets (1-S) one-hot + S/10\n"
    "  --ema D           keep a moving average of the weights (decay D per step,\n"
    "                    e.g. 0.999); it is what is evaluated and saved\n"
    "  --val N           hold out N training images (fixed by the seed) and report\n"
    "                    validation loss and accuracy each epoch\n"
    "  --keep best|last  save the best validation epoch's model, or the last\n"
    "                    (default); best needs --val\n"
    "  --patience N      stop after N epochs without a better validation accuracy\n"
    "  --augment SPEC    change the training images at random, so the model\n"
    "                    knows drawings, icons and photos: 'default', 'none', or\n"
    "                    NAME=X items, e.g. default,flip=0 or outline=0.2,rotate=10:\n"
    "                    style (probabilities): outline, silhouette, flat, posterize;\n"
    "                    geometry: scale=F, squeeze=F (+-F), rotate=DEG, shift=PX,\n"
    "                    flip=P; intensity (probabilities): blur, gamma, contrast,\n"
    "                    noise. default is\n"
    "                    " AUGMENT_DEFAULT_STYLE ",\n"
    "                    " AUGMENT_DEFAULT_GEOMETRY ",\n"
    "                    " AUGMENT_DEFAULT_INTENSITY "\n"
    "  --preset best     the tuned recipe: --epochs 40 --lr 0.001 --weight-decay 0.05\n"
    "                    --dropout 0.2 --schedule cosine --label-smoothing 0.1\n"
    "                    --ema 0.999 --val 5000 --keep best (options given too win)\n"
    "  --preset robust   the recipe for people's own pictures: --preset best with\n"
    "                    --dropout 0.1 --augment default\n"
    "\n"
    "The test set never chooses anything: validation images do.\n"
    "Ctrl-C or SIGTERM stops after the current step and saves a checkpoint\n"
    "(weights, optimiser state, position, generator) to FILE.ckpt, exit status\n"
    "130 or 143; --resume then ends with the model an uninterrupted run gives.\n";

static const char usage_eval[] =
    "usage: fmnist eval [OPTIONS]\n"
    "\n"
    "Evaluates a model on the 10,000 test images: accuracy with its standard\n"
    "error, mean loss, per-class precision and recall, confusion matrix.\n"
    "\n"
    "  --data DIR        where the data set is (default: searched, see fmnist --help)\n"
    "  --model FILE      the model (default fmnist.model)\n"
    "  --threads N       threads to use (default: every CPU available)\n"
    "  --json            one JSON object on stdout\n"
    "  --errors FILE.png a sheet of the misclassified test images, grouped by\n"
    "                    true class, each labelled with the class it was taken for\n"
    "  --confusion FILE.png\n"
    "                    the confusion matrix as a heat map, with class names\n";

static const char usage_classify[] =
    "usage: fmnist classify [OPTIONS] IMAGE.png...\n"
    "\n"
    "Classifies pictures (any PNG: gray, color, palette, alpha, 8 or 16 bits,\n"
    "interlaced, any size up to 50 megapixels; - reads standard input). Each is\n"
    "turned into what the network saw in training: the item (what differs from\n"
    "the border's colour, and everything it encloses) cropped, scaled to fill\n"
    "28x28 along its longest side, centred, light on black. For drawings and\n"
    "photos of your own, use a model trained with --preset robust.\n"
    "\n"
    "  --model FILE      the model (default fmnist.model)\n"
    "  --top K           classes to list per image, 1..10 (default 3)\n"
    "  --invert MODE     auto (default: ink is what differs from the background),\n"
    "                    yes (ink is darkness), no (ink is lightness)\n"
    "  --threads N       threads to use (default: every CPU available)\n"
    "  --json            one JSON object per image on stdout\n"
    "  --show FILE.png   write the 28x28 image the network received, enlarged\n"
    "                    10x; with several images FILE needs a %d, replaced by\n"
    "                    the image's number (1, 2, ...): --show seen-%d.png\n"
    "  --ascii           print the image the network received as text\n";

static const char usage_export[] =
    "usage: fmnist export [OPTIONS] --index N\n"
    "\n"
    "Writes image N of the data set as a 28x28 gray PNG, to try classify on.\n"
    "\n"
    "  --data DIR        where the data set is (default: searched, see fmnist --help)\n"
    "  --split S         test (default) or train\n"
    "  --index N         which image, from 0\n"
    "  -o FILE.png       output (default SPLIT-INDEX-CLASS.png)\n";

static const char usage_convert[] =
    "usage: fmnist convert [--model FILE] -o OUT\n"
    "\n"
    "Writes a model in the format OUT's extension names:\n"
    "  OUT.onnx          ONNX (opset 13): input \"pixels\" [N, 784] float, 0..255\n"
    "                    (28x28 gray, row-major, light item on black), normalised\n"
    "                    in the graph; output \"log_probs\" [N, 10]\n"
    "  OUT.safetensors   the tutorial Classifier's state_dict: fc1.weight (256, 784),\n"
    "                    fc1.bias, ..., fc4.bias, F32, with the model's metadata\n"
    "  OUT.model         an fmnist model file\n"
    "\n"
    "  --model FILE      the model to read (default fmnist.model): an fmnist model\n"
    "                    file, or safetensors when FILE ends in .safetensors\n"
    "  -o OUT            the file to write (replaced only when all went well)\n";

static const char *usage_of(enum cli_command c)
{
    switch (c) {
    case CLI_TRAIN: return usage_train;
    case CLI_EVAL: return usage_eval;
    case CLI_CLASSIFY: return usage_classify;
    case CLI_EXPORT: return usage_export;
    case CLI_CONVERT: return usage_convert;
    default: return usage_main;
    }
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

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
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
        fprintf(stderr, "fmnist: FMNIST_KERNEL=%s: unknown or not supported by this CPU\n", name);
        return EXIT_USAGE;
    }
    int n = threads > 0 ? threads : pool_cpu_count();
    if (pool_create(&rt->pool, n, ftz, &e))
        return report(&e);
    return EXIT_OK;
}

static void runtime_close(runtime *rt)
{
    pool_destroy(rt->pool);
    rt->pool = NULL;
}

static int load_split(const cli_opts *o, enum idx_split split, idx_set *out, char *where,
                      size_t cap)
{
    char img[4096], lab[4096];
    fm_err e;
    if (idx_locate(o->data, getenv("FMNIST_DATA"), getenv("HOME"), split, img, lab, sizeof img,
                   &e))
        return report_data(&e);
    if (idx_load(img, lab, out, &e))
        return report(&e);
    if (where)
        snprintf(where, cap, "%s", img);
    return EXIT_OK;
}

/* ---- train ---- */

typedef struct progress {
    int tty, quiet, json;
    double last_draw;
    long steps, stop_after; /* FMNIST_STOP_AFTER_STEP: a test raises SIGINT there */
} progress;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void on_step(void *ctx, const train_status *s)
{
    progress *pr = ctx;
    if (++pr->steps == pr->stop_after)
        raise(SIGINT);
    if (pr->quiet || !pr->tty)
        return;
    double t = now();
    if (s->step != s->steps && t - pr->last_draw < 0.1)
        return;
    pr->last_draw = t;
    double frac = (double)s->step / (double)s->steps;
    double rate = s->seconds > 0 ? (double)s->images / s->seconds : 0;
    double eta = frac > 0 ? s->seconds * (1 - frac) / frac : 0;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %ld/%ld  loss %.4f  %.0f img/s  ETA %.1fs", s->epoch,
            s->epochs, bar, s->step, s->steps, s->loss, rate, eta);
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
        printf("{\"epoch\":%d,\"train_loss\":%.6f,\"train_accuracy\":%.6f,", s->epoch, s->loss,
               s->accuracy);
        if (s->val_accuracy >= 0)
            printf("\"val_loss\":%.6f,\"val_accuracy\":%.6f,\"best\":%s,", s->val_loss,
                   s->val_accuracy, s->best ? "true" : "false");
        printf("\"test_accuracy\":%.6f,\"test_loss\":%.6f,\"lr\":%.6g,\"seconds\":%.3f,"
               "\"train_seconds\":%.3f}\n",
               s->test_accuracy, s->test_loss, s->lr, s->seconds, s->train_seconds);
    } else {
        printf("epoch %d/%d  train loss %.4f  train acc %.2f%%", s->epoch, s->epochs, s->loss,
               100 * s->accuracy);
        if (s->val_accuracy >= 0)
            printf("  val acc %.2f%%%s", 100 * s->val_accuracy, s->best ? "*" : " ");
        printf("  test acc %.2f%%  %.2f s\n", 100 * s->test_accuracy, s->seconds);
    }
    fflush(stdout);
}

/* Set by SIGINT/SIGTERM; training stops after the current step. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* The first Ctrl-C or SIGTERM asks for a clean stop with a checkpoint; the
 * handler then resets, so a second one kills at once (the files on disk are
 * still whole: every save is atomic). */
static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void checkpoint_path(char *buf, size_t cap, const char *model)
{
    snprintf(buf, cap, "%s.ckpt", model);
}

/* Loads a checkpoint and checks it against the options given with --resume.
 * Fills net, state and cfg from it. Returns an exit status. */
static int load_checkpoint(const cli_opts *o, const char *path, mlp *net, train_state *st,
                           train_config *cfg)
{
    fm_err e;
    char *meta = NULL;
    float *blocks = NULL;
    int nblocks = 0, rc = EXIT_OK;
    if (model_load(path, net, &meta, &blocks, &nblocks, &e)) {
        report(&e);
        if (e.code == FM_ENOTFOUND)
            fprintf(stderr, "HINT: --resume continues a run stopped with Ctrl-C or SIGTERM, "
                            "which saves %s\n", path);
        return EXIT_FAIL;
    }
    memset(st, 0, sizeof *st);
    train_config c;
    mlp want = {.nlayers = 4};
    memcpy(want.width, mlp_fmnist_widths, sizeof mlp_fmnist_widths);
    if (!mlp_same_shape(net, &want)) {
        fprintf(stderr, "fmnist: %s: not a checkpoint of fmnist's network\n", path);
        rc = EXIT_FAIL;
        goto out;
    }
    if (train_config_from_meta(&c, meta, &e) || train_state_from_meta(st, &c, meta, &e) ||
        nblocks != train_state_blocks(&c)) {
        if (!e.msg[0] || nblocks != train_state_blocks(&c))
            snprintf(e.msg, sizeof e.msg, "not a training checkpoint");
        fm_in_file(&e, FM_EFORMAT, path);
        rc = report(&e);
        goto out;
    }
    /* Options given again must agree, except --epochs, which may extend the run. */
    unsigned must_match = o->given & ~(unsigned)CLI_GIVEN_EPOCHS;
    train_config g = o->train;
    g.epochs = c.epochs;
    char have[512], asked[512];
    have[0] = asked[0] = 0;
    train_config_to_meta(&c, have, sizeof have);
    train_config_to_meta(&g, asked, sizeof asked);
    if (must_match && strcmp(have, asked) != 0) {
        for (char *q = have; (q = strchr(q, '\n'));)
            *q = ' ';
        fprintf(stderr, "fmnist: %s: was made with %s; --resume continues with those\n", path,
                have);
        rc = EXIT_USAGE;
        goto out;
    }
    if (o->given & CLI_GIVEN_EPOCHS)
        c.epochs = o->train.epochs;
    if (st->epoch >= c.epochs) {
        fprintf(stderr, "fmnist: %s: already %d epochs in; give --epochs N with N > %d\n", path,
                st->epoch, st->epoch);
        rc = EXIT_USAGE;
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
    rng r;
    rng_seed(&r, cfg.seed);
    int rc;
    if (o->resume) {
        if ((rc = load_checkpoint(o, ckpt, &net, &resume, &cfg)))
            return rc;
    } else {
        if (mlp_create(&net, 4, mlp_fmnist_widths, &e))
            return report(&e);
        mlp_init_params(&net, &r);
    }
    idx_set train = {0}, test = {0};
    runtime rt = {0};
    if ((rc = load_split(o, IDX_TRAIN, &train, NULL, 0)) ||
        (rc = load_split(o, IDX_TEST, &test, NULL, 0)) ||
        (rc = runtime_open(&rt, o->threads, 1)))
        goto out;
    if (cfg.val >= train.n) {
        fprintf(stderr, "fmnist: --val: %u leaves no training images (the training set has %u)\n",
                cfg.val, train.n);
        rc = EXIT_USAGE;
        goto out;
    }
    progress pr = {isatty(STDERR_FILENO), o->quiet, o->json, 0, 0, 0};
    const char *stop_at = getenv("FMNIST_STOP_AFTER_STEP");
    pr.stop_after = stop_at && *stop_at ? atol(stop_at) : 0;
    train_hooks hooks = {on_step, on_epoch, &pr, &stop_signal};
    train_result res;
    catch_stop_signals();
    rc = train_run(&net, &r, &train, &test, &cfg, rt.pool, rt.kernel, &hooks,
                   o->resume ? &resume : NULL, &stopped, &res, &e);
    if (rc && pr.tty && !pr.quiet)
        fprintf(stderr, "\r\033[K");
    if (rc == FM_EINTR) {
        int sig = stop_signal ? stop_signal : SIGINT;
        char meta[4096] = "";
        meta_append(meta, sizeof meta, "fmnist_version", "%s", FMNIST_VERSION);
        train_config_to_meta(&cfg, meta, sizeof meta);
        train_state_to_meta(&stopped, &cfg, meta, sizeof meta);
        if (model_save(ckpt, &net, meta, stopped.blocks, stopped.nblocks, &e)) {
            rc = report(&e);
            goto out;
        }
        fprintf(stderr, "fmnist: %s: %s; checkpoint saved to %s\n"
                        "HINT: continue with 'fmnist train --resume%s%s'\n",
                sig == SIGTERM ? "terminated" : "interrupted", e.msg, ckpt,
                strcmp(o->model, "fmnist.model") ? " --model " : "",
                strcmp(o->model, "fmnist.model") ? o->model : "");
        rc = 128 + sig;
        goto out;
    }
    if (rc) {
        rc = report(&e);
        if (e.code == FM_ENUMERIC)
            fprintf(stderr, "fmnist: %s: not written; the previous file, if any, is unchanged\n",
                    o->model);
        goto out;
    }
    char meta[4096] = "";
    meta_append(meta, sizeof meta, "fmnist_version", "%s", FMNIST_VERSION);
    train_config_to_meta(&cfg, meta, sizeof meta);
    if (o->preset)
        meta_append(meta, sizeof meta, "preset", "%s", o->preset);
    meta_append(meta, sizeof meta, "train_images", "%u", train.n - cfg.val);
    if (res.epochs_run != cfg.epochs)
        meta_append(meta, sizeof meta, "epochs_run", "%d", res.epochs_run);
    if (cfg.val) {
        meta_append(meta, sizeof meta, "best_epoch", "%d", res.best_epoch);
        meta_append(meta, sizeof meta, "val_accuracy", "%.4f", res.val_accuracy);
    }
    meta_append(meta, sizeof meta, "test_accuracy", "%.4f", res.test_accuracy);
    if (model_save(o->model, &net, meta, NULL, 0, &e)) {
        rc = report(&e);
        goto out;
    }
    if (o->resume)
        unlink(ckpt); /* used up */
    if (!o->quiet) {
        if (cfg.keep == KEEP_BEST)
            fprintf(stderr, "saved %s: epoch %d, the best on validation (%.2f%%); test accuracy %.2f%%\n",
                    o->model, res.best_epoch, 100 * res.val_accuracy, 100 * res.test_accuracy);
        else
            fprintf(stderr, "saved %s (test accuracy %.2f%%)\n", o->model, 100 * res.test_accuracy);
    }
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

/* Loads a model and checks it is fmnist's network. */
static int load_model(const char *path, mlp *net, char **meta)
{
    fm_err e;
    if (model_load(path, net, meta, NULL, NULL, &e)) {
        report(&e);
        if (e.code == FM_ENOTFOUND)
            fprintf(stderr, "HINT: train one first with 'fmnist train', or pass --model FILE\n");
        return EXIT_FAIL;
    }
    mlp want;
    want.nlayers = 4;
    memcpy(want.width, mlp_fmnist_widths, sizeof mlp_fmnist_widths);
    if (!mlp_same_shape(net, &want)) {
        char shape[128] = "";
        for (int l = 0; l <= net->nlayers; l++) {
            size_t n = strlen(shape);
            snprintf(shape + n, sizeof shape - n, "%s%d", l ? "-" : "", net->width[l]);
        }
        fprintf(stderr, "fmnist: %s: a %s network; fmnist uses 784-256-128-64-10\n", path, shape);
        mlp_free(net);
        free(*meta);
        *meta = NULL;
        return EXIT_FAIL;
    }
    return EXIT_OK;
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
        printf("wrote %s: %s (%dx%d)\n", path, what, c->w, c->h);
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

static int cmd_eval(const cli_opts *o)
{
    mlp net;
    char *meta = NULL;
    int rc = load_model(o->model, &net, &meta);
    if (rc)
        return rc;
    idx_set test = {0};
    char where[4096];
    if ((rc = load_split(o, IDX_TEST, &test, where, sizeof where))) {
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
    double acc = (double)r.correct / (double)r.n;
    double se = sqrt(acc * (1 - acc) / (double)r.n);
    if (o->json) {
        printf("{\"accuracy\":%.6f,\"accuracy_stderr\":%.6f,\"correct\":%ld,\"n\":%ld,\"loss\":%.6f,",
               acc, se, r.correct, r.n, r.loss);
        printf("\"model\":");
        json_str(stdout, o->model);
        printf(",\"meta\":");
        print_meta_json(meta);
        printf(",\"per_class\":[");
        for (int c = 0; c < IDX_CLASSES; c++) {
            printf("%s{\"label\":%d,\"name\":", c ? "," : "", c);
            json_str(stdout, fmnist_class_names[c]);
            printf(",\"precision\":%.6f,\"recall\":%.6f}", eval_precision(&r, c),
                   eval_recall(&r, c));
        }
        printf("],\"confusion\":[");
        for (int t = 0; t < IDX_CLASSES; t++) {
            printf("%s[", t ? "," : "");
            for (int p = 0; p < IDX_CLASSES; p++)
                printf("%s%ld", p ? "," : "", r.confusion[t][p]);
            printf("]");
        }
        printf("]}\n");
    } else {
        char ep[32] = "?", lr[32] = "?", seed[32] = "?", opts[512] = "";
        meta_get(meta, "epochs", ep, sizeof ep);
        meta_get(meta, "lr", lr, sizeof lr);
        meta_get(meta, "seed", seed, sizeof seed);
        printf("model:    %s (784-256-128-64-10; epochs %s, lr %s, seed %s)\n", o->model, ep, lr,
               seed);
        train_config tc;
        if (!train_config_from_meta(&tc, meta, NULL))
            train_config_describe(&tc, opts, sizeof opts);
        if (opts[0]) {
            char be[32] = "";
            meta_get(meta, "best_epoch", be, sizeof be);
            printf("options:  %s%s%s\n", opts, be[0] ? "; kept epoch " : "", be);
        }
        printf("test set: %s (%ld images)\n", where, r.n);
        printf("accuracy: %.2f%% +- %.2f%% (%ld of %ld)\n", 100 * acc, 100 * se, r.correct, r.n);
        printf("loss:     %.4f (mean NLL)\n\n", r.loss);
        printf("   class         precision  recall\n");
        for (int c = 0; c < IDX_CLASSES; c++)
            printf("   %d %-12s  %6.2f%%   %6.2f%%\n", c, fmnist_class_names[c],
                   100 * eval_precision(&r, c), 100 * eval_recall(&r, c));
        printf("\nconfusion matrix (rows: true class, columns: predicted)\n");
        printf("%-13s", "");
        for (int p = 0; p < IDX_CLASSES; p++)
            printf(" %5.5s", fmnist_class_names[p]);
        printf("\n");
        for (int t = 0; t < IDX_CLASSES; t++) {
            printf("%-13s", fmnist_class_names[t]);
            for (int p = 0; p < IDX_CLASSES; p++)
                printf(" %5ld", r.confusion[t][p]);
            printf("\n");
        }
    }
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
        snprintf(how, sizeof how, "the item's %dx%d box at %d,%d of %dx%d, scaled and centred; %s%s",
                 info->box_w, info->box_h, info->box_x, info->box_y, w, h,
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

static int cmd_classify(const cli_opts *o)
{
    mlp net;
    char *meta = NULL;
    int rc = load_model(o->model, &net, &meta);
    if (rc)
        return rc;
    free(meta);
    runtime rt;
    if ((rc = runtime_open(&rt, o->threads, 0))) {
        mlp_free(&net);
        return rc;
    }
    fm_err e;
    mlp_work w;
    if (mlp_work_create(&w, &net, 1, 0, &e)) {
        rc = report(&e);
        goto out;
    }
    int failures = 0;
    for (int f = 0; f < o->nfiles; f++) {
        const char *path = o->files[f];
        const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
        image img;
        uint8_t in[IDX_PIXELS];
        image_prep_info info;
        int pic_w = 0, pic_h = 0;
        int bad = image_read_png(path, &img, &e);
        if (!bad) {
            pic_w = img.w;
            pic_h = img.h;
            bad = image_prepare(&img, o->invert, in, &info, &e);
            image_free(&img);
        }
        if (bad) {
            report(&e);
            failures++;
            continue;
        }
        if (info.empty)
            fprintf(stderr, "fmnist: %s: nothing stands out from the background; "
                            "classified a blank image\n", name);
        mlp_gather(&net, &w, rt.pool, rt.kernel, in, NULL, NULL, 1);
        mlp_forward(&net, &w, rt.pool, rt.kernel);
        const float *lp = w.actT[net.nlayers];
        int order[IDX_CLASSES];
        for (int c = 0; c < IDX_CLASSES; c++)
            order[c] = c;
        /* Stable selection by probability, ties to the lower label. */
        for (int i = 0; i < IDX_CLASSES; i++)
            for (int j = i + 1; j < IDX_CLASSES; j++)
                if (lp[order[j]] > lp[order[i]]) {
                    int t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
        if (o->json) {
            printf("{\"file\":");
            json_str(stdout, name);
            printf(",\"label\":%d,\"name\":", order[0]);
            json_str(stdout, fmnist_class_names[order[0]]);
            printf(",\"probability\":%.6f,\"top\":[", exp(lp[order[0]]));
            for (int k = 0; k < o->top; k++) {
                printf("%s{\"label\":%d,\"name\":", k ? "," : "", order[k]);
                json_str(stdout, fmnist_class_names[order[k]]);
                printf(",\"probability\":%.6f}", exp(lp[order[k]]));
            }
            printf("]}\n");
        } else {
            printf("%s: %s (%.1f%%)", name, fmnist_class_names[order[0]],
                   100 * exp(lp[order[0]]));
            for (int k = 1; k < o->top; k++)
                printf("%s%s %.1f%%", k == 1 ? "; then " : ", ", fmnist_class_names[order[k]],
                       100 * exp(lp[order[k]]));
            printf("\n");
        }
        if (o->ascii)
            print_seen(in, &info, pic_w, pic_h);
        fflush(stdout);
        if (o->show && show_input(o->show, f + 1, in))
            failures++;
    }
    mlp_work_free(&w);
    rc = failures ? EXIT_FAIL : EXIT_OK;
out:
    runtime_close(&rt);
    mlp_free(&net);
    return rc;
}

/* ---- export ---- */

static int cmd_export(const cli_opts *o)
{
    idx_set d = {0};
    int rc = load_split(o, (enum idx_split)o->split, &d, NULL, 0);
    if (rc)
        return rc;
    const char *split = o->split == IDX_TRAIN ? "train" : "test";
    if ((uint32_t)o->index >= d.n) {
        fprintf(stderr, "fmnist: --index: %ld is past the last %s image (%u)\n", o->index, split,
                d.n - 1);
        idx_free(&d);
        return EXIT_USAGE;
    }
    int label = d.labels[o->index];
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
    fm_err e;
    if (image_write_gray_png(out, d.images + (size_t)o->index * IDX_PIXELS, IDX_COLS, IDX_ROWS,
                             &e))
        rc = report(&e);
    else
        printf("%s: %s image %ld, label %d (%s)\n", out, split, o->index, label, cn);
    idx_free(&d);
    return rc;
}

/* ---- convert ---- */

static int cmd_convert(const cli_opts *o)
{
    static const char *const names[] = {"", "fmnist model", "ONNX", "safetensors"};
    mlp net;
    char *meta;
    fm_err e;
    if (convert_load(o->model, &net, &meta, &e))
        return report(&e);
    int rc = EXIT_OK;
    if (convert_save(o->output, &net, meta, &e)) {
        rc = report(&e);
    } else {
        printf("%s: %s, ", o->output, names[convert_format_of(o->output)]);
        for (int l = 0; l <= net.nlayers; l++)
            printf("%d%s", net.width[l], l < net.nlayers ? "-" : "");
        printf(", %zu parameters from %s\n", net.nparams, o->model);
    }
    mlp_free(&net);
    free(meta);
    return rc;
}

int main(int argc, char **argv)
{
    cli_opts o;
    fm_err e;
    if (cli_parse(argc, argv, &o, &e)) {
        if (e.file[0])
            fprintf(stderr, "fmnist: %s: %s\n", e.file, e.msg);
        else
            fprintf(stderr, "fmnist: %s\n", e.msg);
        if (o.command >= CLI_TRAIN && o.command <= CLI_CONVERT)
            fprintf(stderr, "Try 'fmnist %s --help'.\n", cli_command_name(o.command));
        else
            fprintf(stderr, "Try 'fmnist --help'.\n");
        return EXIT_USAGE;
    }
    if (o.command == CLI_HELP || o.help) {
        fputs(usage_of(o.help ? o.command : CLI_NONE), stdout);
        return EXIT_OK;
    }
    switch (o.command) {
    case CLI_VERSION: {
        const kernel_impl *k = kernel_find(NULL);
        printf("fmnist %s (kernels: %s; model format %d)\n", FMNIST_VERSION, k ? k->name : "?",
               MODEL_FORMAT);
        return EXIT_OK;
    }
    case CLI_TRAIN: return cmd_train(&o);
    case CLI_EVAL: return cmd_eval(&o);
    case CLI_CLASSIFY: return cmd_classify(&o);
    case CLI_EXPORT: return cmd_export(&o);
    case CLI_CONVERT: return cmd_convert(&o);
    default: break;
    }
    fputs(usage_main, stderr);
    return EXIT_USAGE;
}
