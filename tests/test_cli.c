/* test_cli.c: the built binary end to end on data/sample: train, eval,
 * export, classify; reproducibility across seeds and thread counts; and
 * every usage error giving status 2. */
#include "testutil.h"

#include "cli.h"
#include "eval.h"
#include "idx.h"
#include "image.h"
#include "prep.h"
#include "model_file.h"

static char *T; /* a temporary directory for the whole run */

static int setup(void **state)
{
    (void)state;
    T = tu_tmpdir();
    char *out, *err;
    /* One model shared by the tests below. */
    int rc = tu_fmnist(&out, &err, "train --data data/sample --epochs 2 --seed 3 --model %s/m.model", T);
    if (rc != 0)
        fprintf(stderr, "train failed (%d): %s\n", rc, err);
    free(out);
    free(err);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(T);
    return 0;
}

static void test_train_output(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "train --data data/sample --epochs 2 --model %s/t.model", T), 0);
    assert_non_null(strstr(out, "epoch 1/2  train loss "));
    assert_non_null(strstr(out, "epoch 2/2  train loss "));
    assert_non_null(strstr(out, "test acc "));
    assert_non_null(strstr(err, "saved "));
    /* Piped stderr: one progress line per epoch. */
    assert_non_null(strstr(err, "epoch 1/2: 32 steps, "));
    assert_non_null(strstr(err, " images/s\n"));
    free(out), free(err);

    /* --json: only JSON objects on stdout, one per epoch. */
    assert_int_equal(tu_fmnist(&out, &err, "train --data data/sample --epochs 2 --json --model %s/t.model", T), 0);
    char *line = out;
    int lines = 0;
    for (char *nl; (nl = strchr(line, '\n')); line = nl + 1, lines++) {
        assert_true(line[0] == '{' && nl[-1] == '}');
        assert_non_null(strstr(line, "\"train_loss\":"));
        assert_non_null(strstr(line, "\"train_accuracy\":"));
        assert_non_null(strstr(line, "\"test_accuracy\":"));
        assert_non_null(strstr(line, "\"seconds\":"));
    }
    assert_int_equal(lines, 2);
    assert_non_null(strstr(out, "{\"format\":1,\"epoch\":2,"));
    free(out), free(err);
    /* --quiet: nothing on stderr. */
    assert_int_equal(tu_fmnist(&out, &err, "train --data data/sample --epochs 1 --quiet --model %s/t.model", T), 0);
    assert_string_equal(err, "");
    free(out), free(err);
}

static void test_same_seed_same_file(void **state)
{
    (void)state;
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s/s1.model", T);
    for (int t = 1; t <= 3; t++) {
        snprintf(b, sizeof b, "%s/s%d.model", T, t);
        assert_int_equal(tu_fmnist(NULL, NULL, "train --data data/sample --epochs 1 --seed 11 --threads %d --quiet --model %s", t, b), 0);
        if (t > 1 && !tu_same_file(a, b))
            fail_msg("--threads %d gave a different model file from --threads 1", t);
    }
    snprintf(b, sizeof b, "%s/s12.model", T);
    assert_int_equal(tu_fmnist(NULL, NULL, "train --data data/sample --epochs 1 --seed 12 --quiet --model %s", b), 0);
    assert_false(tu_same_file(a, b));
}

static void test_eval(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "eval --data data/sample --model %s/m.model", T), 0);
    assert_non_null(strstr(out, "accuracy: "));
    assert_non_null(strstr(out, "(1000 images)"));
    assert_non_null(strstr(out, "Ankle boot"));
    assert_non_null(strstr(out, "confusion matrix"));
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "eval --data data/sample --model %s/m.model --json", T), 0);
    assert_true(out[0] == '{');
    assert_non_null(strstr(out, "\"accuracy\":0."));
    assert_non_null(strstr(out, "\"loss\":"));
    assert_non_null(strstr(out, "\"n\":1000"));
    assert_non_null(strstr(out, "\"per_class\":[{\"label\":0,\"name\":\"T-shirt/top\",\"precision\":"));
    assert_non_null(strstr(out, "\"confusion\":[["));
    assert_non_null(strstr(out, "\"seed\":3"));
    free(out), free(err);
}

/* eval's prediction for test image i: evaluate a one-image test set and
 * read the confusion matrix. */
