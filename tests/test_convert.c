/* test_convert.c: for both of fmnist's networks (the MLP and the
 * convolutional one): safetensors round trips bit for bit; the ONNX bytes
 * decoded field by field; every kind of malformed safetensors refused with
 * its own error and nothing written, a tensor of the other network among
 * them too; the convert command end to end. */
#include "testutil.h"

#include <math.h>

#include "convert.h"
#include "model_file.h"

static char *T; /* a temporary directory for the whole run */

static int setup(void **state)
{
    (void)state;
    T = tu_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(T);
    return 0;
}

static void make_net(mlp *m, const int *widths, int layers, uint64_t seed)
{
    assert_int_equal(mlp_create(m, layers, widths, NULL), FM_OK);
    rng r;
    rng_seed(&r, seed);
    mlp_init_params(m, &r);
}

static char *path_in(const char *name)
{
    static char p[8][4200];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", T, name);
    return p[k];
}

/* ---- safetensors round trips */

static int has(const uint8_t *buf, size_t len, const char *s)
{
    return memmem(buf, len, s, strlen(s)) != NULL;
}

/* m's safetensors encoding buf (len bytes, freed here) decodes to m's
 * shape, parameters and meta, and that encodes again to the same bytes. */
static void decode_encode_again(const mlp *m, uint8_t *buf, size_t len, const char *meta)
{
    mlp back;
    char *meta2 = NULL;
    fm_err e;
    assert_int_equal(convert_st_decode(buf, len, "x.safetensors", &back, &meta2, &e), FM_OK);
    assert_true(mlp_same_shape(m, &back));
    assert_memory_equal(m->params, back.params, m->nparams * sizeof(float));
    assert_string_equal(meta2, meta);
    uint8_t *buf2;
    size_t len2;
    assert_int_equal(convert_st_encode(&back, meta2, &buf2, &len2, NULL), FM_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    free(buf), free(buf2), free(meta2);
    mlp_free(&back);
}

/* Through files, named PREFIX1.model and so on: m (and meta) saved as a
 * model file and as safetensors, read back and saved as a model file again
 * gives the same bytes. */
static void files_round_trip(const mlp *m, const char *meta, const char *prefix)
{
    char a[64], st[64], b[64];
    snprintf(a, sizeof a, "%s1.model", prefix);
    snprintf(st, sizeof st, "%s1.safetensors", prefix);
    snprintf(b, sizeof b, "%s2.model", prefix);
    mlp back;
    char *meta2;
    fm_err e;
    assert_int_equal(model_save(path_in(a), m, meta, NULL, 0, &e), FM_OK);
    assert_int_equal(convert_save(path_in(st), m, meta, &e), FM_OK);
    assert_int_equal(convert_load(path_in(st), &back, &meta2, &e), FM_OK);
    assert_int_equal(convert_save(path_in(b), &back, meta2, &e), FM_OK);
    assert_true(tu_same_file(path_in(a), path_in(b)));
    free(meta2);
    mlp_free(&back);
}

static void test_st_round_trip(void **state)
{
    (void)state;
    mlp m;
    make_net(&m, mlp_fmnist_widths, 4, 7);
    /* Values that must survive bit for bit: -0, a subnormal, the largest float. */
    m.params[0] = -0.0f;
    m.params[1] = 1e-45f;
    m.params[m.nparams - 1] = 3.4028235e38f;
    const char *meta = "fmnist_version=0.1.0\nepochs=5\nlr=0.003\nnote=a \"quoted\" \\ value\n";
    uint8_t *buf;
    size_t len;
    assert_int_equal(convert_st_encode(&m, meta, &buf, &len, NULL), FM_OK);
    /* 8-byte length, the header padded so the data starts 8-aligned. */
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    assert_int_equal((8 + hlen) % 8, 0);
    assert_int_equal(len, 8 + hlen + 4 * m.nparams);
    assert_true(has(buf, len, "\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[256,784],"
                              "\"data_offsets\":[0,802816]}"));
    assert_true(has(buf, len, "{\"__metadata__\":{\"format\":\"pt\",\"fmnist_version\":\"0.1.0\","));
    assert_true(has(buf, len, "\"note\":\"a \\\"quoted\\\" \\\\ value\""));
    decode_encode_again(&m, buf, len, meta); /* "format" is dropped again */

    /* Through files: model -> safetensors -> model gives the same model file. */
    files_round_trip(&m, meta, "a");
    mlp_free(&m);
}

/* Metadata: the writers take what an fmnist model file may hold
 * (meta_check) and refuse the rest, as model_encode does: a line without
 * '=' came back as "bare=", a repeated key as its first value. "format",
 * safetensors' own key, is left out. */
static void test_st_metadata(void **state)
{
    (void)state;
    mlp m, back;
    make_net(&m, mlp_fmnist_widths, 4, 1);
    uint8_t *buf = NULL;
    size_t len = 0;
    static const struct {
        const char *meta, *msg;
    } bad[] = {
        {"a=1\nbare\n", "metadata line 2 has no '=' (key=value expected)"},
        {"a=1\n\nb=2\n", "metadata line 2 is empty"},
        {"a=1\nb=2\na=3\n", "metadata has 'a' twice"},
        {"a=1", "metadata line 1 does not end with a newline"},
        {"epochs=2.9\n", "metadata epochs: '2.9' is not an integer"},
        {"net=cnn\n", "metadata says net=cnn, but the network has no convolutions"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fm_err e;
        assert_int_equal(convert_st_encode(&m, bad[i].meta, &buf, &len, &e), FM_EINVAL);
        assert_string_equal(e.msg, bad[i].msg);
        assert_int_equal(convert_onnx_encode(&m, bad[i].meta, &buf, &len, &e), FM_EINVAL);
        assert_string_equal(e.msg, bad[i].msg);
        assert_null(buf);
        assert_int_equal(convert_save(path_in("bad.safetensors"), &m, bad[i].meta, &e), FM_EINVAL);
        assert_string_equal(e.file, path_in("bad.safetensors"));
        assert_false(tu_exists(path_in("bad.safetensors")));
    }
    assert_int_equal(convert_st_encode(&m, "a=1\nformat=x\nb=\n", &buf, &len, NULL), FM_OK);
    char *meta;
    assert_int_equal(convert_st_decode(buf, len, "x", &back, &meta, NULL), FM_OK);
    assert_string_equal(meta, "a=1\nb=\n");
    free(meta), free(buf);
    mlp_free(&back);
    mlp_free(&m);
}

/* ---- ONNX, decoded by a protobuf reader written here */

typedef struct pbf {
    unsigned field, wt;
    uint64_t v;          /* varint and fixed32 values */
    const uint8_t *data; /* length-delimited */
    size_t len;
} pbf;

static uint64_t varint(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (int s = 0;; s += 7) {
        assert_true(*p < end && s < 64);
        uint8_t c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80))
            return v;
    }
}

/* The next field of a message, or 0 at its end. */
static int pb_next(const uint8_t **p, const uint8_t *end, pbf *f)
{
    if (*p == end)
        return 0;
    uint64_t key = varint(p, end);
    f->field = (unsigned)(key >> 3);
    f->wt = (unsigned)(key & 7);
    if (f->wt == 0) {
        f->v = varint(p, end);
    } else if (f->wt == 2) {
        f->len = (size_t)varint(p, end);
        assert_true(f->len <= (size_t)(end - *p));
        f->data = *p;
        *p += f->len;
    } else {
        assert_int_equal(f->wt, 5);
        assert_true(end - *p >= 4);
        f->v = (uint64_t)(*p)[0] | (uint64_t)(*p)[1] << 8 | (uint64_t)(*p)[2] << 16 |
               (uint64_t)(*p)[3] << 24;
        *p += 4;
    }
    return 1;
}

