/* convert.c: ONNX and safetensors, written (and safetensors read) by hand. */
#include "convert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "eval.h"
#include "fileio.h"
#include "mem.h"
#include "meta.h"
#include "model_file.h"
#include "version.h"

/* ---- a growable byte buffer; after a failed allocation every append is
 * a no-op and oom stays set, so a writer checks once at the end. */

typedef struct sbuf {
    uint8_t *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const void *data, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) {
            if (cap > ((size_t)-1) / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_free(sbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* n floats as little-endian float32, bit for bit. */
static void sb_floats(sbuf *b, const float *f, size_t n)
{
    uint8_t q[256];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < sizeof q / 4 && i < n; k++, i++) {
            uint32_t u;
            memcpy(&u, &f[i], 4);
            bytes_put_le32(q + 4 * k, u);
        }
        sb_put(b, q, 4 * k);
    }
}

/* Hands the buffer over as (*buf, *len), or fails with FM_ENOMEM. */
static int sb_finish(sbuf *b, uint8_t **buf, size_t *len, const char *what, fm_err *e)
{
    if (b->oom) {
        sb_free(b);
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory writing %s", what);
    }
    *buf = b->p;
    *len = b->n;
    return FM_OK;
}

/* ---- the metadata text as key/value pairs */

typedef struct meta_pair {
    const char *key, *value;
    size_t nkey, nvalue;
} meta_pair;

static int is_reserved(const meta_pair *p, const char *const *reserved)
{
    for (; reserved && *reserved; reserved++)
        if (strlen(*reserved) == p->nkey && !memcmp(*reserved, p->key, p->nkey))
            return 1;
    return 0;
}

/* The pairs of metadata that a writer takes, in order, without the keys in
 * reserved (NULL-terminated): what meta_check accepts, so that what is
 * written reads back (FM_EINVAL otherwise). *out is malloc'd. what names
 * the format for messages. */
static int meta_pairs(const mlp *m, const char *meta, const char *const *reserved,
                      const char *what, meta_pair **out, size_t *n, fm_err *e)
{
    fm_err why;
    int rc = meta_check(meta ? meta : "", m->nconv > 0, &why);
    if (rc == FM_ENOMEM)
        return fm_fail(e, rc, NULL, "out of memory writing %s", what);
    if (rc)
        return fm_fail(e, FM_EINVAL, NULL, "metadata %s", why.msg);
    size_t lines = 0, k = 0;
    for (const char *s = meta; s && *s; s++)
        lines += *s == '\n';
    meta_pair *v = malloc((lines + 1) * sizeof *v);
    if (!v)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory writing %s", what);
    for (const char *s = meta; s && *s;) { /* "key=value\n" lines, each key once */
        const char *end = strchr(s, '\n'), *eq = memchr(s, '=', (size_t)(end - s));
        meta_pair p = {s, eq + 1, (size_t)(eq - s), (size_t)(end - eq - 1)};
        if (!is_reserved(&p, reserved))
            v[k++] = p;
        s = end + 1;
    }
    *out = v;
    *n = k;
    return FM_OK;
}

/* ---- a network's tensors: the one table that the safetensors writer,
 * the ONNX initializers and the safetensors reader's checks share. In
 * m->params order, which is PyTorch's state_dict order, named as PyTorch
 * names the parameters of a module whose attributes are conv1, conv2, ...,
 * fc1, fc2, ...: each convolution's weight (out, in, k, k) and bias, then
 * each Linear layer's weight (out, in) and bias. */

#define NET_MAX_TENSORS (2 * (MLP_MAX_CONV + MLP_MAX_LAYERS))
#define NET_MAX_DIMS 4

typedef struct net_tensor {
    char name[24];     /* "conv1.weight", ..., "fc4.bias" */
    int ndims;
    int dims[NET_MAX_DIMS];
    size_t off, count; /* its floats in m->params */
} net_tensor;

/* Layer `layer` (1-based) of kind "conv" or "fc": its weight of dims
 * (ndims of them) at woff, then its bias (dims[0]) at boff. */
static void net_layer(net_tensor *t, const char *kind, int layer, const int *dims, int ndims,
                      size_t woff, size_t boff)
{
    snprintf(t[0].name, sizeof t[0].name, "%s%d.weight", kind, layer);
    snprintf(t[1].name, sizeof t[1].name, "%s%d.bias", kind, layer);
    t[0].ndims = ndims, t[1].ndims = 1;
    t[0].count = 1;
    for (int i = 0; i < ndims; i++) {
        t[0].dims[i] = dims[i];
        t[0].count *= (size_t)dims[i];
    }
    t[1].dims[0] = dims[0];
    t[1].count = (size_t)dims[0];
    t[0].off = woff, t[1].off = boff;
}

/* m's tensors into t (NET_MAX_TENSORS of room); returns their count. */
static int net_tensors(const mlp *m, net_tensor *t)
{
    int n = 0;
    for (int c = 0; c < m->nconv; c++, n += 2) {
        const mlp_conv *v = &m->conv[c];
        int dims[4] = {v->out_ch, v->in_ch, v->k, v->k};
        net_layer(t + n, "conv", c + 1, dims, 4, m->cw_off[c], m->cb_off[c]);
    }
    for (int l = 0; l < m->nlayers; l++, n += 2) {
        int dims[2] = {m->width[l + 1], m->width[l]};
        net_layer(t + n, "fc", l + 1, dims, 2, m->w_off[l], m->b_off[l]);
    }
    return n;
}

/* ---- ONNX: the protobuf wire format (varints, length-delimited fields,
 * fixed32 floats) with onnx.proto's field numbers. */

enum { WT_VARINT = 0, WT_LEN = 2, WT_FIXED32 = 5 };

static void pb_varint(sbuf *b, uint64_t v)
{
    uint8_t q[10];
    size_t n = 0;
    do {
        q[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            q[n] |= 0x80;
        n++;
    } while (v);
    sb_put(b, q, n);
}

static void pb_key(sbuf *b, unsigned field, unsigned wt)
{
    pb_varint(b, (uint64_t)field << 3 | wt);
}

static void pb_int(sbuf *b, unsigned field, uint64_t v)
{
    pb_key(b, field, WT_VARINT);
    pb_varint(b, v);
}

static void pb_bytes(sbuf *b, unsigned field, const void *p, size_t n)
{
    pb_key(b, field, WT_LEN);
    pb_varint(b, n);
    sb_put(b, p, n);
}

static void pb_str(sbuf *b, unsigned field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

/* Appends sub as field of b (a nested message), then frees sub. */
static void pb_sub(sbuf *b, unsigned field, sbuf *sub)
{
    if (sub->oom)
        b->oom = 1;
    pb_bytes(b, field, sub->p, sub->n);
    sb_free(sub);
}

/* onnx.proto field numbers used here. */
enum {
    MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3,
    MODEL_DOC_STRING = 6, MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8, MODEL_METADATA_PROPS = 14,
    OPSET_VERSION = 2, ENTRY_KEY = 1, ENTRY_VALUE = 2,
    GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12,
    NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5,
    ATTR_NAME = 1, ATTR_I = 3, ATTR_INTS = 8, ATTR_TYPE = 20, ATTR_TYPE_INT = 2,
    ATTR_TYPE_INTS = 7,
    TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9,
    TENSOR_FLOAT = 1, TENSOR_INT64 = 7,
    VALUE_NAME = 1, VALUE_TYPE = 2, TYPE_TENSOR_TYPE = 1, TTENSOR_ELEM_TYPE = 1,
    TTENSOR_SHAPE = 2, SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2
};

/* An initializer: name, dims (ndims of them), its elements' type and
 * their bytes in raw (little-endian; freed here). */
static void onnx_tensor_raw(sbuf *g, const char *name, const int *dims, int ndims, int type,
                            sbuf *raw)
{
    sbuf t = {0};
    for (int i = 0; i < ndims; i++)
        pb_int(&t, TENSOR_DIMS, (uint64_t)dims[i]);
    pb_int(&t, TENSOR_DATA_TYPE, (uint64_t)type);
    pb_str(&t, TENSOR_NAME, name);
    if (raw->oom)
        t.oom = 1;
    pb_bytes(&t, TENSOR_RAW_DATA, raw->p, raw->n);
    sb_free(raw);
    pb_sub(g, GRAPH_INITIALIZER, &t);
}

/* A float tensor initializer: name, dims (ndims of them), n floats. */
static void onnx_tensor(sbuf *g, const char *name, const int *dims, int ndims, const float *f,
                        size_t n)
{
    sbuf raw = {0};
    sb_floats(&raw, f, n);
    onnx_tensor_raw(g, name, dims, ndims, TENSOR_FLOAT, &raw);
}

/* A one-dimensional INT64 initializer of n values. */
static void onnx_tensor_int64(sbuf *g, const char *name, const int64_t *v, int n)
{
    sbuf raw = {0};
    for (int i = 0; i < n; i++) {
        uint8_t q[8];
        for (int k = 0; k < 8; k++)
            q[k] = (uint8_t)((uint64_t)v[i] >> (8 * k));
        sb_put(&raw, q, 8);
    }
    onnx_tensor_raw(g, name, &n, 1, TENSOR_INT64, &raw);
}

/* A graph input or output: float [N, width]. */
static void onnx_value(sbuf *g, unsigned field, const char *name, int width)
{
    sbuf v = {0}, type = {0}, tt = {0}, shape = {0}, d = {0};
    pb_str(&d, DIM_PARAM, "N");
    pb_sub(&shape, SHAPE_DIM, &d);
    pb_int(&d, DIM_VALUE, (uint64_t)width);
    pb_sub(&shape, SHAPE_DIM, &d);
    pb_int(&tt, TTENSOR_ELEM_TYPE, TENSOR_FLOAT);
    pb_sub(&tt, TTENSOR_SHAPE, &shape);
    pb_sub(&type, TYPE_TENSOR_TYPE, &tt);
    pb_str(&v, VALUE_NAME, name);
    pb_sub(&v, VALUE_TYPE, &type);
    pb_sub(g, field, &v);
}

/* A node's attribute: an integer (n == 0: the value v[0]) or a list of n
 * integers (INTS; onnx.proto is proto2, so unpacked: one field each). */
typedef struct onnx_attr {
    const char *name;
    int n;
    int64_t v[4];
} onnx_attr;

/* A node: op on inputs in0, in1, in2 (NULL: fewer) giving out, with na
 * attributes. */
static void onnx_node(sbuf *g, const char *op, const char *name, const char *out,
                      const char *in0, const char *in1, const char *in2, const onnx_attr *attr,
                      int na)
{
    sbuf n = {0}, a = {0};
    const char *in[3] = {in0, in1, in2};
    for (int i = 0; i < 3 && in[i]; i++)
        pb_str(&n, NODE_INPUT, in[i]);
    pb_str(&n, NODE_OUTPUT, out);
    pb_str(&n, NODE_NAME, name);
    pb_str(&n, NODE_OP_TYPE, op);
    for (int k = 0; k < na; k++) {
        pb_str(&a, ATTR_NAME, attr[k].name);
        if (attr[k].n == 0)
            pb_int(&a, ATTR_I, (uint64_t)attr[k].v[0]);
        for (int i = 0; i < attr[k].n; i++)
            pb_int(&a, ATTR_INTS, (uint64_t)attr[k].v[i]);
        pb_int(&a, ATTR_TYPE, attr[k].n ? ATTR_TYPE_INTS : ATTR_TYPE_INT);
        pb_sub(&n, NODE_ATTRIBUTE, &a);
    }
    pb_sub(g, GRAPH_NODE, &n);
}

/* The convolutions, from x [N, C*side*side] (their input, flattened as
 * fmnist flattens it): Reshape to [N, C, side, side] (by the INT64
 * initializer image_shape), then per convolution Conv (k x k, padding k/2,
 * stride 1) with t's weight and bias, Relu and a 2x2 MaxPool (stride 2),
 * and Flatten back to [N, width[0]] into the value flat. */
static void onnx_convs(sbuf *g, const mlp *m, const net_tensor *t)
{
    static const onnx_attr pool[2] = {{"kernel_shape", 2, {2, 2}}, {"strides", 2, {2, 2}}};
    static const onnx_attr axis1 = {"axis", 0, {1}};
    char in[32], conv[32], relu[32], name[32];
    onnx_node(g, "Reshape", "reshape", "image", "x", "image_shape", NULL, NULL, 0);
    snprintf(in, sizeof in, "image");
    for (int c = 0; c < m->nconv; c++) {
        int64_t k = m->conv[c].k, pad = k / 2;
        onnx_attr attr[3] = {{"kernel_shape", 2, {k, k}},
                             {"pads", 4, {pad, pad, pad, pad}},
                             {"strides", 2, {1, 1}}};
        snprintf(conv, sizeof conv, "conv%d", c + 1);
        snprintf(relu, sizeof relu, "conv%d_relu", c + 1);
        onnx_node(g, "Conv", conv, conv, in, t[2 * c].name, t[2 * c + 1].name, attr, 3);
        onnx_node(g, "Relu", relu, relu, conv, NULL, NULL, NULL, 0);
        snprintf(name, sizeof name, "pool%d", c + 1);
        onnx_node(g, "MaxPool", name, name, relu, NULL, NULL, pool, 2);
        snprintf(in, sizeof in, "%s", name);
    }
    onnx_node(g, "Flatten", "flatten", "flat", in, NULL, NULL, &axis1, 1);
}

/* The Linear layers from the value `in`: Gemm (transB=1: weights stay
 * (out, in)) with t's weight and bias and Relu per layer, the last one's
 * Gemm giving logits. */
static void onnx_linears(sbuf *g, const mlp *m, const net_tensor *t, const char *from)
{
    static const onnx_attr transb = {"transB", 0, {1}};
    char in[32], out[32], name[32];
    snprintf(in, sizeof in, "%s", from);
    for (int l = 0; l < m->nlayers; l++) {
        int last = l == m->nlayers - 1;
        snprintf(name, sizeof name, "fc%d", l + 1);
        snprintf(out, sizeof out, "%s", last ? "logits" : name);
        onnx_node(g, "Gemm", name, out, in, t[2 * l].name, t[2 * l + 1].name, &transb, 1);
        if (last)
            break;
        snprintf(in, sizeof in, "relu%d", l + 1);
        onnx_node(g, "Relu", in, in, out, NULL, NULL, NULL, 0);
    }
}

/* The graph: the normalisation as fmnist computes it, ((p / 255) - 0.5) /
 * 0.5 in float32 (so another runtime gets the same bits), the
 * convolutions if any, the Linear layers, LogSoftmax; then the
 * initializers: the constants, then the parameters in the table's order. */
static void onnx_graph(sbuf *g, const mlp *m)
{
    static const float k255 = 255.0f, khalf = 0.5f;
    static const onnx_attr axis1 = {"axis", 0, {1}};
    net_tensor t[NET_MAX_TENSORS];
    int nt = net_tensors(m, t), fc = 2 * m->nconv;
    onnx_node(g, "Div", "div255", "scaled", "pixels", "k255", NULL, NULL, 0);
    onnx_node(g, "Sub", "sub0.5", "centred", "scaled", "k0.5", NULL, NULL, 0);
    onnx_node(g, "Div", "div0.5", "x", "centred", "k0.5", NULL, NULL, 0);
    if (m->nconv)
        onnx_convs(g, m, t);
    onnx_linears(g, m, t + fc, m->nconv ? "flat" : "x");
    onnx_node(g, "LogSoftmax", "log_softmax", "log_probs", "logits", NULL, NULL, &axis1, 1);
    pb_str(g, GRAPH_NAME, "fmnist");
    onnx_tensor(g, "k255", NULL, 0, &k255, 1);
    onnx_tensor(g, "k0.5", NULL, 0, &khalf, 1);
    if (m->nconv) {
        const mlp_conv *c0 = &m->conv[0];
        int64_t shape[4] = {-1, c0->in_ch, c0->side, c0->side};
        onnx_tensor_int64(g, "image_shape", shape, 4);
    }
    for (int i = 0; i < nt; i++)
        onnx_tensor(g, t[i].name, t[i].dims, t[i].ndims, m->params + t[i].off, t[i].count);
    onnx_value(g, GRAPH_INPUT, "pixels", mlp_inputs(m));
    onnx_value(g, GRAPH_OUTPUT, "log_probs", m->width[m->nlayers]);
}

static const char onnx_preprocessing[] =
    "input pixels: float [N, 784], each row a 28x28 gray picture, row-major, a light item "
    "on black filling the frame along its longest side, values 0..255; the graph "
    "normalises them as (p/255 - 0.5)/0.5. output log_probs: [N, 10] log-probabilities "
    "in class order (see classes)";

static void onnx_prop(sbuf *model, const char *k, size_t nk, const char *v, size_t nv)
{
    sbuf p = {0};
    pb_bytes(&p, ENTRY_KEY, k, nk);
    pb_bytes(&p, ENTRY_VALUE, v, nv);
    pb_sub(model, MODEL_METADATA_PROPS, &p);
}

/* The model's doc string: which network it is. */
static void onnx_doc(sbuf *b, const mlp *m)
{
    char doc[256], shape[160];
    if (!m->nconv) {
        pb_str(b, MODEL_DOC_STRING, "Fashion-MNIST classifier: an MLP trained by fmnist");
        return;
    }
    mlp_shape_text(m, shape, sizeof shape);
    snprintf(doc, sizeof doc,
             "Fashion-MNIST classifier: a convolutional network (%s) trained by fmnist", shape);
    pb_str(b, MODEL_DOC_STRING, doc);
}

int convert_onnx_encode(const mlp *m, const char *meta, uint8_t **buf, size_t *len, fm_err *e)
{
    static const char *const reserved[] = {"classes", "preprocessing", NULL};
    meta_pair *pairs;
    size_t npairs;
    int rc = meta_pairs(m, meta, reserved, "ONNX", &pairs, &npairs, e);
    if (rc)
        return rc;
    sbuf b = {0}, g = {0}, op = {0};
    pb_int(&b, MODEL_IR_VERSION, CONVERT_ONNX_IR_VERSION);
    pb_str(&b, MODEL_PRODUCER_NAME, "fmnist");
    pb_str(&b, MODEL_PRODUCER_VERSION, FMNIST_VERSION);
    onnx_doc(&b, m);
    onnx_graph(&g, m);
    pb_sub(&b, MODEL_GRAPH, &g);
    pb_int(&op, OPSET_VERSION, CONVERT_ONNX_OPSET);
    pb_sub(&b, MODEL_OPSET_IMPORT, &op);
    for (size_t i = 0; i < npairs; i++)
        onnx_prop(&b, pairs[i].key, pairs[i].nkey, pairs[i].value, pairs[i].nvalue);
    free(pairs);
    char classes[256] = "";
    for (int c = 0; c < IDX_CLASSES; c++) {
        size_t at = strlen(classes);
        snprintf(classes + at, sizeof classes - at, "%s%s", c ? "," : "", fmnist_class_names[c]);
    }
    onnx_prop(&b, "classes", 7, classes, strlen(classes));
    onnx_prop(&b, "preprocessing", 13, onnx_preprocessing, strlen(onnx_preprocessing));
    return sb_finish(&b, buf, len, "ONNX", e);
}

/* ---- safetensors: writing */

/* s (n bytes of printable ASCII) as a JSON string. */
static void json_put(sbuf *b, const char *s, size_t n)
{
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            sb_put(b, "\\", 1);
        if ((unsigned char)s[i] < 0x20)
            sb_str(b, "?");
        else
            sb_put(b, s + i, 1);
    }
    sb_put(b, "\"", 1);
}

/* One tensor's entry: ,"name":{"dtype":"F32","shape":[...],"data_offsets":[off,off+bytes]}. */
static void st_entry_put(sbuf *h, const net_tensor *t, size_t off)
{
    char s[64];
    sb_str(h, ",\"");
    sb_str(h, t->name);
    sb_str(h, "\":{\"dtype\":\"F32\",\"shape\":[");
    for (int i = 0; i < t->ndims; i++) {
        snprintf(s, sizeof s, "%s%d", i ? "," : "", t->dims[i]);
        sb_str(h, s);
    }
    snprintf(s, sizeof s, "],\"data_offsets\":[%zu,%zu]}", off, off + 4 * t->count);
    sb_str(h, s);
}

/* The JSON header: metadata, then the network's tensors (conv1.weight,
 * ..., fc1.weight, fc1.bias, ...) contiguous in their table's order. */
static void st_header(sbuf *h, const net_tensor *t, int nt, const meta_pair *pairs,
                      size_t npairs)
{
    sb_str(h, "{\"__metadata__\":{\"format\":\"pt\"");
    for (size_t i = 0; i < npairs; i++) {
        sb_str(h, ",");
        json_put(h, pairs[i].key, pairs[i].nkey);
        sb_str(h, ":");
        json_put(h, pairs[i].value, pairs[i].nvalue);
    }
    sb_str(h, "}");
    size_t off = 0;
    for (int i = 0; i < nt; i++) {
        st_entry_put(h, &t[i], off);
        off += 4 * t[i].count;
    }
    sb_str(h, "}");
    /* Spaces up to a multiple of 8 bytes, as safetensors' own writer pads,
     * so the data starts aligned. */
    while ((8 + h->n) % 8)
        sb_str(h, " ");
}

int convert_st_encode(const mlp *m, const char *meta, uint8_t **buf, size_t *len, fm_err *e)
{
    static const char *const reserved[] = {"format", NULL};
    meta_pair *pairs;
    size_t npairs;
    int rc = meta_pairs(m, meta, reserved, "safetensors", &pairs, &npairs, e);
    if (rc)
        return rc;
    net_tensor t[NET_MAX_TENSORS];
    int nt = net_tensors(m, t);
    sbuf h = {0}, b = {0};
    st_header(&h, t, nt, pairs, npairs);
    free(pairs);
    uint8_t n8[8];
    for (int i = 0; i < 8; i++)
        n8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
    sb_put(&b, n8, 8);
    sb_put(&b, h.p, h.n);
    if (h.oom)
        b.oom = 1;
    sb_free(&h);
    for (int i = 0; i < nt; i++)
        sb_floats(&b, m->params + t[i].off, t[i].count);
    return sb_finish(&b, buf, len, "safetensors", e);
}

/* ---- safetensors: reading. A strict JSON parser for exactly what the
 * header holds: one object whose values are tensor entries (objects of
 * "dtype": string, "shape": [uint...], "data_offsets": [uint, uint]) and
 * an optional "__metadata__" object of strings. */

#define ST_MAX_DIMS 8

/* fmnist's two networks as the reader knows them: their layouts (no
 * parameters) and tensor tables. The tensors present decide which one a
 * file holds: the convolutional network when any is its alone (conv1.weight,
 * ...), else the MLP. */
enum { ST_MLP, ST_CNN, ST_NETS };

typedef struct st_net {
    const char *what;          /* "the MLP", for messages */
    mlp layout;
    net_tensor t[NET_MAX_TENSORS];
    int n;
} st_net;

typedef struct st_entry {
    const char *tn;            /* its name, one of a network's tensors' */
    int f32, ndims;
    char dtype[24];
    uint64_t dims[ST_MAX_DIMS];
    uint64_t begin, end;
} st_entry;

typedef struct jp {
    const uint8_t *s;       /* the header's JSON */
    size_t n, i;
    const char *name;       /* the file, for messages */
    fm_err *e;
    char *str;              /* the last string parsed, decoded (n + 1 bytes) */
    size_t nstr;
    st_net nets[ST_NETS];
    st_entry ent[ST_NETS * NET_MAX_TENSORS]; /* the file's tensors, in its order */
    int nent;
    const st_net *net;      /* the network they make (st_check) */
    const st_entry *at[NET_MAX_TENSORS]; /* and its tensors' entries, in its order */
    int seen_meta;
    sbuf meta;              /* "__metadata__" as fmnist metadata text */
} jp;

static int jerr(jp *p, const char *what)
{
    return fm_fail(p->e, FM_EFORMAT, p->name, "header: bad JSON at byte %zu: %s", 8 + p->i, what);
}

static void j_ws(jp *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

/* Skips whitespace, then the character c. */
static int j_expect(jp *p, char c, const char *what)
{
    j_ws(p);
    if (p->i >= p->n || p->s[p->i] != (uint8_t)c)
        return jerr(p, what);
    p->i++;
    return FM_OK;
}

/* The length of the valid UTF-8 sequence (2..4 bytes) at s, or 0. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
    uint32_t c = s[0], min;
    size_t len;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, c &= 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, c &= 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, c &= 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    return (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) ? 0 : len;
}

static size_t utf8_put(char *out, uint32_t c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | c >> 12);
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | c >> 18);
    out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* Four hex digits at p->i (after "\u"). */
static int j_hex4(jp *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++, p->i++) {
        int c = p->i < p->n ? p->s[p->i] : -1, d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return jerr(p, "bad \\u escape");
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return FM_OK;
}

/* The escape at p->i (a backslash): its code point in *c. */
static int j_escape(jp *p, uint32_t *c)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (++p->i >= p->n)
        return jerr(p, "unterminated string");
    const char *k = p->s[p->i] ? strchr(from, p->s[p->i]) : NULL;
    if (k) {
        *c = (uint8_t)to[k - from];
        p->i++;
        return FM_OK;
    }
    if (p->s[p->i] != 'u')
        return jerr(p, "bad escape in a string");
    p->i++;
    int rc = j_hex4(p, c);
    if (rc || *c < 0xd800 || *c > 0xdfff)
        return rc;
    uint32_t lo;
    if (*c > 0xdbff || p->i + 2 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
        return jerr(p, "unpaired surrogate in a \\u escape");
    p->i += 2;
    if ((rc = j_hex4(p, &lo)))
        return rc;
    if (lo < 0xdc00 || lo > 0xdfff)
        return jerr(p, "unpaired surrogate in a \\u escape");
    *c = 0x10000 + ((*c - 0xd800) << 10) + (lo - 0xdc00);
    return FM_OK;
}

/* A string, decoded into p->str (NUL-terminated; p->nstr bytes, which may
 * include NULs from \u0000). Decoding never lengthens: p->str has room. */
static int j_string(jp *p)
{
    j_ws(p);
    if (p->i >= p->n || p->s[p->i] != '"')
        return jerr(p, "expected a string");
    size_t k = 0;
    for (p->i++;;) {
        if (p->i >= p->n)
            return jerr(p, "unterminated string");
        uint8_t c = p->s[p->i];
        if (c == '"')
            break;
        if (c < 0x20)
            return jerr(p, "control character in a string");
        if (c == '\\') {
            uint32_t cp;
            int rc = j_escape(p, &cp);
            if (rc)
                return rc;
            k += utf8_put(p->str + k, cp);
        } else if (c >= 0x80) {
            size_t len = utf8_len(p->s + p->i, p->n - p->i);
            if (!len)
                return jerr(p, "invalid UTF-8 in a string");
            memcpy(p->str + k, p->s + p->i, len);
            k += len;
            p->i += len;
        } else {
            p->str[k++] = (char)c;
            p->i++;
        }
    }
    p->i++;
    p->str[k] = 0;
    p->nstr = k;
    return FM_OK;
}

static int j_is(const jp *p, const char *s)
{
    return strlen(s) == p->nstr && !memcmp(p->str, s, p->nstr);
}

/* A non-negative integer (JSON: no sign, fraction, exponent or leading 0). */
static int j_uint(jp *p, uint64_t *out)
{
    j_ws(p);
    uint64_t v = 0;
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        unsigned d = (unsigned)(p->s[p->i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return jerr(p, "integer too large");
        v = v * 10 + d;
        p->i++;
    }
    if (p->i == start || (p->s[start] == '0' && p->i - start > 1) ||
        (p->i < p->n && (p->s[p->i] == '.' || p->s[p->i] == 'e' || p->s[p->i] == 'E')))
        return jerr(p, "expected a non-negative integer");
    *out = v;
    return FM_OK;
}

/* [uint, ...] into out (at most max; *count of them). */
static int j_uints(jp *p, uint64_t *out, int max, int *count, const char *what)
{
    int rc = j_expect(p, '[', "expected '['");
    if (rc)
        return rc;
    j_ws(p);
    *count = 0;
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return FM_OK;
    }
    for (;;) {
        if (*count == max)
            return fm_fail(p->e, FM_EFORMAT, p->name, "header: %s has more than %d entries",
                           what, max);
        if ((rc = j_uint(p, &out[(*count)++])))
            return rc;
        j_ws(p);
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            return FM_OK;
        }
        if ((rc = j_expect(p, ',', "expected ',' or ']'")))
            return rc;
    }
}

/* After a member: ',' (*more = 1: another follows) or '}' (*more = 0). */
static int j_next(jp *p, int *more)
{
    j_ws(p);
    if (p->i < p->n && (p->s[p->i] == ',' || p->s[p->i] == '}')) {
        *more = p->s[p->i++] == ',';
        return FM_OK;
    }
    return jerr(p, "expected ',' or '}'");
}

/* After an object's '{': *more = 0 and the '}' taken when it is empty. */
static void j_open(jp *p, int *more)
{
    j_ws(p);
    *more = !(p->i < p->n && p->s[p->i] == '}');
    if (!*more)
        p->i++;
}

/* A tensor entry's object: "dtype", "shape" and "data_offsets", each once,
 * nothing else. */
static int st_entry_parse(jp *p, st_entry *t, const char *tn)
{
    int rc, more, got = 0;
    j_ws(p);
    if (p->i >= p->n || p->s[p->i] != '{')
        return fm_fail(p->e, FM_EFORMAT, p->name, "header: %s is not an object", tn);
    p->i++;
    j_open(p, &more);
    while (more) {
        if ((rc = j_string(p)))
            return rc;
        int f = j_is(p, "dtype") ? 1 : j_is(p, "shape") ? 2 : j_is(p, "data_offsets") ? 4 : 0;
        if (!f)
            return fm_fail(p->e, FM_EFORMAT, p->name, "header: %s has an unexpected field '%s'",
                           tn, p->str);
        if (got & f)
            return fm_fail(p->e, FM_EFORMAT, p->name, "header: %s has '%s' twice", tn, p->str);
        got |= f;
        if ((rc = j_expect(p, ':', "expected ':'")))
            return rc;
        if (f == 1) {
            if ((rc = j_string(p)))
                return rc;
            snprintf(t->dtype, sizeof t->dtype, "%s", p->str);
            t->f32 = j_is(p, "F32");
        } else if (f == 2) {
            rc = j_uints(p, t->dims, ST_MAX_DIMS, &t->ndims, "a shape");
        } else {
            uint64_t o[2];
            int n;
            rc = j_uints(p, o, 2, &n, "data_offsets");
            if (!rc && n != 2)
                return fm_fail(p->e, FM_EFORMAT, p->name,
                               "header: %s's data_offsets has %d entr%s, not 2", tn, n,
                               n == 1 ? "y" : "ies");
            t->begin = o[0], t->end = o[1];
        }
        if (rc || (rc = j_next(p, &more)))
            return rc;
    }
    if (got != 7)
        return fm_fail(p->e, FM_EFORMAT, p->name, "header: %s has no %s", tn,
                       !(got & 1) ? "dtype" : !(got & 2) ? "shape" : "data_offsets");
    return FM_OK;
}

/* s (n bytes of UTF-8) into fmnist metadata: printable ASCII, each other
 * character (and '=' when is_key) as '?'. */
static void meta_put(sbuf *b, const char *s, size_t n, int is_key)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        char out = (c >= 0x20 && c < 0x7f && !(is_key && c == '=')) ? (char)c : '?';
        sb_put(b, &out, 1);
        i += len;
    }
}