static int eval_prediction(int i)
{
    char dir[4200], p[4400];
    snprintf(dir, sizeof dir, "%s/one%d", T, i);
    mkdir(dir, 0755);
    idx_set s;
    assert_int_equal(idx_load("data/sample/t10k-images-idx3-ubyte.gz",
                              "data/sample/t10k-labels-idx1-ubyte.gz", &s, NULL), FM_OK);
    uint8_t img[16 + IDX_PIXELS] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28};
    uint8_t lab[9] = {0, 0, 8, 1, 0, 0, 0, 1, s.labels[i]};
    memcpy(img + 16, s.images + (size_t)i * IDX_PIXELS, IDX_PIXELS);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", dir);
    tu_write(p, img, sizeof img);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", dir);
    tu_write(p, lab, sizeof lab);
    char *out;
    assert_int_equal(tu_fmnist(&out, NULL, "eval --data %s --model %s/m.model --json", dir, T), 0);
    /* The true label's row holds a single 1, in the predicted column. */
    char *row = strstr(out, "\"confusion\":[") + 13;
    for (int r = 0; r < s.labels[i]; r++)
        row = strchr(row, ']') + 2;
    int pred = -1;
    for (int c = 0; c < 10; c++) {
        row++; /* '[' or ',' */
        if (*row == '1')
            pred = c;
        while (*row != ',' && *row != ']')
            row++;
    }
    free(out);
    idx_free(&s);
    return pred;
}

/* A one-image test set: every class but the image's has no recall (none
 * present) and every class but the predicted one no precision (none
 * predicted), 0 of 0: "-" in text and null in JSON, never 0. */
static void test_eval_undefined_precision_recall(void **state)
{
    (void)state;
    int pred = eval_prediction(0);
    idx_set s;
    assert_int_equal(idx_load("data/sample/t10k-images-idx3-ubyte.gz",
                              "data/sample/t10k-labels-idx1-ubyte.gz", &s, NULL), FM_OK);
    int label = s.labels[0];
    idx_free(&s);
    char *out, line[128];
    assert_int_equal(tu_fmnist(&out, NULL, "eval --data %s/one0 --model %s/m.model", T, T), 0);
    for (int c = 0; c < 10; c++) {
        snprintf(line, sizeof line, "   %d %-12s  %7s   %7s\n", c, fmnist_class_names[c],
                 c == pred ? (pred == label ? "100.00%" : "0.00%") : "-",
                 c == label ? (pred == label ? "100.00%" : "0.00%") : "-");
        if (!strstr(out, line))
            fail_msg("no line '%s' in:\n%s", line, out);
    }
    free(out);
    assert_int_equal(tu_fmnist(&out, NULL, "eval --data %s/one0 --model %s/m.model --json", T, T),
                     0);
    for (int c = 0; c < 10; c++) {
        snprintf(line, sizeof line, "\"label\":%d,\"name\":\"%s\",\"precision\":%s,\"recall\":%s}",
                 c, fmnist_class_names[c],
                 c == pred ? (pred == label ? "1.000000" : "0.000000") : "null",
                 c == label ? (pred == label ? "1.000000" : "0.000000") : "null");
        if (!strstr(out, line))
            fail_msg("no '%s' in:\n%s", line, out);
    }
    free(out);
}

static void test_export_then_classify_agrees_with_eval(void **state)
{
    (void)state;
    char *out, *err;
    char files[4096] = "";
    for (int i = 0; i < 6; i++) {
        char png[4300];
        snprintf(png, sizeof png, "%s/x%d.png", T, i);
        assert_int_equal(tu_fmnist(&out, &err, "export --data data/sample --index %d -o %s", i, png), 0);
        assert_non_null(strstr(out, "test image"));
        free(out), free(err);
        strcat(files, " ");
        strcat(files, png);
    }
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s/m.model --json%s", T, files), 0);
    char *line = out;
    for (int i = 0; i < 6; i++) {
        char *lp = strstr(line, "\"label\":");
        assert_non_null(lp);
        int label = atoi(lp + 8);
        int want = eval_prediction(i);
        if (label != want)
            fail_msg("test image %d: classify says %d, eval %d", i, label, want);
        assert_non_null(strstr(line, "\"top\":[{"));
        line = strchr(line, '\n') + 1;
    }
    free(out), free(err);
    /* The default name, and standard input. */
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cd %s && %s%s export --data %s/data/sample --index 0", T,
             tu_bin()[0] == '/' ? "" : "$OLDPWD/", tu_bin(), getenv("PWD"));
    assert_int_equal(tu_run(cmd, &out, &err), 0);
    assert_non_null(strstr(out, "test-0-ankle-boot.png"));
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s/m.model --top 2 - < %s/test-0-ankle-boot.png", T, T), 0);
    assert_non_null(strstr(out, "<stdin>: "));
    assert_non_null(strstr(out, "; then "));
    free(out), free(err);
}