static int is_str(const pbf *f, const char *s)
{
    return f->wt == 2 && f->len == strlen(s) && !memcmp(f->data, s, f->len);
}

/* An AttributeProto as "name=v" (INT) or "name=[a,b,...]" (INTS), appended
 * to out (cap bytes) after a ';' when out is not empty. */
static void attr_of(const pbf *f, char *out, size_t cap)
{
    const uint8_t *q = f->data, *qe = q + f->len;
    pbf a;
    char name[32] = "", ints[64] = "";
    long v = -1, type = -1;
    int nints = 0;
    while (pb_next(&q, qe, &a)) {
        if (a.field == 1)
            snprintf(name, sizeof name, "%.*s", (int)a.len, (const char *)a.data);
        else if (a.field == 3)
            v = (long)a.v;
        else if (a.field == 8) /* ints: unpacked, one varint each */
            snprintf(ints + strlen(ints), sizeof ints - strlen(ints), "%s%ld",
                     nints++ ? "," : "", (long)a.v);
        else if (a.field == 20)
            type = (long)a.v;
        else
            fail_msg("unexpected AttributeProto field %u", a.field);
    }
    size_t at = strlen(out);
    if (type == 2) /* AttributeProto.INT */
        snprintf(out + at, cap - at, "%s%s=%ld", at ? ";" : "", name, v);
    else if (type == 7 && nints && v == -1) /* INTS */
        snprintf(out + at, cap - at, "%s%s=[%s]", at ? ";" : "", name, ints);
    else
        fail_msg("attribute %s: type %ld", name, type);
}

/* A NodeProto as "op:in0,in1,...>out:attrs" (see attr_of); its name is
 * checked to be given. */
static void node_of(const pbf *n, char *got, size_t cap)
{
    const uint8_t *p = n->data, *end = p + n->len;
    pbf f;
    char op[32] = "", in[128] = "", out[32] = "", attr[128] = "";
    int named = 0;
    while (pb_next(&p, end, &f)) {
        if (f.field == 4)
            snprintf(op, sizeof op, "%.*s", (int)f.len, (const char *)f.data);
        else if (f.field == 1)
            snprintf(in + strlen(in), sizeof in - strlen(in), "%s%.*s", *in ? "," : "",
                     (int)f.len, (const char *)f.data);
        else if (f.field == 2)
            snprintf(out, sizeof out, "%.*s", (int)f.len, (const char *)f.data);
        else if (f.field == 3)
            named = f.len > 0;
        else if (f.field == 5)
            attr_of(&f, attr, sizeof attr);
        else
            fail_msg("unexpected NodeProto field %u", f.field);
    }
    assert_true(named);
    snprintf(got, cap, "%s:%s>%s:%s", op, in, out, attr);
}

/* An initializer the graph must hold: float32 values f (n of them), or
 * with i64 INT64 values. */
typedef struct want_tensor {
    const char *name;
    int ndims, dims[4];
    const float *f;
    const int64_t *i64;
    size_t n;
} want_tensor;

static uint64_t le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A TensorProto initializer: checks it against w, bit for bit. */
static void check_tensor(const pbf *t, const want_tensor *w)
{
    const uint8_t *p = t->data, *end = p + t->len;
    pbf f;
    int nd = 0, named = 0, typed = 0, raw = 0, size = w->i64 ? 8 : 4;
    while (pb_next(&p, end, &f)) {
        if (f.field == 1) {
            assert_true(nd < w->ndims);
            assert_int_equal(f.v, w->dims[nd++]);
        } else if (f.field == 2) {
            typed = f.v == (w->i64 ? 7u : 1u); /* INT64, FLOAT */
        } else if (f.field == 8) {
            named = is_str(&f, w->name);
        } else if (f.field == 9) {
            assert_int_equal(f.len, size * w->n);
            for (size_t i = 0; i < w->n; i++) {
                uint64_t u = le(f.data + size * i, size);
                if (w->i64) {
                    assert_int_equal((int64_t)u, w->i64[i]);
                } else {
                    uint32_t u32 = (uint32_t)u;
                    float x;
                    memcpy(&x, &u32, 4);
                    assert_memory_equal(&x, &w->f[i], 4);
                }
            }
            raw = 1;
        }
    }
    assert_int_equal(nd, w->ndims);
    if (!named || !typed || !raw)
        fail_msg("initializer %s: named %d, typed %d, raw data %d", w->name, named, typed, raw);
}

/* A ValueInfoProto: name, then float [N, width]. */
static void check_value(const pbf *v, const char *name, int width)
{
    const uint8_t *p = v->data, *end = p + v->len;
    pbf f;
    assert_true(pb_next(&p, end, &f) && f.field == 1 && is_str(&f, name));
    assert_true(pb_next(&p, end, &f) && f.field == 2); /* type */
    p = f.data, end = p + f.len;
    assert_true(pb_next(&p, end, &f) && f.field == 1); /* tensor_type */
    p = f.data, end = p + f.len;
    assert_true(pb_next(&p, end, &f) && f.field == 1 && f.v == 1); /* elem_type FLOAT */
    assert_true(pb_next(&p, end, &f) && f.field == 2);              /* shape */
    p = f.data, end = p + f.len;
    pbf d;
    assert_true(pb_next(&p, end, &f) && f.field == 1); /* dim: dim_param "N" */
    const uint8_t *q = f.data;
    assert_true(pb_next(&q, f.data + f.len, &d) && d.field == 2 && is_str(&d, "N"));
    assert_true(pb_next(&p, end, &f) && f.field == 1); /* dim: dim_value */
    q = f.data;
    assert_true(pb_next(&q, f.data + f.len, &d) && d.field == 1 && d.v == (uint64_t)width);
    assert_false(pb_next(&p, end, &f));
}

/* What a graph must be: its nodes in order (see node_of), its
 * initializers in order, its input's width and its output's. */
typedef struct want_graph {
    const char *const *ops;
    int nops;
    const want_tensor *inits;
    int ninits;
    int inputs, outputs;
} want_graph;

static void check_graph(const pbf *g, const want_graph *w)
{
    const uint8_t *p = g->data, *end = p + g->len;
    pbf f;
    int nodes = 0, inits = 0, inputs = 0, outputs = 0;
    while (pb_next(&p, end, &f)) {
        char got[256];
        if (f.field == 1) {
            node_of(&f, got, sizeof got);
            assert_true(nodes < w->nops);
            assert_string_equal(got, w->ops[nodes++]);
        } else if (f.field == 2) {
            assert_true(is_str(&f, "fmnist"));
        } else if (f.field == 5) {
            assert_true(inits < w->ninits);
            check_tensor(&f, &w->inits[inits++]);
        } else if (f.field == 11) {
            check_value(&f, "pixels", w->inputs), inputs++;
        } else if (f.field == 12) {
            check_value(&f, "log_probs", w->outputs), outputs++;
        } else {
            fail_msg("unexpected GraphProto field %u", f.field);
        }
    }
    assert_int_equal(nodes, w->nops);
    assert_int_equal(inits, w->ninits);
    assert_int_equal(inputs, 1);
    assert_int_equal(outputs, 1);
}

/* A whole ModelProto: IR version 7, producer fmnist, the graph w, opset
 * 13 of the default domain; the doc string into doc, the metadata_props as
 * "key=value;" (values cut to 12 bytes) into keys. */