/* "__metadata__": an object of strings, each pair but "format" appended to
 * p->meta as a "key=value\n" line (meta_check, in st_meta_agrees, then
 * refuses two keys that are one as kept: "a\u00e9" and "a\u00e8" are both
 * a?). */
static int st_meta_parse(jp *p)
{
    int rc, more, formats = 0;
    if ((rc = j_expect(p, '{', "__metadata__ is not an object")))
        return rc;
    j_open(p, &more);
    while (more) {
        if ((rc = j_string(p)))
            return rc;
        int skip = j_is(p, "format");
        if (memchr(p->str, 0, p->nstr))
            return fm_fail(p->e, FM_EFORMAT, p->name, "header: a __metadata__ key holds \\u0000");
        if (skip && formats++)
            return fm_fail(p->e, FM_EFORMAT, p->name, "header: __metadata__ has 'format' twice");
        if (!skip)
            meta_put(&p->meta, p->str, p->nstr, 1);
        if ((rc = j_expect(p, ':', "expected ':'")))
            return rc;
        j_ws(p);
        if (p->i >= p->n || p->s[p->i] != '"')
            return fm_fail(p->e, FM_EFORMAT, p->name,
                           "header: __metadata__'s values must be strings");
        if ((rc = j_string(p)))
            return rc;
        if (!skip) {
            sb_put(&p->meta, "=", 1);
            meta_put(&p->meta, p->str, p->nstr, 0);
            sb_put(&p->meta, "\n", 1);
        }
        if (p->meta.n > MODEL_META_MAX)
            return fm_fail(p->e, FM_ELIMIT, p->name,
                           "header: __metadata__ is over the %d bytes of an fmnist model's",
                           MODEL_META_MAX);
        if ((rc = j_next(p, &more)))
            return rc;
    }
    if (p->meta.oom)
        return fm_fail(p->e, FM_ENOMEM, p->name, "out of memory");
    return FM_OK;
}

