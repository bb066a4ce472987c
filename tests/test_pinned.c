/* test_pinned.c: exact values where fmnist is deterministic, which it is on
 * every machine. Models trained on data/sample with fixed seeds, with the
 * default recipe and with each training option, must have these parameters
 * (SHA-256 of their bytes, as the model file stores them), this metadata and
 * these reports, bit for bit, with any kernel (FMNIST_KERNEL=ref, generic,
 * avx2, avx512) on any number of threads. `eval --json` of a known model is
 * pinned whole and checked against an independent computation (a plain
 * double-precision forward pass written here, its own confusion matrix,
 * precisions and recalls); classify's probabilities are pinned too.
 *
 * FMNIST_PIN_PRINT=1 prints the values found, in this file's syntax, to
 * re-pin after a deliberate change of the arithmetic. */
#include "testutil.h"

#include <math.h>

#include "eval.h"
#include "idx.h"
#include "model_file.h"
#include "sha256.h"

static char *T;

#define TRAIN "train --data data/sample --quiet --json"

typedef struct pin {
    const char *name;
    int small;          /* on the first 200 training and 100 test images only */
    const char *args;   /* after TRAIN */
    const char *params; /* SHA-256 of the parameters, little-endian float32 */
    const char *meta;   /* the metadata, without its fmnist_version line */
    const char *json;   /* stdout, each line without "seconds" and "train_seconds" */
} pin;

/* clang-format off */
static const pin pins[] = {
#include "pinned_values.inc"
};
/* clang-format on */
#define NPINS (sizeof pins / sizeof *pins)

/* classify --top 4 of a picture that goes through preprocessing (the
 * "default" pin's model). */
#define PINNED_OFFCENTRE \
    "tests/fixtures/t1-offcentre.png: Pullover (55.8%); then Shirt 43.0%, Coat 1.0%, Bag 0.1%\n"

static int print_mode(void)
{
    const char *p = getenv("FMNIST_PIN_PRINT");
    return p && *p == '1';
}

/* An IDX file of the first n items of one in data/sample. */
static void write_head(const char *name, int images, uint32_t n)
{
    char src[256], dst[4300];
    snprintf(src, sizeof src, "data/sample/%s.gz", name);
    uint8_t *data;
    uint32_t count;
    fm_err e;
    if (idx_read_file(src, images ? IDX_IMAGES : IDX_LABELS, &data, &count, &e))
        fail_msg("%s: %s", src, e.msg);
    assert_true(count >= n);
    size_t item = images ? IDX_PIXELS : 1, hl = images ? 16 : 8;
    uint8_t *f = malloc(hl + n * item);
    uint8_t h[16] = {0, 0, 8, images ? 3 : 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
                     (uint8_t)(n >> 8), (uint8_t)n, 0, 0, 0, 28, 0, 0, 0, 28};
    memcpy(f, h, hl);
    memcpy(f + hl, data, n * item);
    snprintf(dst, sizeof dst, "%s/small/%s", T, name);
    tu_write(dst, f, hl + n * item);
    free(f);
    free(data);
}

static int setup(void **state)
{
    (void)state;
    T = tu_tmpdir();
    char d[4200];
    snprintf(d, sizeof d, "%s/small", T);
    mkdir(d, 0755);
    write_head("train-images-idx3-ubyte", 1, 200);
    write_head("train-labels-idx1-ubyte", 0, 200);
    write_head("t10k-images-idx3-ubyte", 1, 100);
    write_head("t10k-labels-idx1-ubyte", 0, 100);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(T);
    return 0;
}

/* SHA-256 of a model's parameters and its metadata without the version. */
static void model_digest(const char *path, char hex[65], char **meta_out)
{
    mlp m;
    char *meta;
    fm_err e;
    if (model_load(path, &m, &meta, NULL, NULL, &e))
        fail_msg("%s: %s", path, e.msg);
    uint8_t *bytes = malloc(4 * m.nparams);
    for (size_t i = 0; i < m.nparams; i++) {
        uint32_t u;
        memcpy(&u, &m.params[i], 4);
        for (int k = 0; k < 4; k++)
            bytes[4 * i + (size_t)k] = (uint8_t)(u >> (8 * k));
    }
    tu_sha256_hex(bytes, 4 * m.nparams, hex);
    free(bytes);
    mlp_free(&m);
    /* Drop the version line: a release changes it, not the model. */
    char *v = strstr(meta, "fmnist_version=");
    if (v && (v == meta || v[-1] == '\n')) {
        char *nl = strchr(v, '\n');
        memmove(v, nl ? nl + 1 : v + strlen(v), strlen(nl ? nl + 1 : v + strlen(v)) + 1);
    }
    *meta_out = meta;
}