static void check_model(const uint8_t *buf, size_t len, const want_graph *w, char *doc,
                        char *keys, size_t cap)
{
    /* ir_version 7 first: key (1 << 3 | 0) = 0x08, then 7. */
    assert_true(len > 2 && buf[0] == 0x08 && buf[1] == CONVERT_ONNX_IR_VERSION);
    const uint8_t *p = buf, *end = buf + len;
    pbf f;
    int graphs = 0, opsets = 0;
    doc[0] = keys[0] = 0;
    while (pb_next(&p, end, &f)) {
        if (f.field == 1) {
            assert_int_equal(f.v, 7);
        } else if (f.field == 2) {
            assert_true(is_str(&f, "fmnist"));
        } else if (f.field == 6) {
            snprintf(doc, cap, "%.*s", (int)f.len, (const char *)f.data);
        } else if (f.field == 7) {
            check_graph(&f, w), graphs++;
        } else if (f.field == 8) {
            const uint8_t *q = f.data;
            pbf v;
            assert_true(pb_next(&q, f.data + f.len, &v) && v.field == 2 && v.v == 13);
            assert_false(pb_next(&q, f.data + f.len, &v)); /* the default domain: no field */
            opsets++;
        } else if (f.field == 14) {
            const uint8_t *q = f.data;
            pbf k, v;
            assert_true(pb_next(&q, f.data + f.len, &k) && k.field == 1);
            assert_true(pb_next(&q, f.data + f.len, &v) && v.field == 2);
            snprintf(keys + strlen(keys), cap - strlen(keys), "%.*s=%.*s;", (int)k.len,
                     (const char *)k.data, v.len > 12 ? 12 : (int)v.len, (const char *)v.data);
        } else {
            assert_int_equal(f.field, 3); /* producer_version */
        }
    }
    assert_int_equal(graphs, 1);
    assert_int_equal(opsets, 1);
}

static const float k255 = 255.0f, khalf = 0.5f;

static void test_onnx_structure(void **state)
{
    (void)state;
    static const int widths[] = {5, 3, 2};
    static const char *const ops[] = {
        "Div:pixels,k255>scaled:", "Sub:scaled,k0.5>centred:", "Div:centred,k0.5>x:",
        "Gemm:x,fc1.weight,fc1.bias>fc1:transB=1", "Relu:fc1>relu1:",
        "Gemm:relu1,fc2.weight,fc2.bias>logits:transB=1", "LogSoftmax:logits>log_probs:axis=1"};
    mlp m;
    make_net(&m, widths, 2, 3);
    const want_tensor inits[] = {
        {"k255", 0, {0}, &k255, NULL, 1},
        {"k0.5", 0, {0}, &khalf, NULL, 1},
        {"fc1.weight", 2, {3, 5}, m.params + m.w_off[0], NULL, 15},
        {"fc1.bias", 1, {3}, m.params + m.b_off[0], NULL, 3},
        {"fc2.weight", 2, {2, 3}, m.params + m.w_off[1], NULL, 6},
        {"fc2.bias", 1, {2}, m.params + m.b_off[1], NULL, 2}};
    const want_graph w = {ops, 7, inits, 6, 5, 2};
    uint8_t *buf;
    size_t len;
    assert_int_equal(convert_onnx_encode(&m, "epochs=5\nseed=3\nclasses=x\n", &buf, &len, NULL),
                     FM_OK);
    char doc[256], keys[256];
    check_model(buf, len, &w, doc, keys, sizeof keys);
    assert_string_equal(doc, "Fashion-MNIST classifier: an MLP trained by fmnist");
    /* The model's "classes" is replaced by fmnist's own. */
    assert_string_equal(keys, "epochs=5;seed=3;classes=T-shirt/top,;preprocessing=input pixels;");
    free(buf);
    mlp_free(&m);
}

/* ---- the convolutional network */

static void make_cnn(mlp *m, uint64_t seed)
{
    assert_int_equal(mlp_create_shape(m, &mlp_fmnist_cnn, NULL), FM_OK);
    rng r;
    rng_seed(&r, seed);
    mlp_init_params(m, &r);
}

/* Its ONNX graph, node by node and attribute by attribute: the
 * normalisation, the image's shape, Conv + Relu + MaxPool twice, Flatten,
 * Gemm + Relu, Gemm, LogSoftmax; the initializers bit for bit. */
static void test_cnn_onnx_structure(void **state)
{
    (void)state;
    static const char *const ops[] = {
        "Div:pixels,k255>scaled:", "Sub:scaled,k0.5>centred:", "Div:centred,k0.5>x:",
        "Reshape:x,image_shape>image:",
        "Conv:image,conv1.weight,conv1.bias>conv1:kernel_shape=[3,3];pads=[1,1,1,1];"
        "strides=[1,1]",
        "Relu:conv1>conv1_relu:", "MaxPool:conv1_relu>pool1:kernel_shape=[2,2];strides=[2,2]",
        "Conv:pool1,conv2.weight,conv2.bias>conv2:kernel_shape=[3,3];pads=[1,1,1,1];"
        "strides=[1,1]",
        "Relu:conv2>conv2_relu:", "MaxPool:conv2_relu>pool2:kernel_shape=[2,2];strides=[2,2]",
        "Flatten:pool2>flat:axis=1",
        "Gemm:flat,fc1.weight,fc1.bias>fc1:transB=1", "Relu:fc1>relu1:",
        "Gemm:relu1,fc2.weight,fc2.bias>logits:transB=1", "LogSoftmax:logits>log_probs:axis=1"};
    static const int64_t image[4] = {-1, 1, 28, 28};
    mlp m;
    make_cnn(&m, 4);
    const float *P = m.params;
    const want_tensor inits[] = {
        {"k255", 0, {0}, &k255, NULL, 1},
        {"k0.5", 0, {0}, &khalf, NULL, 1},
        {"image_shape", 1, {4}, NULL, image, 4},
        {"conv1.weight", 4, {16, 1, 3, 3}, P + m.cw_off[0], NULL, 144},
        {"conv1.bias", 1, {16}, P + m.cb_off[0], NULL, 16},
        {"conv2.weight", 4, {32, 16, 3, 3}, P + m.cw_off[1], NULL, 4608},
        {"conv2.bias", 1, {32}, P + m.cb_off[1], NULL, 32},
        {"fc1.weight", 2, {64, 1568}, P + m.w_off[0], NULL, 100352},
        {"fc1.bias", 1, {64}, P + m.b_off[0], NULL, 64},
        {"fc2.weight", 2, {10, 64}, P + m.w_off[1], NULL, 640},
        {"fc2.bias", 1, {10}, P + m.b_off[1], NULL, 10}};
    const want_graph w = {ops, 15, inits, 11, 784, 10};
    /* The parameters are the network's, in order, and nothing else. */
    assert_int_equal(m.cw_off[0], 0);
    assert_int_equal(m.b_off[1] + 10, m.nparams);
    assert_int_equal(m.nparams, 144 + 16 + 4608 + 32 + 100352 + 64 + 640 + 10);
    uint8_t *buf;
    size_t len;
    const char *meta = "epochs=1\nnet=cnn\n";
    assert_int_equal(convert_onnx_encode(&m, meta, &buf, &len, NULL), FM_OK);
    char doc[256], keys[256];
    check_model(buf, len, &w, doc, keys, sizeof keys);
    assert_string_equal(doc, "Fashion-MNIST classifier: a convolutional network "
                             "(28x28-conv3x16-conv3x32-1568-64-10) trained by fmnist");
    assert_string_equal(keys, "epochs=1;net=cnn;classes=T-shirt/top,;preprocessing=input pixels;");

    /* model file -> ONNX through the files: the same bytes as encoded here. */
    assert_int_equal(model_save(path_in("cnn.model"), &m, meta, NULL, 0, NULL), FM_OK);
    mlp back;
    char *meta2;
    assert_int_equal(convert_load(path_in("cnn.model"), &back, &meta2, NULL), FM_OK);
    assert_int_equal(convert_save(path_in("cnn.onnx"), &back, meta2, NULL), FM_OK);
    size_t n;
    uint8_t *file = tu_read(path_in("cnn.onnx"), &n);
    assert_true(file && n == len);
    assert_memory_equal(file, buf, len);
    free(file), free(buf), free(meta2);
    mlp_free(&back);
    mlp_free(&m);
}