/* The name of net's tensor called s (n bytes), or NULL. */
static const char *st_in(const st_net *net, const char *s, size_t n)
{
    for (int k = 0; k < net->n; k++)
        if (strlen(net->t[k].name) == n && !memcmp(net->t[k].name, s, n))
            return net->t[k].name;
    return NULL;
}

/* The entry of the tensor called tn, or NULL. */
static const st_entry *st_find(const jp *p, const char *tn)
{
    for (int i = 0; i < p->nent; i++)
        if (!strcmp(p->ent[i].tn, tn))
            return &p->ent[i];
    return NULL;
}

/* A tensor entry named p->str: one of a network's, given once. */
static int st_tensor_parse(jp *p)
{
    const char *tn = NULL;
    for (int k = 0; k < ST_NETS && !tn; k++)
        tn = st_in(&p->nets[k], p->str, p->nstr);
    if (!tn)
        return fm_fail(p->e, FM_EFORMAT, p->name,
                       "header: unexpected tensor '%s' (the MLP's are fc1.weight, fc1.bias, ..., "
                       "fc4.bias; the convolutional network's conv1.weight, ..., conv2.bias, "
                       "fc1.weight, ..., fc2.bias)", p->str);
    if (st_find(p, tn))
        return fm_fail(p->e, FM_EFORMAT, p->name, "header: %s given twice", tn);
    st_entry *t = &p->ent[p->nent++];
    memset(t, 0, sizeof *t);
    t->tn = tn;
    int rc = j_expect(p, ':', "expected ':'");
    return rc ? rc : st_entry_parse(p, t, tn);
}