/* Removes every ,"seconds":... up to the object's end: timings vary. */
static void strip_timings(char *s)
{
    char *p;
    while ((p = strstr(s, ",\"seconds\":"))) {
        char *end = strchr(p, '}');
        assert_non_null(end);
        memmove(p, end, strlen(end) + 1);
    }
}

static void c_string(const char *s)
{
    printf("\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if (*s == '\n')
            printf("\\n\"\n     \"");
        else
            putchar(*s);
    }
    printf("\"");
}

/* Trains pin p with kernel (NULL: the default) on threads threads; checks
 * or prints what it gives. */
static void check_pin(const pin *p, const char *kernel, int threads)
{
    char model[4300], *out, *err, hex[65], *meta;
    snprintf(model, sizeof model, "%s/%s-%s-%d.model", T, p->name, kernel ? kernel : "x", threads);
    char env[64] = "";
    if (kernel)
        snprintf(env, sizeof env, "FMNIST_KERNEL=%s ", kernel);
    char cmd[12288];
    char data[4300] = "";
    if (p->small)
        snprintf(data, sizeof data, " --data %s/small", T);
    snprintf(cmd, sizeof cmd, "%s%s " TRAIN "%s %s --threads %d --model %s", env, tu_bin(), data,
             p->args, threads, model);
    int rc = tu_run(cmd, &out, &err);
    if (rc != 0)
        fail_msg("%s: status %d: %s", cmd, rc, err);
    strip_timings(out);
    model_digest(model, hex, &meta);
    if (print_mode()) {
        printf("    {\"%s\", %d, \"%s\",\n     \"%s\",\n     ", p->name, p->small, p->args, hex);
        c_string(meta);
        printf(",\n     ");
        c_string(out);
        printf("},\n");
    } else {
        const char *how = kernel ? kernel : "default kernel";
        if (strcmp(hex, p->params) != 0)
            fail_msg("%s (%s, %d threads): parameters' SHA-256 %s, pinned %s", p->name, how,
                     threads, hex, p->params);
        if (strcmp(meta, p->meta) != 0)
            fail_msg("%s (%s, %d threads): metadata\n%s\npinned\n%s", p->name, how, threads, meta,
                     p->meta);
        if (strcmp(out, p->json) != 0)
            fail_msg("%s (%s, %d threads): reports\n%s\npinned\n%s", p->name, how, threads, out,
                     p->json);
    }
    free(meta);
    free(out);
    free(err);
    remove(model);
}

static const pin *find_pin(const char *name)
{
    for (size_t i = 0; i < NPINS; i++)
        if (!strcmp(pins[i].name, name))
            return &pins[i];
    fail_msg("no pin %s", name);
    return NULL;
}

/* Every pin with the kernel this CPU picks, on 2 threads. */
static void test_trained_models(void **state)
{
    (void)state;
    for (size_t i = 0; i < NPINS; i++)
        check_pin(&pins[i], NULL, 2);
}

/* The same bits from each implementation: the runs with every option (on
 * 200 images), of each network, on 3 threads; the fast kernels also on 1
 * thread, and the default recipe on 1 and 3. (The reference kernels are slow: fmaf in
 * software where the build has no FMA.) */
static void sweep(const char *kernel)
{
    const kernel_impl *k = kernel_find(kernel);
    if (!k) {
        printf("# %s kernels: not supported by this CPU\n", kernel);
        skip();
    }
    check_pin(find_pin("everything"), kernel, 3);
    check_pin(find_pin("cnn-everything"), kernel, 3);
    if (strcmp(kernel, "ref") != 0 && strcmp(kernel, "generic") != 0) {
        check_pin(find_pin("everything"), kernel, 1);
        check_pin(find_pin("cnn-everything"), kernel, 1);
        check_pin(find_pin("default"), kernel, 1);
        check_pin(find_pin("default"), kernel, 3);
    }
}