/* ---- malformed safetensors */

static uint8_t *good;     /* a valid file of one of fmnist's networks (use_good) */
static size_t good_len, good_hlen;
static uint8_t *goods[2];
static size_t goods_len[2];

/* good: a valid file of the MLP (cnn 0) or of the convolutional network. */
static void use_good(int cnn)
{
    if (!goods[cnn]) {
        mlp m;
        if (cnn)
            make_cnn(&m, 5);
        else
            make_net(&m, mlp_fmnist_widths, 4, 5);
        assert_int_equal(convert_st_encode(&m, "epochs=5\n", &goods[cnn], &goods_len[cnn], NULL),
                         FM_OK);
        mlp_free(&m);
    }
    good = goods[cnn];
    good_len = goods_len[cnn];
    good_hlen = good[0] | (size_t)good[1] << 8 | (size_t)good[2] << 16;
}

static void make_good(void)
{
    use_good(0);
}

/* A file of header text hdr (its length field set to hlen when given,
 * else to its length) followed by dlen bytes of good's data (extra bytes
 * beyond good's are zeros). */
static uint8_t *build(const char *hdr, uint64_t hlen, size_t dlen, size_t *len)
{
    size_t n = strlen(hdr), have = good_len - 8 - good_hlen;
    uint8_t *b = calloc(1, 8 + n + dlen);
    uint64_t h = hlen ? hlen : n;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(h >> (8 * i));
    memcpy(b + 8, hdr, n);
    memcpy(b + 8 + n, good + 8 + good_hlen, dlen < have ? dlen : have);
    *len = 8 + n + dlen;
    return b;
}