/* The whole header: {"name": entry, ..., "__metadata__": {...}} and
 * nothing after it but whitespace (safetensors pads with spaces). */
static int st_header_parse(jp *p)
{
    int rc, more;
    if ((rc = j_expect(p, '{', "expected '{'")))
        return rc;
    j_open(p, &more);
    while (more) {
        if ((rc = j_string(p)))
            return rc;
        if (j_is(p, "__metadata__")) {
            if (p->seen_meta)
                return fm_fail(p->e, FM_EFORMAT, p->name, "header: __metadata__ given twice");
            p->seen_meta = 1;
            if ((rc = j_expect(p, ':', "expected ':'")) || (rc = st_meta_parse(p)))
                return rc;
        } else if ((rc = st_tensor_parse(p))) {
            return rc;
        }
        if ((rc = j_next(p, &more)))
            return rc;
    }
    j_ws(p);
    if (p->i != p->n)
        return jerr(p, "more after the header's object");
    return FM_OK;
}

static void dims_str(char *out, size_t cap, const uint64_t *d, int n)
{
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%llu", i ? ", " : "",
                               (unsigned long long)d[i]);
}

/* Each tensor: present, F32, the network's shape, within dlen bytes of data. */
static int st_check_entry(const st_entry *t, const net_tensor *want, size_t dlen,
                          const char *name, fm_err *e)
{
    const char *tn = want->name;
    uint64_t wd[NET_MAX_DIMS];
    int same = t && t->ndims == want->ndims;
    for (int i = 0; i < want->ndims; i++) {
        wd[i] = (uint64_t)want->dims[i];
        same = same && t->dims[i] == wd[i];
    }
    char got_s[128], want_s[64];
    if (!t)
        return fm_fail(e, FM_EFORMAT, name, "%s missing", tn);
    if (!t->f32)
        return fm_fail(e, FM_EFORMAT, name, "%s: dtype %s; only F32 is supported", tn, t->dtype);
    if (!same) {
        dims_str(got_s, sizeof got_s, t->dims, t->ndims);
        dims_str(want_s, sizeof want_s, wd, want->ndims);
        return fm_fail(e, FM_EFORMAT, name, "%s: shape [%s]; the network needs [%s]", tn, got_s,
                       want_s);
    }
    uint64_t bytes = 4 * (uint64_t)want->count;
    if (t->begin > t->end || t->end > dlen)
        return fm_fail(e, FM_EFORMAT, name,
                       "%s: data_offsets [%llu, %llu] outside the data (%zu byte%s)%s", tn,
                       (unsigned long long)t->begin, (unsigned long long)t->end, dlen,
                       fm_plural(dlen), t->begin <= t->end ? ": truncated?" : "");
    if (t->end - t->begin != bytes)
        return fm_fail(e, FM_EFORMAT, name,
                       "%s: data_offsets [%llu, %llu] hold %llu byte%s, its shape needs %llu", tn,
                       (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)(t->end - t->begin), fm_plural(t->end - t->begin),
                       (unsigned long long)bytes);
    return FM_OK;
}