static void test_kernel_ref(void **state) { (void)state; sweep("ref"); }
static void test_kernel_generic(void **state) { (void)state; sweep("generic"); }
static void test_kernel_avx2(void **state) { (void)state; sweep("avx2"); }
static void test_kernel_avx512(void **state) { (void)state; sweep("avx512"); }

/* ---- eval and classify, against a computation of their own ---- */

static char model_path[4300]; /* the "default" pin's model, trained once */

static const char *const names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

static void trained_default_model(void)
{
    if (model_path[0])
        return;
    snprintf(model_path, sizeof model_path, "%s/default.model", T);
    const pin *p = find_pin("default");
    assert_int_equal(tu_fmnist(NULL, NULL, "train --data data/sample --quiet %s --model %s",
                               p->args, model_path), 0);
    char hex[65], *meta;
    model_digest(model_path, hex, &meta);
    free(meta);
    if (!print_mode())
        assert_string_equal(hex, p->params);
}

/* Log-probabilities of one image, in double, from the parameters as the
 * model file lays them out: plain loops, nothing shared with src/. */
static void forward_double(const mlp *m, const uint8_t *img, double logp[10])
{
    double a[1024], b[1024];
    for (int i = 0; i < 784; i++)
        a[i] = ((double)img[i] / 255.0 - 0.5) / 0.5;
    for (int l = 0; l < m->nlayers; l++) {
        int in = m->width[l], out = m->width[l + 1];
        const float *w = m->params + m->w_off[l], *bias = m->params + m->b_off[l];
        for (int o = 0; o < out; o++) {
            double s = bias[o];
            for (int i = 0; i < in; i++)
                s += (double)w[(size_t)o * in + i] * a[i];
            b[o] = l + 1 < m->nlayers && s < 0 ? 0 : s;
        }
        memcpy(a, b, sizeof(double) * (size_t)out);
    }
    double mx = a[0], sum = 0;
    for (int k = 1; k < 10; k++)
        mx = a[k] > mx ? a[k] : mx;
    for (int k = 0; k < 10; k++)
        sum += exp(a[k] - mx);
    for (int k = 0; k < 10; k++)
        logp[k] = a[k] - mx - log(sum);
}

typedef struct truth {
    long n, correct, confusion[10][10];
    double loss;
} truth;

/* The test set of data/sample through forward_double. Predictions whose
 * two best log-probabilities are within 1e-4 (float32 round-off of the
 * network is ~1e-6) would be ties where float and double may disagree:
 * there are none in this set, which the test checks. */
static void independent_eval(truth *t)
{
    mlp m;
    idx_set s;
    assert_int_equal(model_load(model_path, &m, NULL, NULL, NULL, NULL), FM_OK);
    assert_int_equal(idx_load("data/sample/t10k-images-idx3-ubyte.gz",
                              "data/sample/t10k-labels-idx1-ubyte.gz", &s, NULL), FM_OK);
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < s.n; i++) {
        double lp[10];
        forward_double(&m, s.images + (size_t)i * IDX_PIXELS, lp);
        int best = 0, second = -1;
        for (int k = 1; k < 10; k++)
            if (lp[k] > lp[best])
                best = k;
        for (int k = 0; k < 10; k++)
            if (k != best && (second < 0 || lp[k] > lp[second]))
                second = k;
        if (lp[best] - lp[second] < 1e-4)
            fail_msg("test image %u: a near-tie (%g); choose another model", i,
                     lp[best] - lp[second]);
        t->confusion[s.labels[i]][best]++;
        t->correct += best == s.labels[i];
        t->loss -= lp[s.labels[i]];
        t->n++;
    }
    t->loss /= (double)t->n;
    idx_free(&s);
    mlp_free(&m);
}

static double precision_of(const truth *t, int c)
{
    long col = 0;
    for (int r = 0; r < 10; r++)
        col += t->confusion[r][c];
    return col ? (double)t->confusion[c][c] / (double)col : 0;
}

static double recall_of(const truth *t, int c)
{
    long row = 0;
    for (int k = 0; k < 10; k++)
        row += t->confusion[c][k];
    return row ? (double)t->confusion[c][c] / (double)row : 0;
}