static void test_classify_bad_file_does_not_stop_the_rest(void **state)
{
    (void)state;
    char *out, *err, bad[4200];
    snprintf(bad, sizeof bad, "%s/bad.png", T);
    tu_write(bad, "not a png", 9);
    assert_int_equal(tu_fmnist(&out, &err, "export --data data/sample --index 1 -o %s/good.png", T), 0);
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "classify --model %s/m.model %s %s/good.png", T, bad, T), 1);
    assert_non_null(strstr(err, "bad.png: not a picture fmnist knows; it reads PNG and JPEG"));
    assert_non_null(strstr(out, "good.png: "));
    free(out), free(err);
}

/* classify --threads N: N threads take the pictures, and what it prints
 * (stdout, stderr, the status, the --show files) is exactly what one
 * thread prints: over a block boundary (64), with failures and blanks. */
static void test_classify_threads_same_output(void **state)
{
    (void)state;
    char list[32768] = "", *out[2], *err[2], bad[4200];
    snprintf(bad, sizeof bad, "%s/bad.png", T);
    tu_write(bad, "not a png", 9);
    size_t len = 0;
    for (int i = 0; i < 70; i++) {
        if (i % 9 == 4)
            len += (size_t)snprintf(list + len, sizeof list - len, " %s/bad.png", T);
        else
            len += (size_t)snprintf(list + len, sizeof list - len, " tests/fixtures/%s",
                                    i % 3 ? "depth-gray8.png" : "depth-gray1.png");
    }
    int rc[2];
    for (int t = 0; t < 2; t++)
        rc[t] = tu_fmnist(&out[t], &err[t], "classify --json --top 10 --threads %d --model "
                                            "%s/m.model --show %s/seen%d-%%d.png%s",
                          t ? 2 : 1, T, T, t, list);
    assert_int_equal(rc[0], 1); /* bad.png */
    assert_int_equal(rc[1], rc[0]);
    assert_string_equal(out[1], out[0]);
    assert_string_equal(err[1], err[0]);
    for (int i = 1; i <= 70; i += 13) {
        char a[4300], b[4300];
        snprintf(a, sizeof a, "%s/seen0-%d.png", T, i);
        snprintf(b, sizeof b, "%s/seen1-%d.png", T, i);
        size_t na = 0, nb = 0;
        uint8_t *da = tu_read(a, &na), *db = tu_read(b, &nb);
        assert_true(i % 9 == 5 ? !da && !db : da && db && na == nb && !memcmp(da, db, na));
        free(da), free(db);
    }
    for (int t = 0; t < 2; t++)
        free(out[t]), free(err[t]);
}

static void test_runtime_errors(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "eval --data data/sample --model %s/none.model", T), 1);
    assert_non_null(strstr(err, "none.model: cannot open: No such file or directory"));
    assert_non_null(strstr(err, "HINT: train one first"));
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "train --data %s/nowhere --model %s/x.model", T, T), 1);
    assert_non_null(strstr(err, "fmnist: train-images-idx3-ubyte: not found"));
    assert_non_null(strstr(err, "apt-get install dataset-fashion-mnist"));
    free(out), free(err);
    /* A model file of garbage: one clear line, status 1. */
    char p[4200];
    snprintf(p, sizeof p, "%s/garbage.model", T);
    tu_write(p, "hello world, not a model", 24);
    assert_int_equal(tu_fmnist(&out, &err, "eval --data data/sample --model %s", p), 1);
    assert_non_null(strstr(err, "garbage.model: not an fmnist model file"));
    free(out), free(err);
    /* A model file of another architecture: refused by name. */
    mlp other;
    const int widths[] = {784, 32, 10};
    assert_int_equal(mlp_create(&other, 2, widths, NULL), FM_OK);
    snprintf(p, sizeof p, "%s/other.model", T);
    assert_int_equal(model_save(p, &other, "epochs=1\n", NULL, 0, NULL), FM_OK);
    mlp_free(&other);
    assert_int_equal(tu_fmnist(&out, &err, "eval --data data/sample --model %s", p), 1);
    assert_non_null(strstr(err, "other.model: a 784-32-10 network; fmnist uses 784-256-128-64-10"));
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "export --data data/sample --index 1000"), 2);
    assert_non_null(strstr(err, "past the last test image (999)"));
    free(out), free(err);
}

/* train reads its two splits at once; what it reports does not change: a
 * bad training split first, else the bad test split, one line each. */