/* The network the file's tensors make (see st_net); a tensor of the other
 * one among them is an error naming it. */
static int st_pick(jp *p)
{
    const st_net *mlp_net = &p->nets[ST_MLP], *cnn = &p->nets[ST_CNN];
    const st_entry *conv = NULL;
    for (int i = 0; i < p->nent && !conv; i++)
        if (!st_in(mlp_net, p->ent[i].tn, strlen(p->ent[i].tn)))
            conv = &p->ent[i];
    p->net = conv ? cnn : mlp_net;
    for (int i = 0; i < p->nent; i++) {
        const char *tn = p->ent[i].tn;
        if (st_in(p->net, tn, strlen(tn)))
            continue;
        char ours[160], theirs[160];
        const st_net *other = p->net == cnn ? mlp_net : cnn;
        mlp_shape_text(&p->net->layout, ours, sizeof ours);
        mlp_shape_text(&other->layout, theirs, sizeof theirs);
        return fm_fail(p->e, FM_EFORMAT, p->name,
                       "%s is a tensor of %s (%s), but %s makes this %s (%s): one network's "
                       "tensors only", tn, other->what, theirs, conv->tn, p->net->what, ours);
    }
    return FM_OK;
}

/* Every entry valid; no two overlapping; together covering the data. */
static int st_check(jp *p, size_t dlen)
{
    int rc = st_pick(p), order[NET_MAX_TENSORS], n = p->net->n;
    if (rc)
        return rc;
    uint64_t total = 0;
    for (int k = 0; k < n; k++) {
        const net_tensor *want = &p->net->t[k];
        const st_entry *t = st_find(p, want->name);
        if ((rc = st_check_entry(t, want, dlen, p->name, p->e)))
            return rc;
        p->at[k] = t;
        total += t->end - t->begin;
    }
    /* By begin, the same begin in the network's order (an insertion sort:
     * a few tensors). */
    for (int k = 0; k < n; k++) {
        int j = k;
        for (; j > 0 && p->at[order[j - 1]]->begin > p->at[k]->begin; j--)
            order[j] = order[j - 1];
        order[j] = k;
    }
    for (int k = 1; k < n; k++)
        if (p->at[order[k - 1]]->end > p->at[order[k]]->begin)
            return fm_fail(p->e, FM_EFORMAT, p->name, "%s and %s overlap in the data",
                           p->at[order[k - 1]]->tn, p->at[order[k]]->tn);
    if (total != dlen)
        return fm_fail(p->e, FM_EFORMAT, p->name,
                       "%zu bytes of data, the tensors cover %llu: bytes no tensor holds", dlen,
                       (unsigned long long)total);
    return FM_OK;
}