#define APPEND(buf, ...) snprintf((buf) + strlen(buf), sizeof(buf) - strlen(buf), __VA_ARGS__)

/* The loss is the one figure float32 and double cannot agree on exactly:
 * they differ by the network's round-off (~1e-7 here); %.6f rounds by 5e-7. */
#define LOSS_TOL 2e-6

static void test_eval_json(void **state)
{
    (void)state;
    trained_default_model();
    truth t;
    independent_eval(&t);
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "eval --json --data data/sample --model %s", model_path), 0);
    /* The loss as printed, checked against ours; then the whole object is
     * what our own figures make. */
    char *lp = strstr(out, "\"loss\":");
    assert_non_null(lp);
    double loss = strtod(lp + 7, NULL);
    if (fabs(loss - t.loss) > LOSS_TOL)
        fail_msg("eval's loss %.6f, computed here %.9f", loss, t.loss);
    double acc = (double)t.correct / (double)t.n;
    static char want[8192];
    want[0] = 0;
    APPEND(want, "{\"format\":1,\"accuracy\":%.6f,\"accuracy_stderr\":%.6f,\"correct\":%ld,"
           "\"n\":%ld,\"loss\":%.6f,\"model\":\"%s\",\"meta\":{\"fmnist_version\":\"0.1.0\","
           "\"epochs\":2,\"batch_size\":64,\"lr\":0.003,\"seed\":1,\"train_images\":2000,"
           "\"test_accuracy\":%.4f},\"per_class\":[",
           acc, sqrt(acc * (1 - acc) / (double)t.n), t.correct, t.n, loss, model_path, acc);
    for (int c = 0; c < 10; c++)
        APPEND(want, "%s{\"label\":%d,\"name\":\"%s\",\"precision\":%.6f,\"recall\":%.6f}",
               c ? "," : "", c, names[c], precision_of(&t, c), recall_of(&t, c));
    APPEND(want, "],\"confusion\":[");
    for (int r = 0; r < 10; r++) {
        APPEND(want, "%s[", r ? "," : "");
        for (int c = 0; c < 10; c++)
            APPEND(want, "%s%ld", c ? "," : "", t.confusion[r][c]);
        APPEND(want, "]");
    }
    APPEND(want, "]}\n");
    /* A release changes fmnist_version: take it from the output. */
    char *v = strstr(out, "\"fmnist_version\":\"");
    assert_non_null(v);
    char *w = strstr(want, "\"fmnist_version\":\"0.1.0\"");
    size_t vl = (size_t)(strchr(v + 18, '"') - v), wl = strlen("\"fmnist_version\":\"0.1.0");
    memmove(w + vl, w + wl, strlen(w + wl) + 1);
    memcpy(w, v, vl);
    assert_string_equal(out, want);
    /* And the figures themselves, as pinned: the test report of the
     * default pin's last epoch, and its accuracy. */
    assert_non_null(strstr(out, "{\"format\":1,\"accuracy\":0.726000,\"accuracy_stderr\":0.014104,"
                                "\"correct\":726,\"n\":1000,\"loss\":0.767800,"));
    printf("# eval --json: accuracy %.4f, loss %.6f (here %.9f), confusion and per-class "
           "figures as computed here\n", acc, loss, t.loss);
    free(out), free(err);
}

static void test_eval_text(void **state)
{
    (void)state;
    trained_default_model();
    truth t;
    independent_eval(&t);
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "eval --data data/sample --model %s", model_path), 0);
    double acc = (double)t.correct / (double)t.n;
    static char want[8192];
    want[0] = 0;
    APPEND(want, "model:    %s (784-256-128-64-10; epochs 2, lr 0.003, seed 1)\n", model_path);
    APPEND(want, "test set: data/sample/t10k-images-idx3-ubyte.gz (1000 images)\n");
    APPEND(want, "accuracy: %.2f%% +- %.2f%% (%ld of %ld)\n", 100 * acc,
           100 * sqrt(acc * (1 - acc) / (double)t.n), t.correct, t.n);
    APPEND(want, "loss:     0.7678 (mean NLL)\n\n   class         precision  recall\n");
    for (int c = 0; c < 10; c++)
        APPEND(want, "   %d %-12s  %6.2f%%   %6.2f%%\n", c, names[c], 100 * precision_of(&t, c),
               100 * recall_of(&t, c));
    APPEND(want, "\nconfusion matrix (rows: true class, columns: predicted)\n%13s", "");
    for (int c = 0; c < 10; c++)
        APPEND(want, " %5.5s", names[c]);
    APPEND(want, "\n");
    for (int r = 0; r < 10; r++) {
        APPEND(want, "%-13s", names[r]);
        for (int c = 0; c < 10; c++)
            APPEND(want, " %5ld", t.confusion[r][c]);
        APPEND(want, "\n");
    }
    assert_string_equal(out, want);
    assert_non_null(strstr(out, "accuracy: 72.60% +- 1.41% (726 of 1000)\n"));
    free(out), free(err);
}