static void test_train_split_errors(void **state)
{
    (void)state;
    static const char *names[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    char dir[4200], from[4400], to[4400];
    snprintf(dir, sizeof dir, "%s/splits", T);
    mkdir(dir, 0755);
    for (int bad = 0; bad < 3; bad++) { /* 0: test images, 1: train images, 2: both */
        for (int i = 0; i < 4; i++) {
            snprintf(from, sizeof from, "data/sample/%s", names[i]);
            snprintf(to, sizeof to, "%s/%s", dir, names[i]);
            size_t n = 0;
            uint8_t *b = tu_read(from, &n);
            assert_non_null(b);
            int cut = (i == 2 && bad != 1) || (i == 0 && bad != 0);
            tu_write(to, b, cut ? n / 2 : n);
            free(b);
        }
        char *out, *err;
        assert_int_equal(tu_fmnist(&out, &err, "train --data %s --epochs 1 --quiet --model %s/s.model",
                                   dir, T), 1);
        assert_non_null(strstr(err, bad == 0 ? "t10k-images-idx3-ubyte.gz: truncated"
                                             : "train-images-idx3-ubyte.gz: truncated"));
        assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* one line */
        free(out), free(err);
    }
}

/* Wrong command lines, each with the line that must name what is wrong
 * (tu_expect_usage_error: then the hint, status 2, nothing on stdout). */
static const struct {
    const char *args, *line;
} usage_errors[] = {
    {"",
     "fmnist: no command given"},
    {"bogus",
     "fmnist: bogus: unknown command (train, eval, classify, export, convert)"},
    {"--bogus",
     "fmnist: --bogus: unknown option (a command comes first)"},
    {"train --epochs 0",
     "fmnist: --epochs: 0 is out of range 1..100000"},
    /* Values the data show to be out of range end the same way. */
    {"export --data data/sample --index 1000",
     "fmnist: --index: 1000 is past the last test image (999)"},
    {"train --data data/sample --val 2000",
     "fmnist: --val: 2000 leaves no training images (the training set has 2000)"},
    {"train --epochs -3",
     "fmnist: --epochs: -3 is out of range 1..100000"},
    {"train --epochs x",
     "fmnist: --epochs: 'x' is not an integer"},
    {"train --epochs",
     "fmnist: --epochs: needs a value"},
    {"train --epochs 1.5",
     "fmnist: --epochs: '1.5' is not an integer"},
    {"train --epochs 99999999999",
     "fmnist: --epochs: 99999999999 is out of range 1..100000"},
    {"train --epochs 100001",
     "fmnist: --epochs: 100001 is out of range 1..100000"},
    {"train --lr abc",
     "fmnist: --lr: 'abc' is not a number"},
    {"train --lr -1",
     "fmnist: --lr: -1 is out of range (0, 1e+06]"},
    {"train --lr 0",
     "fmnist: --lr: 0 is out of range (0, 1e+06]"},
    {"train --lr nan",
     "fmnist: --lr: 'nan' is not a number"},
    {"train --lr inf",
     "fmnist: --lr: 'inf' is not a number"},
    {"train --lr 1e300",
     "fmnist: --lr: 1e300 is out of range (0, 1e+06]"},
    {"train --lr 1000001",
     "fmnist: --lr: 1000001 is out of range (0, 1e+06]"},
    {"train --batch-size 100000000",
     "fmnist: --batch-size: 100000000 is out of range 1..60000"},
    {"train --batch-size 0",
     "fmnist: --batch-size: 0 is out of range 1..60000"},
    {"train --batch-size 60001",
     "fmnist: --batch-size: 60001 is out of range 1..60000"},
    {"train --seed -1",
     "fmnist: --seed: '-1' is not a non-negative integer"},
    {"train --seed 18446744073709551616",
     "fmnist: --seed: 18446744073709551616 is out of range 0..18446744073709551615"},
    {"train --threads 0",
     "fmnist: --threads: 0 is out of range 1..256"},
    {"train --threads 1000",
     "fmnist: --threads: 1000 is out of range 1..256"},
    {"train --threads 257",
     "fmnist: --threads: 257 is out of range 1..256"},
    {"train --foo",
     "fmnist: --foo: unknown option"},
    {"train extra",
     "fmnist: extra: unexpected argument"},
    {"classify a.png - b.png -",
     "fmnist: -: standard input given twice (it holds one picture)"},
    {"train --lr 0x1p-3",
     "fmnist: --lr: '0x1p-3' is not a decimal number"},
    {"train --json=1",
     "fmnist: --json: takes no value"},
    {"train --top 3",
     "fmnist: --top: not an option of train"},
    {"eval --epochs 1",
     "fmnist: --epochs: not an option of eval"},
    {"classify",
     "fmnist: classify needs at least one PICTURE (a PNG or JPEG, or - for stdin)"},
    {"classify --top 0 x.png",
     "fmnist: --top: 0 is out of range 1..10"},
    {"classify --top 11 x.png",
     "fmnist: --top: 11 is out of range 1..10"},
    {"classify --invert maybe x.png",
     "fmnist: --invert: 'maybe' is not one of auto, yes, no"},
    {"export",
     "fmnist: --index: export needs --index N"},
    {"export --index -1",
     "fmnist: --index: -1 is out of range 0..16777215"},
    {"export --index 1 --split dev",
     "fmnist: --split: 'dev' is not one of test, train"},
    {"export --index x",
     "fmnist: --index: 'x' is not an integer"},
    {"--version extra",
     "fmnist: extra: unexpected argument after --version"},
    {"train --data=",
     "fmnist: --data: needs a non-empty path"},
    {"train --model=",
     "fmnist: --model: needs a non-empty path"},
    {"export --index 1 --output=",
     "fmnist: --output: needs a non-empty path"},
    {"export --index 1 -o ''",
     "fmnist: --output: needs a non-empty path"},
    {"train --epoch 3",
     "fmnist: --epoch: unknown option; did you mean --epochs?"},
    {"train --json=1",
     "fmnist: --json: takes no value"},
    {"train -qx",
     "fmnist: -x: unknown option"},
    {"export --index 1 -qo",
     "fmnist: --output: needs a value"},
    {"train --dropout 1",
     "fmnist: --dropout: 1 is out of range [0, 0.95]"},
    {"train --dropout 0.96",
     "fmnist: --dropout: 0.96 is out of range [0, 0.95]"},
    {"train --dropout -0.1",
     "fmnist: --dropout: -0.1 is out of range [0, 0.95]"},
    {"train --keep best",
     "fmnist: --keep: needs a validation split: add --val N"},
    {"train --patience 3",
     "fmnist: --patience: needs a validation split: add --val N"},
    {"train --keep worst --val 10",
     "fmnist: --keep: 'worst' is not one of last, best"},
    {"train --schedule linear",
     "fmnist: --schedule: 'linear' is not one of const, cosine, step"},
    {"train --preset fast",
     "fmnist: --preset: 'fast' is not a preset (presets: best, robust)"},
    {"train --warmup 6",
     "fmnist: --warmup: 6 epochs is more than --epochs 5"},
    {"train --epochs 3 --warmup 4",
     "fmnist: --warmup: 4 epochs is more than --epochs 3"},
    {"train --ema 1",
     "fmnist: --ema: 1 is out of range [0, 0.99999]"},
    {"train --ema 0.999991",
     "fmnist: --ema: 0.999991 is out of range [0, 0.99999]"},
    {"train --label-smoothing 0.6",
     "fmnist: --label-smoothing: 0.6 is out of range [0, 0.5]"},
    {"train --label-smoothing 0.51",
     "fmnist: --label-smoothing: 0.51 is out of range [0, 0.5]"},
    {"train --weight-decay x",
     "fmnist: --weight-decay: 'x' is not a number"},
    {"train --weight-decay 10.5",
     "fmnist: --weight-decay: 10.5 is out of range [0, 10]"},
    {"train --val -1",
     "fmnist: --val: -1 is out of range 0..59999"},
    {"train --val 60000",
     "fmnist: --val: 60000 is out of range 0..59999"},
    {"train --warmup -1",
     "fmnist: --warmup: -1 is out of range 0..100000"},
    {"train --patience -1",
     "fmnist: --patience: -1 is out of range 0..100000"},
    {"train --resume=yes",
     "fmnist: --resume: takes no value"},
    {"help extra",
     "fmnist: extra: not a command (train, eval, classify, export, convert)"},
};

static void test_usage_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof usage_errors / sizeof *usage_errors; i++)
        tu_expect_usage_error(usage_errors[i].args, usage_errors[i].line);
}

