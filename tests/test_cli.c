/* test_cli.c: the built binary end to end on data/sample: train, eval,
 * export, classify; reproducibility across seeds and thread counts; and
 * every usage error giving status 2. */
#include "testutil.h"

#include "idx.h"
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
    assert_non_null(strstr(out, "{\"epoch\":2,"));
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
    assert_non_null(strstr(out, "\"seed\":\"3\""));
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

static void test_usage_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "bogus", "--bogus", "train --epochs 0", "train --epochs -3", "train --epochs x",
        "train --epochs", "train --epochs 1.5", "train --epochs 99999999999", "train --lr abc",
        "train --lr -1", "train --lr 0", "train --lr nan", "train --lr inf", "train --lr 1e300",
        "train --batch-size 100000000", "train --batch-size 0", "train --seed -1",
        "train --seed 18446744073709551616", "train --threads 0", "train --threads 1000",
        "train --foo", "train extra", "train --json=1", "train --top 3", "eval --epochs 1",
        "classify", "classify --top 0 x.png", "classify --top 11 x.png", "classify --invert maybe x.png",
        "export", "export --index -1", "export --index 1 --split dev", "export --index x",
        "--version extra", "train --data=", "train --dropout 1", "train --dropout -0.1",
        "train --keep best", "train --patience 3", "train --keep worst --val 10",
        "train --schedule linear", "train --preset fast", "train --warmup 6", "train --ema 1",
        "train --label-smoothing 0.6", "train --weight-decay x", "train --val -1",
        "train --resume=yes",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *out, *err;
        int rc = tu_fmnist(&out, &err, "%s", bad[i]);
        if (rc != 2 || !strstr(err, "fmnist: ") || !strstr(err, "Try 'fmnist"))
            fail_msg("'fmnist %s': status %d, stderr: %s", bad[i], rc, err);
        assert_string_equal(out, "");
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
        free(out), free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_output),
        cmocka_unit_test(test_same_seed_same_file),
        cmocka_unit_test(test_eval),
        cmocka_unit_test(test_export_then_classify_agrees_with_eval),
        cmocka_unit_test(test_classify_bad_file_does_not_stop_the_rest),
        cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_help_and_version),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