/* classify on pictures of test images: the class order and probabilities
 * of forward_double (the --show'n input is the test image itself for the
 * 28x28 fixtures), and one picture that goes through preprocessing pinned
 * as printed. */
static void test_classify(void **state)
{
    (void)state;
    trained_default_model();
    mlp m;
    idx_set s;
    assert_int_equal(model_load(model_path, &m, NULL, NULL, NULL, NULL), FM_OK);
    assert_int_equal(idx_load("data/sample/t10k-images-idx3-ubyte.gz",
                              "data/sample/t10k-labels-idx1-ubyte.gz", &s, NULL), FM_OK);
    const struct { const char *file; int index; } pics[] = {
        {"tests/fixtures/t0-gray28.png", 0}, {"tests/fixtures/t1-gray16.png", 1},
        {"tests/fixtures/t8-gray28.png", 8}};
    for (size_t f = 0; f < sizeof pics / sizeof *pics; f++) {
        char *out, *err;
        assert_int_equal(tu_fmnist(&out, &err, "classify --json --top 10 --model %s %s", model_path,
                                   pics[f].file), 0);
        double lp[10];
        forward_double(&m, s.images + (size_t)pics[f].index * IDX_PIXELS, lp);
        int order[10];
        for (int k = 0; k < 10; k++)
            order[k] = k;
        for (int i = 0; i < 10; i++)
            for (int j = i + 1; j < 10; j++)
                if (lp[order[j]] > lp[order[i]]) {
                    int x = order[i];
                    order[i] = order[j];
                    order[j] = x;
                }
        char want[2048];
        snprintf(want, sizeof want, "{\"format\":1,\"file\":\"%s\",\"label\":%d,\"name\":\"%s\",\"probability\":",
                 pics[f].file, order[0], names[order[0]]);
        assert_true(strncmp(out, want, strlen(want)) == 0);
        char *p = out + strlen(want);
        double first = strtod(p, &p);
        assert_true(fabs(first - exp(lp[order[0]])) <= 1e-6);
        assert_true(strncmp(p, ",\"top\":[", 8) == 0);
        p += 8;
        for (int k = 0; k < 10; k++) {
            snprintf(want, sizeof want, "%s{\"label\":%d,\"name\":\"%s\",\"probability\":", k ? "," : "",
                     order[k], names[order[k]]);
            if (strncmp(p, want, strlen(want)) != 0)
                fail_msg("%s: top %d: %s, expected %s", pics[f].file, k, p, want);
            p += strlen(want);
            double pr = strtod(p, &p);
            /* %.6f rounds by 5e-7; float32 round-off adds ~1e-7. */
            if (fabs(pr - exp(lp[order[k]])) > 1e-6)
                fail_msg("%s: class %d: probability %.6f, computed here %.9f", pics[f].file,
                         order[k], pr, exp(lp[order[k]]));
            assert_int_equal(*p++, '}');
        }
        assert_string_equal(p, "]}\n");
        free(out), free(err);
    }
    idx_free(&s);
    mlp_free(&m);
    char *out, *err;
    assert_int_equal(tu_fmnist(&out, &err, "classify --top 4 --model %s tests/fixtures/t1-offcentre.png",
                               model_path), 0);
    assert_string_equal(out, PINNED_OFFCENTRE);
    free(out), free(err);
}

/* train's text reports: the keep-best pin's figures (its JSON above) as
 * text, the timings cut off; and the closing line on stderr. */