/* The parameters from the data, refusing NaN and infinities. */
static int st_params(const jp *p, const uint8_t *data, mlp *out)
{
    mlp m;
    mlp_shape s;
    mlp_get_shape(&p->net->layout, &s);
    int rc = mlp_create_shape(&m, &s, p->e);
    if (rc)
        return fm_in_file(p->e, rc, p->name);
    for (int k = 0; k < p->net->n; k++) {
        const st_entry *t = p->at[k];
        size_t n = (size_t)(t->end - t->begin) / 4;
        float *dst = m.params + p->net->t[k].off;
        for (size_t i = 0; i < n; i++) {
            uint32_t u = bytes_le32(data + t->begin + 4 * i);
            memcpy(&dst[i], &u, 4);
            if (!isfinite(dst[i])) {
                const char *what = isnan(dst[i]) ? "NaN" : "infinite";
                mlp_free(&m);
                return fm_fail(p->e, FM_EFORMAT, p->name, "%s: element %zu is %s", t->tn, i,
                               what);
            }
        }
    }
    *out = m;
    return FM_OK;
}

/* fmnist's two networks' layouts and tables into p->nets. */
static int st_nets(jp *p)
{
    static const char *const what[ST_NETS] = {"the MLP", "the convolutional network"};
    const mlp_shape *shape[ST_NETS] = {&mlp_fmnist_mlp, &mlp_fmnist_cnn};
    for (int k = 0; k < ST_NETS; k++) {
        st_net *net = &p->nets[k];
        int rc = mlp_layout_shape(&net->layout, shape[k], p->e);
        if (rc)
            return fm_in_file(p->e, rc, p->name);
        net->what = what[k];
        net->n = net_tensors(&net->layout, net->t);
    }
    return FM_OK;
}