/* good's header with the first `from` replaced by `to`. */
static char *header_with(const char *from, const char *to)
{
    char *h = malloc(good_hlen + strlen(to) + 1);
    memcpy(h, good + 8, good_hlen);
    h[good_hlen] = 0;
    char *at = strstr(h, from);
    assert_non_null(at);
    memmove(at + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
    memcpy(at, to, strlen(to));
    return h;
}

/* Loading `bytes` fails with code and a message holding want; the outputs
 * stay untouched; `fmnist convert` says the same, exits 1 and neither
 * creates nor changes its output. */
static void expect_refused(const uint8_t *bytes, size_t len, int code, const char *want)
{
    char *in = path_in("bad.safetensors"), *out = path_in("out.model");
    tu_write(in, bytes, len);
    mlp m, pattern;
    memset(&m, 0xab, sizeof m);
    memset(&pattern, 0xab, sizeof pattern);
    char sentinel, *meta = &sentinel;
    fm_err e;
    int rc = convert_load(in, &m, &meta, &e);
    if (rc != code || !strstr(e.msg, want))
        fail_msg("expected %d '%s', got %d '%s'", code, want, rc, rc ? e.msg : "");
    assert_string_equal(e.file, in);
    assert_memory_equal(&m, &pattern, sizeof m);
    assert_ptr_equal(meta, &sentinel);
    /* The same through the decoder without metadata. */
    assert_int_equal(convert_st_decode(bytes, len, "b", &m, NULL, NULL), code);

    remove(out);
    char *o = NULL, *err = NULL;
    assert_int_equal(tu_fmnist(&o, &err, "convert --model %s -o %s", in, out), 1);
    if (!strstr(err, want) || strncmp(err, "fmnist: ", 8) || strchr(err, '\n') != err + strlen(err) - 1)
        fail_msg("fmnist convert said: %s", err);
    assert_false(tu_exists(out));
    free(o), free(err);
    tu_write(out, "old", 3);
    assert_int_equal(tu_fmnist(NULL, NULL, "convert --model %s -o %s", in, out), 1);
    size_t n = 0;
    uint8_t *was = tu_read(out, &n);
    assert_true(was && n == 3 && !memcmp(was, "old", 3));
    free(was);
    remove(out);
}

/* The header with one substitution; the data as good's. */
static void refused_with(const char *from, const char *to, int code, const char *want)
{
    char *h = header_with(from, to);
    size_t len;
    uint8_t *b = build(h, 0, good_len - 8 - good_hlen, &len);
    expect_refused(b, len, code, want);
    free(b), free(h);
}

static void test_st_truncated(void **state)
{
    (void)state;
    make_good();
    expect_refused(good, 0, FM_EFORMAT, "too short for safetensors");
    expect_refused(good, 7, FM_EFORMAT, "truncated: 7 bytes, too short for safetensors");
    expect_refused(good, 1, FM_EFORMAT, "truncated: 1 byte, too short for safetensors");
    expect_refused(good, 8 + good_hlen / 2, FM_EFORMAT, "is past the end of the file");
    expect_refused(good, good_len - 1, FM_EFORMAT,
                   "fc4.bias: data_offsets [971008, 971048] outside the data (971047 bytes): "
                   "truncated?");
    expect_refused(good, 8 + good_hlen, FM_EFORMAT, "fc1.weight: data_offsets [0, 802816] outside");
}

static void test_st_header_length(void **state)
{
    (void)state;
    make_good();
    size_t len;
    uint8_t *b = build("{}", (uint64_t)1 << 62, 0, &len);
    expect_refused(b, len, FM_EFORMAT, "header length 4611686018427387904 is past the end");
    free(b);
    /* Within the file but over the cap: refused before any parsing. */
    char *big = malloc(CONVERT_ST_HEADER_MAX + 2);
    memset(big, ' ', CONVERT_ST_HEADER_MAX + 1);
    big[0] = '{';
    big[CONVERT_ST_HEADER_MAX + 1] = 0;
    b = build(big, 0, 0, &len);
    expect_refused(b, len, FM_ELIMIT, "header of 1048577 bytes is over the 1048576 read");
    free(b), free(big);
    b = build("[]", 0, 0, &len);
    expect_refused(b, len, FM_EFORMAT, "not safetensors: its header is not a JSON object");
    free(b);
}

static void test_st_bad_json(void **state)
{
    (void)state;
    make_good();
    refused_with("\"fc1.weight\":", "\"fc1.weight\" ", FM_EFORMAT, "bad JSON at byte 66: expected ':'");
    refused_with("[256,784]", "[256,784,]", FM_EFORMAT, "expected a non-negative integer");
    refused_with("[256,784]", "[256,0784]", FM_EFORMAT, "expected a non-negative integer");
    refused_with("[256,784]", "[256,784.0]", FM_EFORMAT, "expected a non-negative integer");
    refused_with("[256,784]", "[256,-784]", FM_EFORMAT, "expected a non-negative integer");
    refused_with("[256,784]", "[256,99999999999999999999]", FM_EFORMAT, "integer too large");
    refused_with("\"dtype\":\"F32\",", "\"dtype\":\"F32\" ", FM_EFORMAT, "expected ',' or '}'");
    refused_with("[256,784]", "[256 784]", FM_EFORMAT, "expected ',' or ']'");
    refused_with("[256,784]", "[256,784}", FM_EFORMAT, "expected ',' or ']'");
    refused_with("{\"dtype\":\"F32\",\"shape\":[256,784]", "{\"dtype\":\"F32\",\"shape\":[256,784]}",
                 FM_EFORMAT, "header: fc1.weight has no data_offsets");
    refused_with("\"epochs\"", "\"ep\\qochs\"", FM_EFORMAT, "bad escape in a string");
    refused_with("\"epochs\"", "\"ep\\ud800chs\"", FM_EFORMAT, "unpaired surrogate");
    refused_with("\"epochs\"", "\"ep\xc3(chs\"", FM_EFORMAT, "invalid UTF-8 in a string");
    refused_with("\"epochs\"", "\"ep\tchs\"", FM_EFORMAT, "control character in a string");
    refused_with("\"5\"}", "5}", FM_EFORMAT, "__metadata__'s values must be strings");
    refused_with("\"5\"}", "\"5\",\"epochs\":\"6\"}", FM_EFORMAT, "__metadata__ has 'epochs' twice");
    refused_with("\"dtype\":\"F32\"", "\"dtype\":\"F32\",\"dtype\":\"F32\"", FM_EFORMAT,
                 "fc1.weight has 'dtype' twice");
    refused_with("\"dtype\":\"F32\"", "\"kind\":\"F32\"", FM_EFORMAT,
                 "fc1.weight has an unexpected field 'kind'");
    refused_with("\"fc2.bias\"", "\"fc1.bias\"", FM_EFORMAT, "fc1.bias given twice");
    refused_with("\"fc2.bias\"", "\"fc5.bias\"", FM_EFORMAT, "unexpected tensor 'fc5.bias'");
    /* Escapes decode: "fc\u0032.bias" is fc2.bias; metadata outside printable
     * ASCII (and '=' in a key) becomes '?'. */
    char *h = header_with("\"fc2.bias\"", "\"fc\\u0032.bias\"");
    char *h2 = header_with("\"epochs\"", "\"ep\\u00e9=\xc3\xa9\\ud83d\\ude00\"");
    size_t len;
    mlp m;
    char *meta;
    uint8_t *b = build(h, 0, good_len - 8 - good_hlen, &len);
    assert_int_equal(convert_st_decode(b, len, "x", &m, NULL, NULL), FM_OK);
    mlp_free(&m);
    free(b), free(h);
    b = build(h2, 0, good_len - 8 - good_hlen, &len);
    assert_int_equal(convert_st_decode(b, len, "x", &m, &meta, NULL), FM_OK);
    assert_string_equal(meta, "ep?\?\?\?=5\n");
    mlp_free(&m);
    free(b), free(h2), free(meta);
    /* Bytes after the object, other than the padding. */
    h = header_with("}}  ", "}}x ");
    b = build(h, 0, good_len - 8 - good_hlen, &len);
    expect_refused(b, len, FM_EFORMAT, "more after the header's object");
    free(b), free(h);
}

/* What the metadata says of the training is read as train reads it: a
 * value train could not have written, or a net that is not the tensors',
 * is refused, not copied into the model (eval showed "epochs abc"); two
 * keys that are one once kept in ASCII are one key twice. */
static void test_st_metadata_checked(void **state)
{
    (void)state;
    make_good();
    refused_with("\"epochs\":\"5\"", "\"epochs\":\"abc\"", FM_EFORMAT,
                 "header: __metadata__ epochs: 'abc' is not an integer");
    refused_with("\"epochs\":\"5\"", "\"epochs\":\"5\",\"seed\":\"-5\"", FM_EFORMAT,
                 "header: __metadata__ seed: '-5' is not a non-negative integer");
    refused_with("\"epochs\":\"5\"", "\"epochs\":\"5\",\"net\":\"gpt\"", FM_EFORMAT,
                 "header: __metadata__ net: 'gpt' is not mlp or cnn");
    refused_with("\"epochs\":\"5\"", "\"epochs\":\"5\",\"net\":\"cnn\"", FM_EFORMAT,
                 "header: __metadata__ says net=cnn, but the network has no convolutions");
    refused_with("\"epochs\":\"5\"", "\"a\\u00e9\":\"1\",\"a\\u00e8\":\"2\"", FM_EFORMAT,
                 "header: __metadata__ has 'a?' twice");
    refused_with("\"epochs\":\"5\"", "\"epochs\":\"5\",\"format\":\"pt\"", FM_EFORMAT,
                 "header: __metadata__ has 'format' twice");
    refused_with("\"epochs\":\"5\"", "\"epochs\":\"5\",\"\":\"x\"", FM_EFORMAT,
                 "header: __metadata__ line 2 has no key before its '='");
    /* A value too long to read whole is refused: a prefix of it is a valid lr. */
    char lr[128] = "\"epochs\":\"5\",\"lr\":\"0.003";
    memset(lr + strlen(lr), '0', 58);
    strcpy(lr + strlen(lr), "abc\"");
    refused_with("\"epochs\":\"5\"", lr, FM_EFORMAT, "header: __metadata__ lr: '(too long)' is not a number");
    refused_with("\"epochs\":\"5\"", "\"epochs\":\"5\",\"augment\":\"scale=0x1p-3\"", FM_EFORMAT,
                 "header: __metadata__ augment: scale: '0x1p-3' is not a number in [0, 0.5]");
    use_good(1);
    refused_with("\"epochs\":\"5\"", "\"epochs\":\"5\",\"net\":\"mlp\"", FM_EFORMAT,
                 "header: __metadata__ says net=mlp, but the network has convolutions");
    /* Metadata that fits, but not with net=cnn added (65,534 bytes). */
    enum { PAD = 65520 };
    char *pad = malloc(PAD + 64);
    strcpy(pad, "\"epochs\":\"5\",\"pad\":\"");
    size_t at = strlen(pad);
    memset(pad + at, 'x', PAD);
    strcpy(pad + at + PAD, "\"");
    refused_with("\"epochs\":\"5\"", pad, FM_ELIMIT, "with net=cnn added");
    free(pad);
    make_good();
}

static void test_st_wrong_tensors(void **state)
{
    (void)state;
    make_good();
    refused_with("\"F32\",\"shape\":[64,128]", "\"F16\",\"shape\":[64,128]", FM_EFORMAT,
                 "fc3.weight: dtype F16; only F32 is supported");
    refused_with("[256,784]", "[784,256]", FM_EFORMAT,
                 "fc1.weight: shape [784, 256]; the network needs [256, 784]");
    refused_with("[256]", "[1,256]", FM_EFORMAT, "fc1.bias: shape [1, 256]; the network needs [256]");
    refused_with("[256,784]", "[256,784,1,1,1,1,1,1,1]", FM_EFORMAT, "a shape has more than 8");
    refused_with("\"fc3.bias\":{\"dtype\":\"F32\",\"shape\":[64],", "\"fc3.bias\":{\"dtype\":\"F32\",",
                 FM_EFORMAT, "fc3.bias has no shape");
    refused_with(",\"fc3.bias\"", ",\"__metadata__\":{},\"x3.bias\"", FM_EFORMAT,
                 "__metadata__ given twice");
    /* fc3.bias left out altogether. */
    char *h = header_with(",\"fc3.bias\":{\"dtype\":\"F32\",\"shape\":[64],\"data_offsets\":[968192,968448]}", "");
    size_t len;
    uint8_t *b = build(h, 0, good_len - 8 - good_hlen, &len);
    expect_refused(b, len, FM_EFORMAT, "fc3.bias missing");
    free(b), free(h);
}

static void test_st_offsets(void **state)
{
    (void)state;
    make_good();
    /* Overlapping: fc1.bias moved onto the start of fc1.weight. */
    refused_with("[802816,803840]", "[0,1024]", FM_EFORMAT, "fc1.weight and fc1.bias overlap");
    refused_with("[802816,803840]", "[802816,803844]", FM_EFORMAT,
                 "fc1.bias: data_offsets [802816, 803844] hold 1028 bytes, its shape needs 1024");
    refused_with("[802816,803840]", "[803840,802816]", FM_EFORMAT,
                 "fc1.bias: data_offsets [803840, 802816] outside the data");
    refused_with("[971008,971048]", "[971012,971052]", FM_EFORMAT,
                 "fc4.bias: data_offsets [971012, 971052] outside the data (971048 bytes)");
    refused_with("\"data_offsets\":[0,802816]", "\"data_offsets\":[0]", FM_EFORMAT,
                 "header: fc1.weight's data_offsets has 1 entry, not 2");
    refused_with("\"data_offsets\":[0,802816]", "\"data_offsets\":[]", FM_EFORMAT,
                 "header: fc1.weight's data_offsets has 0 entries, not 2");
    refused_with("[802816,803840]", "[802816,802817]", FM_EFORMAT,
                 "fc1.bias: data_offsets [802816, 802817] hold 1 byte, its shape needs 1024");
    /* A hole: four bytes after the last tensor. */
    size_t len;
    char *h = header_with("{", "{");
    uint8_t *b = build(h, 0, good_len - 8 - good_hlen + 4, &len);
    expect_refused(b, len, FM_EFORMAT, "971052 bytes of data, the tensors cover 971048");
    free(b), free(h);
}

static void test_st_non_finite(void **state)
{
    (void)state;
    make_good();
    uint8_t *b = malloc(good_len);
    size_t at = 8 + good_hlen + 803840 + 4 * 5; /* fc2.weight element 5 */
    memcpy(b, good, good_len);
    memcpy(b + at, "\x00\x00\xc0\x7f", 4);
    expect_refused(b, good_len, FM_EFORMAT, "fc2.weight: element 5 is NaN");
    memcpy(b + at, "\x00\x00\x80\xff", 4);
    expect_refused(b, good_len, FM_EFORMAT, "fc2.weight: element 5 is infinite");
    free(b);
}

/* ---- the convolutional network's safetensors */

/* Its bytes: the header exactly, the data its parameters bit for bit;
 * decoded, the same network; encoded again, the same bytes; model file ->
 * safetensors -> model file, the same file. */
static void test_cnn_st_round_trip(void **state)
{
    (void)state;
    static const char header[] =
        "{\"__metadata__\":{\"format\":\"pt\",\"epochs\":\"1\",\"net\":\"cnn\"},"
        "\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[16,1,3,3],\"data_offsets\":[0,576]},"
        "\"conv1.bias\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[576,640]},"
        "\"conv2.weight\":{\"dtype\":\"F32\",\"shape\":[32,16,3,3],\"data_offsets\":[640,19072]},"
        "\"conv2.bias\":{\"dtype\":\"F32\",\"shape\":[32],\"data_offsets\":[19072,19200]},"
        "\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[64,1568],\"data_offsets\":[19200,420608]},"
        "\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[64],\"data_offsets\":[420608,420864]},"
        "\"fc2.weight\":{\"dtype\":\"F32\",\"shape\":[10,64],\"data_offsets\":[420864,423424]},"
        "\"fc2.bias\":{\"dtype\":\"F32\",\"shape\":[10],\"data_offsets\":[423424,423464]}}";
    const char *meta = "epochs=1\nnet=cnn\n";
    mlp m;
    make_cnn(&m, 11);
    m.params[m.cw_off[0]] = -0.0f;
    m.params[m.cb_off[1]] = 1e-45f;
    m.params[m.nparams - 1] = -3.4028235e38f;
    uint8_t *buf;
    size_t len;
    assert_int_equal(convert_st_encode(&m, meta, &buf, &len, NULL), FM_OK);
    size_t hlen = (size_t)le(buf, 8), pad = (8 - (8 + sizeof header - 1) % 8) % 8;
    assert_int_equal(hlen, sizeof header - 1 + pad);
    assert_memory_equal(buf + 8, header, sizeof header - 1);
    for (size_t i = 0; i < pad; i++)
        assert_int_equal(buf[8 + sizeof header - 1 + i], ' ');
    assert_int_equal(len, 8 + hlen + 4 * m.nparams);
    for (size_t i = 0; i < m.nparams; i++) {
        uint32_t u = (uint32_t)le(buf + 8 + hlen + 4 * i, 4);
        assert_memory_equal(&u, &m.params[i], 4);
    }
    decode_encode_again(&m, buf, len, meta);

    files_round_trip(&m, meta, "c");
    mlp_free(&m);
}

/* Another writer's file: the entries in another order, the data in
 * reverse order, pretty-printed. The same network. */
static void test_cnn_st_reordered(void **state)
{
    (void)state;
    static const struct { const char *name, *shape; size_t n; } t[8] = {
        {"conv1.weight", "[16, 1, 3, 3]", 144}, {"conv1.bias", "[16]", 16},
        {"conv2.weight", "[32, 16, 3, 3]", 4608}, {"conv2.bias", "[32]", 32},
        {"fc1.weight", "[64, 1568]", 100352}, {"fc1.bias", "[64]", 64},
        {"fc2.weight", "[10, 64]", 640}, {"fc2.bias", "[10]", 10}};
    static const int listed[8] = {5, 0, 7, 2, 4, 1, 6, 3};
    mlp m, back;
    make_cnn(&m, 12);
    size_t begin[8], at = 0, from[8], off = 0;
    for (int k = 0; k < 8; k++) {
        from[k] = off; /* tensor k's floats in m.params */
        off += t[k].n;
    }
    for (int k = 7; k >= 0; k--) {
        begin[k] = at; /* its bytes in the file: reversed */
        at += 4 * t[k].n;
    }
    char hdr[2048] = "{\n  \"__metadata__\": {\"seed\": \"12\"}";
    for (int i = 0; i < 8; i++) {
        int k = listed[i];
        snprintf(hdr + strlen(hdr), sizeof hdr - strlen(hdr),
                 ",\n  \"%s\": {\"data_offsets\": [%zu, %zu], \"shape\": %s, \"dtype\": \"F32\"}",
                 t[k].name, begin[k], begin[k] + 4 * t[k].n, t[k].shape);
    }
    strcat(hdr, "\n}");
    size_t hlen = strlen(hdr), len = 8 + hlen + 4 * m.nparams;
    uint8_t *b = malloc(len);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    for (int k = 0; k < 8; k++)
        for (size_t i = 0; i < t[k].n; i++) {
            uint32_t u;
            memcpy(&u, &m.params[from[k] + i], 4);
            for (int j = 0; j < 4; j++)
                b[8 + hlen + begin[k] + 4 * i + j] = (uint8_t)(u >> (8 * j));
        }
    char *meta;
    assert_int_equal(convert_st_decode(b, len, "x", &back, &meta, NULL), FM_OK);
    assert_true(mlp_has_shape(&back, &mlp_fmnist_cnn));
    assert_memory_equal(back.params, m.params, 4 * m.nparams);
    assert_string_equal(meta, "seed=12\nnet=cnn\n"); /* as train writes it */
    free(b), free(meta);
    mlp_free(&back);
    mlp_free(&m);
}

/* good's header with entry `from` (its whole text, with the leading ',')
 * left out: a file missing that tensor. */
static void refused_without(const char *from, int code, const char *want)
{
    char *h = header_with(from, "");
    size_t len;
    uint8_t *b = build(h, 0, good_len - 8 - good_hlen, &len);
    expect_refused(b, len, code, want);
    free(b), free(h);
}

static void test_cnn_st_refused(void **state)
{
    (void)state;
    use_good(1);
    size_t dlen = good_len - 8 - good_hlen, len;
    assert_int_equal(dlen, 423464);
    expect_refused(good, good_len - 1, FM_EFORMAT,
                   "fc2.bias: data_offsets [423424, 423464] outside the data (423463 bytes): "
                   "truncated?");
    /* Missing tensors: any of conv1's or conv2's makes it the convolutional network. */
    refused_without(",\"conv2.bias\":{\"dtype\":\"F32\",\"shape\":[32],"
                    "\"data_offsets\":[19072,19200]}", FM_EFORMAT, "conv2.bias missing");
    refused_without("\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[16,1,3,3],"
                    "\"data_offsets\":[0,576]},", FM_EFORMAT, "conv1.weight missing");
    refused_without(",\"fc2.weight\":{\"dtype\":\"F32\",\"shape\":[10,64],"
                    "\"data_offsets\":[420864,423424]}", FM_EFORMAT, "fc2.weight missing");
    /* Wrong shapes and dtypes. */
    refused_with("[16,1,3,3]", "[16,1,9]", FM_EFORMAT,
                 "conv1.weight: shape [16, 1, 9]; the network needs [16, 1, 3, 3]");
    refused_with("[32,16,3,3]", "[32,16,3,3,1]", FM_EFORMAT,
                 "conv2.weight: shape [32, 16, 3, 3, 1]; the network needs [32, 16, 3, 3]");
    refused_with("[64,1568]", "[256,784]", FM_EFORMAT,
                 "fc1.weight: shape [256, 784]; the network needs [64, 1568]");
    refused_with("[32]", "[16]", FM_EFORMAT, "conv2.bias: shape [16]; the network needs [32]");
    refused_with("\"F32\",\"shape\":[32,16,3,3]", "\"BF16\",\"shape\":[32,16,3,3]", FM_EFORMAT,
                 "conv2.weight: dtype BF16; only F32 is supported");
    refused_with("\"conv1.bias\":{\"dtype\":\"F32\",", "\"conv1.bias\":{", FM_EFORMAT,
                 "header: conv1.bias has no dtype");
    refused_with("\"conv1.bias\"", "\"conv1.weight\"", FM_EFORMAT,
                 "header: conv1.weight given twice");
    refused_with("\"conv2.bias\"", "\"conv3.bias\"", FM_EFORMAT, "unexpected tensor 'conv3.bias'");
    /* Offsets: overlapping, the wrong length, outside, a hole. */
    refused_with("[576,640]", "[0,64]", FM_EFORMAT, "conv1.weight and conv1.bias overlap");
    refused_with("[576,640]", "[576,644]", FM_EFORMAT,
                 "conv1.bias: data_offsets [576, 644] hold 68 bytes, its shape needs 64");
    refused_with("[19072,19200]", "[423464,423592]", FM_EFORMAT,
                 "conv2.bias: data_offsets [423464, 423592] outside the data (423464 bytes)");
    char *h = header_with("{", "{");
    uint8_t *b = build(h, 0, dlen + 4, &len);
    expect_refused(b, len, FM_EFORMAT, "423468 bytes of data, the tensors cover 423464");
    free(b), free(h);
    /* Values: NaN and infinities, named by tensor and element. */
    b = malloc(good_len);
    memcpy(b, good, good_len);
    memcpy(b + 8 + good_hlen + 4 * 3, "\x01\x00\x80\x7f", 4); /* conv1.weight[3]: a NaN */
    expect_refused(b, good_len, FM_EFORMAT, "conv1.weight: element 3 is NaN");
    memcpy(b, good, good_len);
    memcpy(b + 8 + good_hlen + 19072 + 4 * 31, "\x00\x00\x80\x7f", 4);
    expect_refused(b, good_len, FM_EFORMAT, "conv2.bias: element 31 is infinite");
    free(b);
}

/* One network's tensors only: an MLP tensor in the convolutional
 * network's file, a convolution's in the MLP's, each named. */
static void test_st_mixed_networks(void **state)
{
    (void)state;
    use_good(1);
    size_t len;
    char *h = header_with("}}", "},\"fc3.bias\":{\"dtype\":\"F32\",\"shape\":[64],"
                                "\"data_offsets\":[423464,423720]}}");
    uint8_t *b = build(h, 0, good_len - 8 - good_hlen + 256, &len);
    expect_refused(b, len, FM_EFORMAT,
                   "fc3.bias is a tensor of the MLP (784-256-128-64-10), but conv1.weight makes "
                   "this the convolutional network (28x28-conv3x16-conv3x32-1568-64-10): one "
                   "network's tensors only");
    free(b), free(h);
    use_good(0);
    h = header_with("}}", "},\"conv1.bias\":{\"dtype\":\"F32\",\"shape\":[16],"
                          "\"data_offsets\":[971048,971112]}}");
    b = build(h, 0, good_len - 8 - good_hlen + 64, &len);
    expect_refused(b, len, FM_EFORMAT,
                   "fc3.weight is a tensor of the MLP (784-256-128-64-10), but conv1.bias makes "
                   "this the convolutional network");
    free(b), free(h);
    /* A name of neither network. */
    char *x = header_with(",\"fc3.weight\"", ",\"conv9\":0,\"fc3.weight\"");
    b = build(x, 0, good_len - 8 - good_hlen, &len);
    expect_refused(b, len, FM_EFORMAT, "unexpected tensor 'conv9'");
    free(b), free(x);
}

/* A model file and a safetensors file each taken for the other is said to
 * be what it is: a model named .safetensors was read as a header length
 * ("header length 4921682684474707270 is past the end"), a safetensors
 * file given to eval or classify was "not an fmnist model file" with no
 * word of what to do. */
static void test_st_and_model_told_apart(void **state)
{
    (void)state;
    mlp m;
    make_net(&m, mlp_fmnist_widths, 4, 3);
    uint8_t *st, *model;
    size_t st_len, model_len;
    assert_int_equal(convert_st_encode(&m, "epochs=5\n", &st, &st_len, NULL), FM_OK);
    assert_int_equal(model_encode(&m, "epochs=5\n", NULL, 0, &model, &model_len, NULL), FM_OK);
    mlp_free(&m);
    fm_err e;
    assert_int_equal(convert_st_decode(model, model_len, "m.safetensors", &m, NULL, &e), FM_EFORMAT);
    assert_string_equal(e.msg, "an fmnist model file, not safetensors as its name says (rename it "
                               "to end in .model)");
    static const struct {
        const char *name, *msg;
    } as_model[] = {
        {"dir/m.safetensors", "a safetensors file, not an fmnist model file (convert it: 'fmnist "
                              "convert --model dir/m.safetensors -o dir/m.model')"},
        {"my m.SafeTensors", "a safetensors file, not an fmnist model file (convert it: 'fmnist "
                             "convert --model \"my m.SafeTensors\" -o \"my m.model\"')"},
        {"m.model", "a safetensors file, not an fmnist model file ('fmnist convert' makes one "
                    "from it once its name ends in .safetensors)"},
        {"dir/.safetensors", "a safetensors file, not an fmnist model file ('fmnist convert' makes "
                             "one from it once its name ends in .safetensors)"},
    };
    for (size_t i = 0; i < sizeof as_model / sizeof *as_model; i++) {
        assert_int_equal(model_decode(st, st_len, as_model[i].name, &m, NULL, NULL, NULL, &e),
                         FM_EFORMAT);
        assert_string_equal(e.msg, as_model[i].msg);
    }
    /* Not quite safetensors' start (a header length past the end, or no '{'): not named so. */
    st[8] = '[';
    assert_int_equal(model_decode(st, st_len, "m.safetensors", &m, NULL, NULL, NULL, &e), FM_EFORMAT);
    assert_string_equal(e.msg, "not an fmnist model file");
    st[8] = '{';
    assert_int_equal(model_decode(st, 200, "m.safetensors", &m, NULL, NULL, NULL, &e), FM_EFORMAT);
    assert_string_equal(e.msg, "not an fmnist model file");
    /* The commands say the same, one line each, status 1. */
    tu_write(path_in("was-model.safetensors"), model, model_len);
    tu_write(path_in("was-st.safetensors"), st, st_len);
    char *o, *err, want[40000];
    assert_int_equal(tu_fmnist(&o, &err, "convert --model %s -o %s", path_in("was-model.safetensors"),
                               path_in("x.onnx")), 1);
    snprintf(want, sizeof want, "fmnist: %s: an fmnist model file, not safetensors as its name says "
             "(rename it to end in .model)\n", path_in("was-model.safetensors"));
    assert_string_equal(err, want);
    assert_false(tu_exists(path_in("x.onnx")));
    free(o), free(err);
    char was_st[4200];
    snprintf(was_st, sizeof was_st, "%s", path_in("was-st.safetensors"));
    snprintf(want, sizeof want, "fmnist: %s: a safetensors file, not an fmnist model file (convert "
             "it: 'fmnist convert --model %s -o %.*s.model')\n", was_st, was_st,
             (int)(strlen(was_st) - 12), was_st);
    assert_int_equal(tu_fmnist(&o, &err, "eval --data data/sample --model %s", was_st), 1);
    assert_string_equal(err, want);
    free(o), free(err);
    assert_int_equal(tu_fmnist(&o, &err, "classify --model %s tests/fixtures/t0-gray28.png", was_st), 1);
    assert_string_equal(err, want);
    free(o), free(err);
    free(st), free(model);
}

/* ---- the command */

static void test_cli_convert(void **state)
{
    (void)state;
    mlp m;
    make_net(&m, mlp_fmnist_widths, 4, 9);
    char *model = path_in("c.model");
    assert_int_equal(model_save(model, &m, "epochs=5\nseed=9\n", NULL, 0, NULL), FM_OK);
    mlp_free(&m);
    char *o, *err;
    assert_int_equal(tu_fmnist(&o, &err, "convert --model %s -o %s/c.onnx", model, T), 0);
    assert_non_null(strstr(o, "c.onnx: ONNX, 784-256-128-64-10, 242762 parameters from "));
    free(o), free(err);
    assert_int_equal(tu_fmnist(&o, &err, "convert --model %s -o %s/c.safetensors", model, T), 0);
    assert_non_null(strstr(o, "c.safetensors: safetensors, 784-256-128-64-10"));
    free(o), free(err);
    assert_int_equal(tu_fmnist(NULL, NULL, "convert --model %s/c.safetensors -o %s/d.model", T, T),
                     0);
    assert_true(tu_same_file(model, path_in("d.model")));
    /* Usage errors: status 2, the extensions named. */
    assert_int_equal(tu_fmnist(&o, &err, "convert --model %s -o %s/c.txt", model, T), 2);
    assert_non_null(strstr(err, "must end in .onnx, .safetensors or .model"));
    free(o), free(err);
    assert_int_equal(tu_fmnist(&o, &err, "convert --model %s", model), 2);
    assert_non_null(strstr(err, "convert needs -o OUT"));
    free(o), free(err);
    assert_int_equal(tu_fmnist(&o, &err, "convert --model %s/c.onnx -o %s/e.model", T, T), 2);
    assert_non_null(strstr(err, "not ONNX"));
    free(o), free(err);
    assert_int_equal(tu_fmnist(&o, &err, "convert --data x -o %s/e.onnx", T), 2);
    assert_non_null(strstr(err, "not an option of convert"));
    free(o), free(err);
    assert_int_equal(tu_fmnist(&o, &err, "convert --help"), 0);
    assert_non_null(strstr(o, "usage: fmnist convert"));
    free(o), free(err);
    /* A missing input: status 1, nothing written. */
    assert_int_equal(tu_fmnist(NULL, NULL, "convert --model %s/none.model -o %s/f.onnx", T, T), 1);
    assert_false(tu_exists(path_in("f.onnx")));
    /* The convolutional network: its shape said; back from safetensors, the same file. */
    make_cnn(&m, 9);
    model = path_in("cnn-cli.model");
    assert_int_equal(model_save(model, &m, "epochs=1\nnet=cnn\n", NULL, 0, NULL), FM_OK);
    mlp_free(&m);
    assert_int_equal(tu_fmnist(&o, &err, "convert --model %s -o %s/cnn-cli.onnx", model, T), 0);
    assert_non_null(strstr(o, "cnn-cli.onnx: ONNX, 28x28-conv3x16-conv3x32-1568-64-10, 105866 "
                              "parameters from "));
    free(o), free(err);
    assert_int_equal(tu_fmnist(&o, &err, "convert --model %s -o %s/cnn-cli.safetensors", model, T),
                     0);
    assert_non_null(
        strstr(o, "cnn-cli.safetensors: safetensors, 28x28-conv3x16-conv3x32-1568-64-10"));
    free(o), free(err);
    assert_int_equal(
        tu_fmnist(&o, &err, "convert --model %s/cnn-cli.safetensors -o %s/cnn-back.model", T, T),
        0);
    assert_non_null(strstr(o, "cnn-back.model: fmnist model, 28x28-conv3x16-conv3x32-1568-64-10"));
    free(o), free(err);
    assert_true(tu_same_file(model, path_in("cnn-back.model")));
}

/* The format a name ends in, whatever the case of its letters; a name
 * needs something before its extension. */
static void test_format_of_names(void **state)
{
    (void)state;
    assert_int_equal(convert_format_of("m.onnx"), CONVERT_ONNX);
    assert_int_equal(convert_format_of("M.ONNX"), CONVERT_ONNX);
    assert_int_equal(convert_format_of("d/M.SafeTensors"), CONVERT_SAFETENSORS);
    assert_int_equal(convert_format_of("x.MODEL"), CONVERT_MODEL);
    assert_int_equal(convert_format_of("dir/.onnx"), CONVERT_UNKNOWN);
    assert_int_equal(convert_format_of("m.onnx.txt"), CONVERT_UNKNOWN);
    assert_int_equal(convert_format_of("m.onnz"), CONVERT_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_st_round_trip),
        cmocka_unit_test(test_st_metadata),
        cmocka_unit_test(test_onnx_structure),
        cmocka_unit_test(test_cnn_onnx_structure),
        cmocka_unit_test(test_st_truncated),
        cmocka_unit_test(test_st_header_length),
        cmocka_unit_test(test_st_bad_json),
        cmocka_unit_test(test_st_metadata_checked),
        cmocka_unit_test(test_format_of_names),
        cmocka_unit_test(test_st_wrong_tensors),
        cmocka_unit_test(test_st_offsets),
        cmocka_unit_test(test_st_non_finite),
        cmocka_unit_test(test_cnn_st_round_trip),
        cmocka_unit_test(test_cnn_st_reordered),
        cmocka_unit_test(test_cnn_st_refused),
        cmocka_unit_test(test_st_mixed_networks),
        cmocka_unit_test(test_st_and_model_told_apart),
        cmocka_unit_test(test_cli_convert),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    free(goods[0]), free(goods[1]);
    return rc;
}