static void test_train_text(void **state)
{
    (void)state;
    char *out, *err, m[4300];
    snprintf(m, sizeof m, "%s/text.model", T);
    assert_int_equal(tu_fmnist(&out, &err, "train --data data/sample %s --model %s",
                               find_pin("keep-best")->args, m), 0);
    for (char *line = out, *nl; (nl = strchr(line, '\n')); line = strchr(line, '\n') + 1) {
        char *cut = nl;
        while (cut > line && cut[-1] != ' ') /* "  0.01 s": cut the number and " s" */
            cut--;
        assert_true(cut - line > 3 && cut[-1] == ' ');
        cut -= 1;
        while (cut > line && cut[-1] != ' ')
            cut--;
        assert_true(cut - line > 2 && !strncmp(cut - 2, "  ", 2));
        memmove(cut - 2, nl, strlen(nl) + 1);
    }
    assert_string_equal(out,
        "epoch 1/8  train loss 1.3734  train acc 51.80%  val acc 67.60%*  test acc 65.50%\n"
        "epoch 2/8  train loss 0.7998  train acc 70.27%  val acc 66.20%   test acc 68.10%\n"
        "epoch 3/8  train loss 0.6145  train acc 77.60%  val acc 74.40%*  test acc 75.80%\n"
        "epoch 4/8  train loss 0.5596  train acc 79.20%  val acc 77.40%*  test acc 78.00%\n"
        "epoch 5/8  train loss 0.4880  train acc 82.40%  val acc 75.00%   test acc 76.20%\n"
        "epoch 6/8  train loss 0.4743  train acc 82.53%  val acc 73.60%   test acc 74.40%\n");
    char want[4600];
    snprintf(want, sizeof want, "saved %s: epoch 4, the best on validation (77.40%%); test "
             "accuracy 78.00%%\n", m);
    assert_non_null(strstr(err, want));
    free(out), free(err);
    assert_int_equal(tu_fmnist(&out, &err, "train --data data/sample %s --model %s",
                               find_pin("default")->args, m), 0);
    snprintf(want, sizeof want, "saved %s (test accuracy 72.60%%)\n", m);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(out, "epoch 2/2  train loss 0.7061  train acc 74.65%  test acc 72.60%  "));
    free(out), free(err);
}

/* Precision and recall on a confusion matrix made by hand, where they
 * differ in every class. */
static void test_precision_recall_by_hand(void **state)
{
    (void)state;
    eval_result r;
    memset(&r, 0, sizeof r);
    /* Class c: c + 1 right; c + 2 of class c taken for class (c + 1) % 10. */
    for (int c = 0; c < 10; c++) {
        r.confusion[c][c] = c + 1;
        r.confusion[c][(c + 1) % 10] = c + 2;
    }
    for (int c = 0; c < 10; c++) {
        int prev = (c + 9) % 10;
        double precision = (double)(c + 1) / (double)(c + 1 + prev + 2);
        double recall = (double)(c + 1) / (double)(c + 1 + c + 2);
        assert_true(eval_precision(&r, c) == precision);
        assert_true(eval_recall(&r, c) == recall);
        assert_true(precision != recall);
    }
    /* Five of class 3 all taken for class 4: class 3 is never predicted (no
     * precision: 0 of 0) and has recall 0; class 4 is never present (no
     * recall) and has precision 0. */
    memset(&r, 0, sizeof r);
    r.confusion[3][4] = 5;
    assert_true(isnan(eval_precision(&r, 3)) && eval_recall(&r, 3) == 0.0);
    assert_true(eval_precision(&r, 4) == 0.0 && isnan(eval_recall(&r, 4)));
}

int main(void)
{
    /* The quick tests first, the kernel sweeps (12 of the 15 s) last: make
     * mutate ends the program at its first failure (CMOCKA_TEST_ABORT). */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trained_models),
        cmocka_unit_test(test_eval_json),
        cmocka_unit_test(test_eval_text),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_train_text),
        cmocka_unit_test(test_precision_recall_by_hand),
        cmocka_unit_test(test_kernel_ref),
        cmocka_unit_test(test_kernel_generic),
        cmocka_unit_test(test_kernel_avx2),
        cmocka_unit_test(test_kernel_avx512),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