/* The metadata must be what an fmnist model file may hold (meta_check,
 * as model_decode checks it: what train could have written, eval shows
 * it, and "epochs abc" was copied through; net the tensors' network); a
 * convolutional network's metadata without a net gains net=cnn, as train
 * writes it. p->meta: NUL-terminated. */
static int st_meta_agrees(jp *p, const mlp *net)
{
    const char *meta = (const char *)p->meta.p;
    fm_err why;
    int rc = meta_check(meta, net->nconv > 0, &why);
    if (rc == FM_ENOMEM)
        return fm_fail(p->e, rc, p->name, "out of memory");
    if (rc)
        return fm_fail(p->e, rc, p->name, "header: __metadata__ %s", why.msg);
    if (net->nconv > 0 && !meta_get(meta, "net", NULL, 0)) {
        if (p->meta.n - 1 + 8 > MODEL_META_MAX)
            return fm_fail(p->e, FM_ELIMIT, p->name,
                           "header: __metadata__ is over the %d bytes of an fmnist model's "
                           "with net=cnn added", MODEL_META_MAX);
        p->meta.n--; /* before the NUL */
        sb_put(&p->meta, "net=cnn\n", 8);
        sb_put(&p->meta, "", 1);
        if (p->meta.oom)
            return fm_fail(p->e, FM_ENOMEM, p->name, "out of memory");
    }
    return FM_OK;
}

