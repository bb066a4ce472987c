/* test_convert.c: safetensors round trips bit for bit; the ONNX bytes
 * decoded field by field; every kind of malformed safetensors refused with
 * its own error and nothing written; the convert command end to end. */
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

static void test_st_round_trip(void **state)
{
    (void)state;
    mlp m, back;
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
    char *meta2 = NULL;
    fm_err e;
    assert_int_equal(convert_st_decode(buf, len, "x.safetensors", &back, &meta2, &e), FM_OK);
    assert_true(mlp_same_shape(&m, &back));
    assert_memory_equal(m.params, back.params, m.nparams * sizeof(float));
    assert_string_equal(meta2, meta); /* "format" is dropped again */
    /* Encoding again: the same bytes. */
    uint8_t *buf2;
    size_t len2;
    assert_int_equal(convert_st_encode(&back, meta2, &buf2, &len2, NULL), FM_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    free(buf), free(buf2), free(meta2);
    mlp_free(&back);

    /* Through files: model -> safetensors -> model gives the same model file. */
    assert_int_equal(model_save(path_in("a.model"), &m, meta, NULL, 0, &e), FM_OK);
    assert_int_equal(convert_save(path_in("a.safetensors"), &m, meta, &e), FM_OK);
    assert_int_equal(convert_load(path_in("a.safetensors"), &back, &meta2, &e), FM_OK);
    assert_int_equal(convert_save(path_in("b.model"), &back, meta2, &e), FM_OK);
    assert_true(tu_same_file(path_in("a.model"), path_in("b.model")));
    free(meta2);
    mlp_free(&back);
    mlp_free(&m);
}

/* Metadata: repeated keys written once; non-ASCII and '=' in keys as '?'. */
static void test_st_metadata(void **state)
{
    (void)state;
    mlp m, back;
    make_net(&m, mlp_fmnist_widths, 4, 1);
    uint8_t *buf;
    size_t len;
    assert_int_equal(convert_st_encode(&m, "a=1\nb=2\na=3\nformat=x\nbare\n\n", &buf, &len, NULL),
                     FM_OK);
    char *meta;
    assert_int_equal(convert_st_decode(buf, len, "x", &back, &meta, NULL), FM_OK);
    assert_string_equal(meta, "a=1\nb=2\nbare=\n");
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

/* A NodeProto: its op_type into op, inputs joined by ',' into in, its
 * integer attribute (name=value) into attr. */
static void node_of(const pbf *n, char *op, char *in, char *attr)
{
    const uint8_t *p = n->data, *end = p + n->len;
    pbf f;
    op[0] = in[0] = attr[0] = 0;
    while (pb_next(&p, end, &f)) {
        if (f.field == 4)
            snprintf(op, 32, "%.*s", (int)f.len, (const char *)f.data);
        else if (f.field == 1)
            snprintf(in + strlen(in), 128 - strlen(in), "%s%.*s", *in ? "," : "", (int)f.len,
                     (const char *)f.data);
        else if (f.field == 5) {
            const uint8_t *q = f.data, *qe = q + f.len;
            pbf a;
            char name[32] = "";
            long v = -1, type = -1;
            while (pb_next(&q, qe, &a)) {
                if (a.field == 1)
                    snprintf(name, sizeof name, "%.*s", (int)a.len, (const char *)a.data);
                else if (a.field == 3)
                    v = (long)a.v;
                else if (a.field == 20)
                    type = (long)a.v;
            }
            assert_int_equal(type, 2); /* AttributeProto.INT */
            snprintf(attr, 64, "%s=%ld", name, v);
        }
    }
}

/* A TensorProto initializer: checks it against expected floats. */
static void check_tensor(const pbf *t, const char *name, const int *dims, int ndims,
                         const float *want, size_t n)
{
    const uint8_t *p = t->data, *end = p + t->len;
    pbf f;
    int nd = 0, named = 0, typed = 0, raw = 0;
    while (pb_next(&p, end, &f)) {
        if (f.field == 1)
            assert_int_equal(f.v, dims[nd++]);
        else if (f.field == 2)
            typed = f.v == 1; /* FLOAT */
        else if (f.field == 8)
            named = is_str(&f, name);
        else if (f.field == 9) {
            assert_int_equal(f.len, 4 * n);
            for (size_t i = 0; i < n; i++) {
                uint32_t u = (uint32_t)f.data[4 * i] | (uint32_t)f.data[4 * i + 1] << 8 |
                             (uint32_t)f.data[4 * i + 2] << 16 | (uint32_t)f.data[4 * i + 3] << 24;
                float x;
                memcpy(&x, &u, 4);
                assert_memory_equal(&x, &want[i], 4);
            }
            raw = 1;
        }
    }
    assert_int_equal(nd, ndims);
    assert_true(named && typed && raw);
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

static void check_graph(const pbf *g, const mlp *m)
{
    static const char *const ops[] = {"Div:pixels,k255:", "Sub:scaled,k0.5:",
                                      "Div:centred,k0.5:", "Gemm:x,fc1.weight,fc1.bias:transB=1",
                                      "Relu:fc1:", "Gemm:relu1,fc2.weight,fc2.bias:transB=1",
                                      "LogSoftmax:logits:axis=1"};
    const uint8_t *p = g->data, *end = p + g->len;
    pbf f;
    int nodes = 0, inits = 0, inputs = 0, outputs = 0;
    while (pb_next(&p, end, &f)) {
        char op[32], in[128], attr[64], got[256];
        if (f.field == 1) {
            node_of(&f, op, in, attr);
            snprintf(got, sizeof got, "%s:%s:%s", op, in, attr);
            assert_true(nodes < 7);
            assert_string_equal(got, ops[nodes++]);
        } else if (f.field == 2) {
            assert_true(is_str(&f, "fmnist"));
        } else if (f.field == 5) {
            static const float k[2] = {255.0f, 0.5f};
            int l = inits < 2 ? 0 : (inits - 2) / 2, dims[2] = {m->width[l + 1], m->width[l]};
            char name[32];
            if (inits < 2) {
                check_tensor(&f, inits ? "k0.5" : "k255", NULL, 0, &k[inits], 1);
            } else if (inits % 2 == 0) {
                snprintf(name, sizeof name, "fc%d.weight", l + 1);
                check_tensor(&f, name, dims, 2, m->params + m->w_off[l],
                             (size_t)dims[0] * (size_t)dims[1]);
            } else {
                snprintf(name, sizeof name, "fc%d.bias", l + 1);
                check_tensor(&f, name, dims, 1, m->params + m->b_off[l], (size_t)dims[0]);
            }
            inits++;
        } else if (f.field == 11) {
            check_value(&f, "pixels", m->width[0]), inputs++;
        } else if (f.field == 12) {
            check_value(&f, "log_probs", m->width[m->nlayers]), outputs++;
        } else {
            fail_msg("unexpected GraphProto field %u", f.field);
        }
    }
    assert_int_equal(nodes, 7);
    assert_int_equal(inits, 2 + 2 * m->nlayers);
    assert_int_equal(inputs, 1);
    assert_int_equal(outputs, 1);
}

static void test_onnx_structure(void **state)
{
    (void)state;
    static const int widths[] = {5, 3, 2};
    mlp m;
    make_net(&m, widths, 2, 3);
    uint8_t *buf;
    size_t len;
    assert_int_equal(convert_onnx_encode(&m, "epochs=5\nseed=3\nclasses=x\n", &buf, &len, NULL),
                     FM_OK);
    /* ir_version 7 first: key (1 << 3 | 0) = 0x08, then 7. */
    assert_true(len > 2 && buf[0] == 0x08 && buf[1] == CONVERT_ONNX_IR_VERSION);
    const uint8_t *p = buf, *end = buf + len;
    pbf f;
    int graphs = 0, opsets = 0, props = 0;
    char keys[256] = "";
    while (pb_next(&p, end, &f)) {
        if (f.field == 1) {
            assert_int_equal(f.v, 7);
        } else if (f.field == 2) {
            assert_true(is_str(&f, "fmnist"));
        } else if (f.field == 7) {
            check_graph(&f, &m), graphs++;
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
            snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%.*s=%.*s;", (int)k.len,
                     (const char *)k.data, v.len > 12 ? 12 : (int)v.len, (const char *)v.data);
            props++;
        } else {
            assert_true(f.field == 3 || f.field == 6);
        }
    }
    assert_int_equal(graphs, 1);
    assert_int_equal(opsets, 1);
    /* The model's "classes" is replaced by fmnist's own. */
    assert_string_equal(keys, "epochs=5;seed=3;classes=T-shirt/top,;preprocessing=input pixels;");
    free(buf);
    mlp_free(&m);
}

/* ---- malformed safetensors */

static uint8_t *good;     /* a valid file of fmnist's network */
static size_t good_len, good_hlen;

static void make_good(void)
{
    if (good)
        return;
    mlp m;
    make_net(&m, mlp_fmnist_widths, 4, 5);
    assert_int_equal(convert_st_encode(&m, "epochs=5\n", &good, &good_len, NULL), FM_OK);
    good_hlen = good[0] | (size_t)good[1] << 8 | (size_t)good[2] << 16;
    mlp_free(&m);
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
    expect_refused(good, 7, FM_EFORMAT, "too short for safetensors");
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
                 "fc1.weight's data_offsets has 1 entries, not 2");
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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_st_round_trip),
        cmocka_unit_test(test_st_metadata),
        cmocka_unit_test(test_onnx_structure),
        cmocka_unit_test(test_st_truncated),
        cmocka_unit_test(test_st_header_length),
        cmocka_unit_test(test_st_bad_json),
        cmocka_unit_test(test_st_wrong_tensors),
        cmocka_unit_test(test_st_offsets),
        cmocka_unit_test(test_st_non_finite),
        cmocka_unit_test(test_cli_convert),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    free(good);
    return rc;
}