/* cli_parse itself: defaults, every value at its range's edges, both
 * spellings, the preset and what overrides it. */
static int parse(cli_opts *o, const char *line)
{
    static char buf[1024];
    char *argv[64];
    int argc = 0;
    snprintf(buf, sizeof buf, "fmnist %s", line);
    for (char *t = strtok(buf, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    fm_err e;
    int rc = cli_parse(argc, argv, o, &e);
    if (rc)
        fail_msg("'%s': %s: %s", line, e.file, e.msg);
    return rc;
}

/* train with no options: the recipe's defaults. */
static void test_parse_defaults(void **state)
{
    (void)state;
    cli_opts o;
    parse(&o, "train");
    train_config d = train_defaults();
    assert_int_equal(o.command, CLI_TRAIN);
    assert_memory_equal(&o.train, &d, sizeof d);
    assert_int_equal(d.epochs, 5);
    assert_int_equal(d.batch_size, 64);
    assert_true(d.lr == 0.003);
    assert_true(d.seed == 1);
    assert_true(d.dropout == 0 && d.weight_decay == 0 && d.label_smoothing == 0 && d.ema == 0);
    assert_true(d.schedule == SCHEDULE_CONST && d.warmup == 0 && d.val == 0);
    assert_true(d.keep == KEEP_LAST && d.patience == 0);
    assert_string_equal(o.model, "fmnist.model");
    assert_null(o.data);
    assert_int_equal(o.given, 0);
    assert_int_equal(o.threads, 0);
    assert_int_equal(o.json + o.quiet + o.resume + o.help, 0);
}

/* The largest values each option takes, and the smallest. */
static void test_parse_edges(void **state)
{
    (void)state;
    cli_opts o;
    parse(&o, "train --epochs 100000 --batch-size=60000 --lr 1e6 --seed 18446744073709551615 "
              "--dropout 0.95 --weight-decay=10 --label-smoothing 0.5 --ema 0.99999 --val 59999 "
              "--warmup 100000 --patience 100000 --keep best --schedule step --threads 256 "
              "--json --quiet --resume --data d --model=m");
    assert_int_equal(o.train.epochs, 100000);
    assert_int_equal(o.train.batch_size, 60000);
    assert_true(o.train.lr == 1e6);
    assert_true(o.train.seed == UINT64_MAX);
    assert_true(o.train.dropout == 0.95 && o.train.weight_decay == 10);
    assert_true(o.train.label_smoothing == 0.5 && o.train.ema == 0.99999);
    assert_int_equal(o.train.val, 59999);
    assert_int_equal(o.train.warmup, 100000);
    assert_int_equal(o.train.patience, 100000);
    assert_int_equal(o.train.keep, KEEP_BEST);
    assert_int_equal(o.train.schedule, SCHEDULE_STEP);
    assert_int_equal(o.threads, 256);
    assert_true(o.json && o.quiet && o.resume);
    assert_string_equal(o.data, "d");
    assert_string_equal(o.model, "m");
    assert_int_equal(o.given, CLI_GIVEN_EPOCHS | CLI_GIVEN_BATCH | CLI_GIVEN_LR | CLI_GIVEN_SEED |
                                  CLI_GIVEN_DROPOUT | CLI_GIVEN_WD | CLI_GIVEN_SCHEDULE |
                                  CLI_GIVEN_WARMUP | CLI_GIVEN_SMOOTHING | CLI_GIVEN_EMA |
                                  CLI_GIVEN_VAL | CLI_GIVEN_KEEP | CLI_GIVEN_PATIENCE);
    /* The smallest. */
    parse(&o, "train --epochs 1 --batch-size 1 --lr 1e-300 --seed 0 --dropout 0 --weight-decay 0.0 "
              "--label-smoothing 0 --ema 0 --val 0 --warmup 0 --patience 0 --keep last "
              "--schedule cosine --threads 1");
    assert_int_equal(o.train.epochs, 1);
    assert_int_equal(o.train.batch_size, 1);
    assert_true(o.train.lr == 1e-300);
    assert_true(o.train.seed == 0);
    assert_true(o.train.dropout == 0 && o.train.ema == 0);
    assert_int_equal(o.train.schedule, SCHEDULE_COSINE);
    assert_int_equal(o.train.keep, KEEP_LAST);
    assert_int_equal(o.threads, 1);
    parse(&o, "train --schedule const");
    assert_int_equal(o.train.schedule, SCHEDULE_CONST);
}

/* The preset, exactly; options given win, in either order. */
static void test_parse_presets(void **state)
{
    (void)state;
    cli_opts o;
    parse(&o, "train --preset best");
    assert_string_equal(o.preset, "best");
    assert_int_equal(o.train.epochs, 40);
    assert_true(o.train.lr == 0.001);
    assert_true(o.train.weight_decay == 0.05);
    assert_true(o.train.dropout == 0.2);
    assert_int_equal(o.train.schedule, SCHEDULE_COSINE);
    assert_true(o.train.label_smoothing == 0.1);
    assert_true(o.train.ema == 0.999);
    assert_int_equal(o.train.val, 5000);
    assert_int_equal(o.train.keep, KEEP_BEST);
    assert_int_equal(o.train.batch_size, 64);
    assert_true(o.train.seed == 1);
    assert_int_equal(o.train.warmup, 0);
    assert_int_equal(o.train.patience, 0);
    parse(&o, "train --epochs 3 --lr 0.01 --weight-decay 0 --dropout 0.1 --schedule step "
              "--label-smoothing 0 --ema 0 --val 10 --keep last --preset best");
    assert_int_equal(o.train.epochs, 3);
    assert_true(o.train.lr == 0.01 && o.train.weight_decay == 0 && o.train.dropout == 0.1);
    assert_int_equal(o.train.schedule, SCHEDULE_STEP);
    assert_true(o.train.label_smoothing == 0 && o.train.ema == 0);
    assert_int_equal(o.train.val, 10);
    assert_int_equal(o.train.keep, KEEP_LAST);
    /* robust is best with the convolutional network, 20 epochs, lr 0.005,
     * no dropout and the default augmentation; a preset's values do not
     * count as given (--resume checks only what was given). */
    parse(&o, "train --preset robust");
    assert_int_equal(o.given, 0);
    assert_int_equal(o.train.epochs, 20);
    assert_int_equal(o.train.net, NET_CNN);
    assert_true(o.train.lr == 0.005 && o.train.weight_decay == 0.05 && o.train.dropout == 0);
    assert_true(o.train.label_smoothing == 0.1 && o.train.ema == 0.999);
    assert_int_equal(o.train.val, 5000);
    assert_int_equal(o.train.keep, KEEP_BEST);
    augment_spec def = augment_default();
    assert_memory_equal(&o.train.augment, &def, sizeof def);
    parse(&o, "train --augment none --preset robust --epochs 2 --net mlp");
    assert_false(augment_active(&o.train.augment));
    assert_int_equal(o.train.epochs, 2);
    assert_int_equal(o.train.net, NET_MLP);
    assert_int_equal(o.given, CLI_GIVEN_AUGMENT | CLI_GIVEN_EPOCHS | CLI_GIVEN_NET);
}

/* The other commands' options and pictures. */
static void test_parse_other_commands(void **state)
{
    (void)state;
    cli_opts o;
    parse(&o, "classify --top 10 --invert yes --show s-%d.png --ascii a.png - b.png");
    assert_int_equal(o.command, CLI_CLASSIFY);
    assert_int_equal(o.top, 10);
    assert_int_equal(o.invert, IMAGE_INVERT_YES);
    assert_string_equal(o.show, "s-%d.png");
    assert_int_equal(o.ascii, 1);
    assert_int_equal(o.nfiles, 3);
    assert_string_equal(o.files[0], "a.png");
    assert_string_equal(o.files[1], "-");
    assert_string_equal(o.files[2], "b.png");
    /* Options between the pictures: the pictures are gathered once, in
     * order (cli_parse reads argv twice, the first time for --preset). */
    parse(&o, "classify a.png --top 2 b.png --invert no c.png");
    assert_int_equal(o.nfiles, 3);
    assert_string_equal(o.files[0], "a.png");
    assert_string_equal(o.files[1], "b.png");
    assert_string_equal(o.files[2], "c.png");
    assert_int_equal(o.top, 2);
    parse(&o, "classify --invert=no -- --odd.png");
    assert_int_equal(o.invert, IMAGE_INVERT_NO);
    assert_int_equal(o.top, 3);
    assert_int_equal(o.nfiles, 1);
    assert_string_equal(o.files[0], "--odd.png");
    parse(&o, "classify x.png");
    assert_int_equal(o.invert, IMAGE_INVERT_AUTO);
    parse(&o, "export --index 16777215 --split train -o out.png");
    assert_int_equal(o.command, CLI_EXPORT);
    assert_true(o.index == 16777215);
    assert_int_equal(o.split, IDX_TRAIN);
    assert_string_equal(o.output, "out.png");
    parse(&o, "export --index 0");
    assert_int_equal(o.split, IDX_TEST);
    assert_true(o.index == 0);
    /* Short options grouped, as getopt takes them. */
    parse(&o, "export --index 0 -qo out.png");
    assert_true(o.quiet && !strcmp(o.output, "out.png"));
    parse(&o, "export --index 0 -qoq.png");
    assert_true(o.quiet && !strcmp(o.output, "q.png"));
    parse(&o, "export --index 0 -qh");
    assert_true(o.quiet && o.help);
    parse(&o, "eval --errors e.png --confusion c.png --json --threads 2");
    assert_int_equal(o.command, CLI_EVAL);
    assert_string_equal(o.errors_png, "e.png");
    assert_string_equal(o.confusion_png, "c.png");
    assert_int_equal(o.json, 1);
    assert_int_equal(o.threads, 2);
    parse(&o, "eval --help");
    assert_int_equal(o.help, 1);
    parse(&o, "--version");
    assert_int_equal(o.command, CLI_VERSION);
    parse(&o, "help");
    assert_int_equal(o.command, CLI_HELP);
}

/* eval's line for a checkpoint shows its state only when the state reads
 * as train writes it: a file's own words are not echoed as fmnist's. */
static void test_eval_checkpoint_words(void **state)
{
    (void)state;
    char path[4300], *meta, extra[8192], *out;
    mlp net;
    snprintf(path, sizeof path, "%s/m.model", T);
    assert_int_equal(model_load(path, &net, &meta, NULL, NULL, NULL), FM_OK);
    snprintf(extra, sizeof extra, "%sstate_epoch=rm -rf\nstate_step=$(x)\n", meta);
    snprintf(path, sizeof path, "%s/words.model", T);
    assert_int_equal(model_save(path, &net, extra, NULL, 0, NULL), FM_OK);
    assert_int_equal(tu_fmnist(&out, NULL, "eval --data data/sample --model %s", path), 0);
    assert_non_null(strstr(out, "; epochs 2, lr 0.003, seed 3)\n"));
    assert_null(strstr(out, "rm -rf"));
    free(out), free(meta);
    mlp_free(&net);
}

/* Options that clash, found after parsing, end as every usage error does. */
static void test_late_usage_errors(void **state)
{
    (void)state;
    char *out, *err, want[9000];
    assert_int_equal(tu_fmnist(&out, &err, "eval --data data/sample --model %s/m.model --errors "
                               "%s/x.png --confusion %s/x.png", T, T, T), 2);
    snprintf(want, sizeof want, "fmnist: %s/x.png: given to both --errors and --confusion\n"
             "Try 'fmnist eval --help'.\n", T);
    assert_string_equal(err, want);
    free(out), free(err);
}

/* --quiet: export and convert print no line naming the file written,
 * and nothing on standard error; without it each prints one. */
static void test_quiet(void **state)
{
    (void)state;
    const char *runs[] = {"export --data data/sample --index 3 -o %s/q.png",
                          "convert --model %s/m.model -o %s/q.onnx"};
    for (int i = 0; i < 2; i++)
        for (int q = 0; q < 2; q++) {
            char args[9000], *out, *err;
            int n = snprintf(args, sizeof args, runs[i], T, T);
            snprintf(args + n, sizeof args - (size_t)n, "%s", q ? " -q" : "");
            assert_int_equal(tu_fmnist(&out, &err, "%s", args), 0);
            assert_string_equal(err, "");
            if (q)
                assert_string_equal(out, "");
            else
                assert_non_null(strstr(out, i ? "/q.onnx: ONNX, " : "/q.png: test image 3, "));
            free(out), free(err);
        }
}

static void test_help_and_version(void **state)
{
    (void)state;
    const char *cmds[] = {"--help", "train --help", "eval --help", "classify --help",
                          "export --help", "--version"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char *out, *err;
        assert_int_equal(tu_fmnist(&out, &err, "%s", cmds[i]), 0);
        assert_true(strncmp(out, i == 5 ? "fmnist " : "usage: fmnist", 7) == 0);
        /* Every line fits 79 columns, augment's long default spec too. */
        for (char *l = out, *nl; *l; l = nl + 1) {
            nl = strchr(l, '\n');
            if (!nl)
                break;
            if (nl - l > 79)
                fail_msg("'fmnist %s': a line of %d columns: %.*s", cmds[i], (int)(nl - l),
                         (int)(nl - l), l);
        }
        free(out), free(err);
    }
    /* An option of two commands, described in a part for each: a command's
     * --help shows its own part alone. */
    char *out;
    assert_int_equal(tu_fmnist(&out, NULL, "export --help"), 0);
    assert_non_null(strstr(out, "  -o, --output FILE where to write the PNG (default "
                                "SPLIT-INDEX-CLASS.png; -\n                    writes it to "
                                "standard output)\n"));
    assert_null(strstr(out, "convert:"));
    free(out);
    assert_int_equal(tu_fmnist(&out, NULL, "convert --help"), 0);
    assert_non_null(strstr(out, "  -o, --output FILE the file to write, in the format its name "
                                "ends in: .onnx,\n"));
    assert_null(strstr(out, "export:"));
    free(out);
    /* --help wins over a mistake after it (as getopt's does), not before. */
    char *err, *want;
    assert_int_equal(tu_fmnist(&want, NULL, "train --help"), 0);
    assert_int_equal(tu_fmnist(&out, &err, "train --help --epochs 0 extra"), 0);
    assert_string_equal(out, want);
    assert_string_equal(err, "");
    free(out), free(err), free(want);
    tu_expect_usage_error("train --epochs 0 --help", "fmnist: --epochs: 0 is out of range 1..100000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_output),
        cmocka_unit_test(test_same_seed_same_file),
        cmocka_unit_test(test_eval),
        cmocka_unit_test(test_eval_undefined_precision_recall),
        cmocka_unit_test(test_export_then_classify_agrees_with_eval),
        cmocka_unit_test(test_classify_bad_file_does_not_stop_the_rest),
        cmocka_unit_test(test_classify_threads_same_output),
        cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_train_split_errors),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_parse_defaults),
        cmocka_unit_test(test_parse_edges),
        cmocka_unit_test(test_parse_presets),
        cmocka_unit_test(test_parse_other_commands),
        cmocka_unit_test(test_eval_checkpoint_words),
        cmocka_unit_test(test_late_usage_errors),
        cmocka_unit_test(test_quiet),
        cmocka_unit_test(test_help_and_version),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