int convert_st_decode(const uint8_t *buf, size_t len, const char *name, mlp *m, char **meta,
                      fm_err *e)
{
    if (len >= 8 && memcmp(buf, MODEL_MAGIC, 8) == 0) /* not a header length */
        return fm_fail(e, FM_EFORMAT, name, "an fmnist model file, not safetensors as its "
                       "name says (rename it to end in .model)");
    if (len < 8)
        return fm_fail(e, FM_EFORMAT, name, "truncated: %zu byte%s, too short for safetensors",
                       len, fm_plural(len));
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    if (hlen > len - 8)
        return fm_fail(e, FM_EFORMAT, name,
                       "header length %llu is past the end of the file (%zu bytes): truncated, "
                       "or not safetensors", (unsigned long long)hlen, len);
    if (hlen > CONVERT_ST_HEADER_MAX)
        return fm_fail(e, FM_ELIMIT, name, "header of %llu bytes is over the %zu read",
                       (unsigned long long)hlen, CONVERT_ST_HEADER_MAX);
    if (hlen < 2 || buf[8] != '{')
        return fm_fail(e, FM_EFORMAT, name, "not safetensors: its header is not a JSON object");
    jp p;
    memset(&p, 0, sizeof p);
    p.s = buf + 8, p.n = (size_t)hlen, p.name = name, p.e = e;
    p.str = malloc(p.n + 1);
    if (!p.str)
        return fm_fail(e, FM_ENOMEM, name, "out of memory");
    mlp net;
    int rc = st_nets(&p);
    if (!rc)
        rc = st_header_parse(&p);
    if (!rc)
        rc = st_check(&p, len - 8 - p.n);
    if (!rc)
        sb_put(&p.meta, "", 1);
    if (!rc && p.meta.oom)
        rc = fm_fail(e, FM_ENOMEM, name, "out of memory");
    if (!rc)
        rc = st_params(&p, buf + 8 + p.n, &net);
    if (!rc && (rc = st_meta_agrees(&p, &net)))
        mlp_free(&net);
    free(p.str);
    if (rc) {
        sb_free(&p.meta);
        return rc;
    }
    *m = net;
    if (meta)
        *meta = (char *)p.meta.p;
    else
        sb_free(&p.meta);
    return FM_OK;
}

/* ---- files */

/* a and b the same but for the case of ASCII letters (as names are seen:
 * "M.SAFETENSORS" is safetensors; no locale involved). */
static int same_ignoring_case(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

enum convert_format convert_format_of(const char *path)
{
    static const struct { const char *ext; enum convert_format f; } exts[] = {
        {".onnx", CONVERT_ONNX}, {".safetensors", CONVERT_SAFETENSORS}, {".model", CONVERT_MODEL}};
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(base); /* a name before the extension: "dir/.onnx" has none */
    path = base;
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        size_t k = strlen(exts[i].ext);
        if (n > k && same_ignoring_case(path + n - k, exts[i].ext))
            return exts[i].f;
    }
    return CONVERT_UNKNOWN;
}

int convert_save(const char *path, const mlp *m, const char *meta, fm_err *e)
{
    enum convert_format f = convert_format_of(path);
    if (f == CONVERT_MODEL)
        return model_save(path, m, meta, NULL, 0, e);
    if (f == CONVERT_UNKNOWN)
        return fm_fail(e, FM_EINVAL, path, "not a format fmnist writes (its name must end in %s)",
                       CONVERT_EXTENSIONS);
    uint8_t *buf;
    size_t len;
    int rc = f == CONVERT_ONNX ? convert_onnx_encode(m, meta, &buf, &len, e)
                               : convert_st_encode(m, meta, &buf, &len, e);
    if (rc)
        return fm_in_file(e, rc, path);
    rc = file_write_atomic(path, buf, len, e);
    free(buf);
    return rc;
}

int convert_load(const char *path, mlp *m, char **meta, fm_err *e)
{
    if (convert_format_of(path) != CONVERT_SAFETENSORS)
        return model_load_fmnist(path, m, meta, NULL, NULL, e);
    uint8_t *buf;
    size_t len;
    int rc = file_read_all(path, CONVERT_ST_FILE_MAX, &buf, &len, e);
    if (rc)
        return rc;
    rc = convert_st_decode(buf, len, path, m, meta, e);
    free(buf);
    return rc;
}
