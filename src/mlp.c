/* mlp.c: parameters, workspace and the forward/backward chain. */
#include "mlp.h"
#include "clock.h"
#include "conv.h"
#include "mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


const int mlp_fmnist_widths[5] = {784, 256, 128, 64, 10};

const mlp_shape mlp_fmnist_mlp = {.nlayers = 4, .width = {784, 256, 128, 64, 10}};
const mlp_shape mlp_fmnist_cnn = {.nconv = 2,
                                  .side = 28,
                                  .channels = 1,
                                  .conv_ch = {16, 32},
                                  .conv_k = {3, 3},
                                  .nlayers = 2,
                                  .width = {32 * 7 * 7, 64, 10}};

/* The convolutions of s into t, their parameters from *off on. */
static int layout_conv(mlp *t, const mlp_shape *s, size_t *off, fm_err *e)
{
    if (s->nconv < 0 || s->nconv > MLP_MAX_CONV)
        return fm_fail(e, FM_EINVAL, NULL, "%d convolutional layers: 0..%d supported", s->nconv,
                       MLP_MAX_CONV);
    if (!s->nconv)
        return FM_OK;
    if (s->side < 1 || s->side > MLP_MAX_SIDE || s->channels < 1 ||
        s->channels > MLP_MAX_CHANNELS)
        return fm_fail(e, FM_EINVAL, NULL, "input of %d channel%s of side %d: 1..%d and 1..%d "
                       "supported", s->channels, fm_plural((unsigned)s->channels), s->side,
                       MLP_MAX_CHANNELS, MLP_MAX_SIDE);
    int side = s->side, in = s->channels;
    for (int c = 0; c < s->nconv; c++) {
        int oc = s->conv_ch[c], k = s->conv_k[c];
        if (oc < 1 || oc > MLP_MAX_CHANNELS || k < 1 || k > MLP_MAX_KERNEL || k % 2 == 0)
            return fm_fail(e, FM_EINVAL, NULL, "convolution %d: %d channel%s of a %dx%d kernel: "
                           "1..%d channels, odd kernels up to %d supported", c + 1, oc,
                           fm_plural((unsigned)oc), k, k, MLP_MAX_CHANNELS, MLP_MAX_KERNEL);
        if (side % 2)
            return fm_fail(e, FM_EINVAL, NULL, "convolution %d: its input's side %d is odd, "
                           "which 2x2 pooling does not take", c + 1, side);
        t->conv[c] = (mlp_conv){in, oc, k, side};
        t->cw_off[c] = *off;
        *off += (size_t)oc * (size_t)in * (size_t)(k * k);
        t->cb_off[c] = *off;
        *off += (size_t)oc;
        in = oc;
        side /= 2;
    }
    t->nconv = s->nconv;
    if ((long)in * side * side != s->width[0])
        return fm_fail(e, FM_EINVAL, NULL, "the convolutions give %d value%s (%d channel%s of "
                       "%dx%d), the first linear layer takes %d", in * side * side,
                       fm_plural((unsigned)(in * side * side)), in, fm_plural((unsigned)in), side,
                       side, s->width[0]);
    return FM_OK;
}

int mlp_layout_shape(mlp *m, const mlp_shape *s, fm_err *e)
{
    int nlayers = s->nlayers;
    const int *width = s->width;
    if (nlayers < 1 || nlayers > MLP_MAX_LAYERS)
        return fm_fail(e, FM_EINVAL, NULL, "%d layers: 1..%d supported", nlayers,
                       MLP_MAX_LAYERS);
    mlp t;
    memset(&t, 0, sizeof t);
    t.nlayers = nlayers;
    size_t off = 0;
    for (int l = 0; l <= nlayers; l++) {
        if (width[l] < 1 || width[l] > MLP_MAX_WIDTH)
            return fm_fail(e, FM_EINVAL, NULL, "layer width %d: 1..%d supported", width[l],
                           MLP_MAX_WIDTH);
        t.width[l] = width[l];
    }
    int rc = layout_conv(&t, s, &off, e);
    if (rc)
        return rc;
    for (int l = 0; l < nlayers; l++) {
        t.w_off[l] = off;
        off += (size_t)width[l + 1] * (size_t)width[l];
        t.b_off[l] = off;
        off += (size_t)width[l + 1];
    }
    t.nparams = off;
    *m = t;
    return FM_OK;
}

int mlp_layout(mlp *m, int nlayers, const int *width, fm_err *e)
{
    mlp_shape s = {.nlayers = nlayers};
    if (nlayers >= 1 && nlayers <= MLP_MAX_LAYERS)
        memcpy(s.width, width, sizeof *width * (size_t)(nlayers + 1));
    return mlp_layout_shape(m, &s, e);
}

int mlp_create_shape(mlp *m, const mlp_shape *s, fm_err *e)
{
    mlp t;
    int rc = mlp_layout_shape(&t, s, e);
    if (rc)
        return rc;
    t.params = mem_zalloc(t.nparams * sizeof(float));
    if (!t.params)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for %zu parameters", t.nparams);
    *m = t;
    return FM_OK;
}

int mlp_create(mlp *m, int nlayers, const int *width, fm_err *e)
{
    mlp_shape s = {.nlayers = nlayers};
    if (nlayers >= 1 && nlayers <= MLP_MAX_LAYERS)
        memcpy(s.width, width, sizeof *width * (size_t)(nlayers + 1));
    return mlp_create_shape(m, &s, e);
}

void mlp_get_shape(const mlp *m, mlp_shape *s)
{
    memset(s, 0, sizeof *s);
    s->nconv = m->nconv;
    if (m->nconv) {
        s->side = m->conv[0].side;
        s->channels = m->conv[0].in_ch;
    }
    for (int c = 0; c < m->nconv; c++) {
        s->conv_ch[c] = m->conv[c].out_ch;
        s->conv_k[c] = m->conv[c].k;
    }
    s->nlayers = m->nlayers;
    memcpy(s->width, m->width, sizeof s->width);
}

void mlp_free(mlp *m)
{
    if (!m)
        return;
    free(m->params);
    m->params = NULL;
    m->nparams = 0;
}

int mlp_inputs(const mlp *m)
{
    if (!m->nconv)
        return m->width[0];
    return m->conv[0].in_ch * m->conv[0].side * m->conv[0].side;
}

int mlp_has_shape(const mlp *m, const mlp_shape *s)
{
    mlp_shape h;
    mlp_get_shape(m, &h);
    if (h.nconv != s->nconv || h.nlayers != s->nlayers || h.side != s->side ||
        h.channels != s->channels)
        return 0;
    for (int c = 0; c < h.nconv; c++)
        if (h.conv_ch[c] != s->conv_ch[c] || h.conv_k[c] != s->conv_k[c])
            return 0;
    for (int l = 0; l <= h.nlayers; l++)
        if (h.width[l] != s->width[l])
            return 0;
    return 1;
}

int mlp_is_fmnist(const mlp *m)
{
    return mlp_has_shape(m, &mlp_fmnist_mlp) || mlp_has_shape(m, &mlp_fmnist_cnn);
}

int mlp_same_shape(const mlp *a, const mlp *b)
{
    mlp_shape s;
    mlp_get_shape(b, &s);
    return mlp_has_shape(a, &s);
}

void mlp_shape_text(const mlp *m, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    if (m->nconv)
        n += (size_t)snprintf(buf, cap, "%dx%d%s", m->conv[0].side, m->conv[0].side,
                              m->conv[0].in_ch > 1 ? "x" : "");
    if (m->nconv && m->conv[0].in_ch > 1 && n < cap)
        n += (size_t)snprintf(buf + n, cap - n, "%d", m->conv[0].in_ch);
    for (int c = 0; c < m->nconv && n < cap; c++)
        n += (size_t)snprintf(buf + n, cap - n, "-conv%dx%d", m->conv[c].k, m->conv[c].out_ch);
    for (int l = 0; l <= m->nlayers && n < cap; l++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", l || m->nconv ? "-" : "", m->width[l]);
}

/* n weights then nb biases, uniform within 1 / sqrt(fan_in). */
static void init_layer(float *w, size_t n, float *b, int nb, int fan_in, rng *r)
{
    float bound = (float)(1.0 / sqrt((double)fan_in));
    for (size_t i = 0; i < n; i++)
        w[i] = (2.0f * rng_uniform(r) - 1.0f) * bound;
    for (int i = 0; i < nb; i++)
        b[i] = (2.0f * rng_uniform(r) - 1.0f) * bound;
}

void mlp_init_params(mlp *m, rng *r)
{
    /* nn.Linear.reset_parameters: kaiming_uniform_(w, a=sqrt(5)) gives a
     * bound of gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + 5)), that
     * is 1 / sqrt(fan_in); the bias uses the same bound; nn.Conv2d's
     * likewise with fan_in = in_ch * k * k. */
    for (int c = 0; c < m->nconv; c++) {
        const mlp_conv *v = &m->conv[c];
        int fan_in = v->in_ch * v->k * v->k;
        init_layer(m->params + m->cw_off[c], (size_t)v->out_ch * (size_t)fan_in,
                   m->params + m->cb_off[c], v->out_ch, fan_in, r);
    }
    for (int l = 0; l < m->nlayers; l++)
        init_layer(m->params + m->w_off[l], (size_t)m->width[l + 1] * (size_t)m->width[l],
                   m->params + m->b_off[l], m->width[l + 1], m->width[l], r);
}

/* ---- job plans ----
 * The two CPUs may sit far apart (on this project's machine a cache line
 * takes ~250 ns from one to the other), so a thread should keep touching
 * the same data. A job by rows is therefore dealt out the same way in
 * every job: thread t gets the same share of the row tiles of every matrix
 * (the rows of the first layer's output in its forward job, of each
 * weight gradient and its update), cut into chunks of a few tiles so that
 * a thread that runs out can take over another's. A job by columns (the
 * samples of the batch) gives each thread one range of whole vectors. How
 * work is dealt never changes a result: each output element is computed
 * the same way by any thread. */
typedef struct mlp_task {
    int l, r0, r1; /* rows [r0, r1) of layer l, or in the column job columns */
} mlp_task;
/* Chunks per thread per layer are at most this many, of at least
 * TILES_PER_CHUNK row tiles (a layer of 256 outputs is 22 chunks). */
#define PART_CHUNKS 16
#define TILES_PER_CHUNK 2
#define MAX_TASKS(team, layers) ((layers) * (team) * (PART_CHUNKS + 1) + 8)

static void plan_begin(mlp_work *w)
{
    w->ntasks = 0;
}

/* Thread t's share of the `rows` rows of layer l, in chunks of whole
 * tiles. */
static void plan_part(mlp_work *w, int T, int t, int l, int rows)
{
    int tiles = (rows + GEMM_ROW_TILE - 1) / GEMM_ROW_TILE, a, b;
    pool_chunk(tiles, T, t, 1, &a, &b);
    int per = (b - a + PART_CHUNKS - 1) / PART_CHUNKS;
    if (per < TILES_PER_CHUNK)
        per = TILES_PER_CHUNK;
    for (int x = a; x < b; x += per) {
        int end = x + per < b ? x + per : b;
        mlp_task *k = &w->tasks[w->ntasks++];
        k->l = l;
        k->r0 = x * GEMM_ROW_TILE;
        k->r1 = end * GEMM_ROW_TILE < rows ? end * GEMM_ROW_TILE : rows;
    }
}

int mlp_work_create(mlp_work *w, const mlp *m, int max_batch, int training, fm_err *e)
{
    return mlp_work_create_team(w, m, max_batch, training, 1, e);
}

/* A convolution's patches are made a window at a time, of about this many
 * floats (512 KB: half a core's level-2 cache, which holds it with the GEMM's
 * other operands), so each patch is written and read back in cache, not
 * memory. */
#define CONV_WINDOW_FLOATS 131072

/* How many of H lines of rows x line floats a window takes (at least one).
 * The weight gradient's windows are of rows of the patches: H of them, each
 * a "line" of N floats (rows = N, line = 1). */
static int window_lines(int rows, int line, int H)
{
    long s = CONV_WINDOW_FLOATS / ((long)rows * line);
    return s < 1 ? 1 : s > H ? H : (int)s;
}

/* The largest window window_lines gives for rows x H lines of up to line
 * floats (a partial block's lines are shorter), in floats. */
static size_t window_floats(size_t rows, size_t line, size_t H)
{
    size_t one = rows * line, most = CONV_WINDOW_FLOATS > one ? CONV_WINDOW_FLOATS : one;
    return one * H < most ? one * H : most;
}

/* One block's scratch for the convolutions, in floats: a window of the
 * patches, a convolution's output, and in training the output's gradient
 * transposed, the weight gradient transposed (or the turned weights), a
 * window of the output gradient's patches and two gradients of a pooled
 * output. */
typedef struct scratch_sizes {
    size_t patches, out, pooled, wt, q, total;
} scratch_sizes;

static scratch_sizes conv_scratch_sizes(const mlp *m, int training)
{
    scratch_sizes z = {0, 0, 0, 0, 0, 0};
    for (int c = 0; c < m->nconv; c++) {
        const mlp_conv *v = &m->conv[c];
        size_t pos = (size_t)v->side * (size_t)v->side * MLP_CONV_BLOCK;
        size_t K = (size_t)v->in_ch * (size_t)(v->k * v->k), H = (size_t)v->side;
        size_t line = H * MLP_CONV_BLOCK, fw = window_floats(K, line, H);
        size_t np = window_floats(pos, 1, K); /* the weight gradient's rows */
        np = fw > np ? fw : np;
        size_t no = (size_t)v->out_ch * pos, ni = (size_t)v->in_ch * pos;
        z.patches = np > z.patches ? np : z.patches;
        z.out = no > z.out ? no : z.out;
        z.pooled = no / 4 > z.pooled ? no / 4 : z.pooled;
        z.pooled = ni > z.pooled ? ni : z.pooled;
        size_t nw = (size_t)v->out_ch * (size_t)v->in_ch * (size_t)(v->k * v->k);
        z.wt = nw > z.wt ? nw : z.wt;
        size_t nq = c ? window_floats((size_t)v->out_ch * (size_t)(v->k * v->k), line, H) : 0;
        z.q = nq > z.q ? nq : z.q;
    }
    z.patches = (z.patches + 15) / 16 * 16;
    z.out = (z.out + 15) / 16 * 16;
    z.pooled = (z.pooled + 15) / 16 * 16;
    z.wt = (z.wt + 15) / 16 * 16;
    z.q = (z.q + 15) / 16 * 16;
    z.total = z.patches + z.out + (training ? z.out + z.wt + z.q + 2 * z.pooled : 0);
    return z;
}

/* Values of convolution c's pooled output for one sample. */
static size_t pooled_size(const mlp_conv *v)
{
    return (size_t)v->out_ch * (size_t)(v->side / 2) * (size_t)(v->side / 2);
}

/* Floats of w's block: the activations, the input's copies, and with
 * convolutions their arrays (pooling choices counted as floats). */
static size_t work_floats(const mlp *m, const mlp_work *t)
{
    size_t sum = 0, B = (size_t)t->max_batch, in = (size_t)mlp_inputs(m);
    for (int l = 0; l <= m->nlayers; l++)
        sum += (size_t)m->width[l] + 16;
    /* actT, act[0], and the other copies of the input */
    size_t n = (sum + (size_t)m->width[0] + 16) * B + (size_t)(t->copies - 1) * 2 * (in * B + 16);
    if (t->training)
        n += 2 * sum * B + m->nparams + 16; /* act, gradT, grads */
    if (m->nconv) {
        n += 2 * (in * B + 16); /* in[0], imgT */
        for (int c = 0; c < m->nconv; c++)
            n += (pooled_size(&m->conv[c]) * B + 16) * 2;
        n += t->conv_scratch * (size_t)t->conv_chunks;
        if (t->training)
            n += ((B + MLP_CONV_BLOCK - 1) / MLP_CONV_BLOCK) * t->cparams + 16;
    }
    return n;
}

/* Points w's arrays into its block, each 64-byte aligned. */
static void work_carve(mlp_work *t, const mlp *m)
{
    size_t B = (size_t)t->max_batch, in = (size_t)mlp_inputs(m);
    float *p = t->block;
#define TAKE(count) (p += ((count) + 15) / 16 * 16, p - ((count) + 15) / 16 * 16)
    for (int l = 0; l <= m->nlayers; l++)
        t->actT[l] = TAKE((size_t)m->width[l] * B);
    t->act[0] = TAKE((size_t)m->width[0] * B);
    t->inT[0] = m->nconv ? NULL : t->actT[0]; /* convolutions transpose it block by block */
    t->in[0] = m->nconv ? TAKE(in * B) : t->act[0];
    for (int c = 1; c < t->copies; c++) {
        t->inT[c] = TAKE(in * B);
        t->in[c] = TAKE(in * B);
    }
    if (t->training) {
        for (int l = 1; l < m->nlayers; l++)
            t->act[l] = TAKE((size_t)m->width[l] * B);
        for (int l = m->nconv ? 0 : 1; l <= m->nlayers; l++)
            t->gradT[l] = TAKE((size_t)m->width[l] * B);
        t->grads = TAKE(m->nparams);
    }
    if (m->nconv) {
        t->imgT = TAKE(in * B);
        for (int c = 0; c < m->nconv; c++) {
            t->pooled[c] = TAKE(pooled_size(&m->conv[c]) * B);
            t->arg[c] = (uint8_t *)TAKE((pooled_size(&m->conv[c]) * B + 3) / 4);
        }
        t->scratch = TAKE(t->conv_scratch * (size_t)t->conv_chunks);
        if (t->training)
            t->partial = TAKE((B + MLP_CONV_BLOCK - 1) / MLP_CONV_BLOCK * t->cparams);
    }
#undef TAKE
}

int mlp_work_create_team(mlp_work *w, const mlp *m, int max_batch, int training, int threads,
                         fm_err *e)
{
    if (max_batch < 1 || max_batch > (1 << 20))
        return fm_fail(e, FM_EINVAL, NULL, "batch size %d: 1..%d supported", max_batch, 1 << 20);
    mlp_work t;
    memset(&t, 0, sizeof t);
    t.max_batch = max_batch;
    t.training = training;
    t.team = threads < 1 ? 1 : threads;
    t.copies = !training || threads < 1 || m->nconv ? 1
               : threads > MLP_MAX_COPIES         ? MLP_MAX_COPIES
                                                  : threads;
    if (m->nconv) {
        int blocks = (max_batch + MLP_CONV_BLOCK - 1) / MLP_CONV_BLOCK;
        t.conv_chunks = t.team < blocks ? t.team : blocks;
        t.conv_scratch = conv_scratch_sizes(m, training).total;
        t.cparams = m->w_off[0];
    }
    size_t n = work_floats(m, &t);
    t.block = mem_alloc(n * sizeof(float));
    t.labels = malloc((size_t)max_batch);
    t.tasks = malloc(sizeof *t.tasks * (size_t)MAX_TASKS(t.team, m->nlayers));
    t.first = malloc(sizeof *t.first * (POOL_MAX_TEAM + 1));
    if (!t.block || !t.labels || !t.tasks || !t.first) {
        free(t.block);
        free(t.labels);
        free(t.tasks);
        free(t.first);
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for a batch of %d", max_batch);
    }
    work_carve(&t, m);
    *w = t;
    return FM_OK;
}

void mlp_work_free(mlp_work *w)
{
    if (!w)
        return;
    free(w->block);
    free(w->labels);
    free(w->tasks);
    free(w->first);
    w->block = NULL;
    w->labels = NULL;
    w->tasks = NULL;
    w->first = NULL;
}

/* A job's start, and its wall time since then added to
 * w->job_seconds[slot], when that is set (mlp.h). */
static double job_start(const mlp_work *w)
{
    return w->job_seconds ? clock_seconds() : 0;
}

static void job_end(mlp_work *w, int slot, double t0)
{
    if (w->job_seconds)
        w->job_seconds[slot] += clock_seconds() - t0;
}

/* Runs one job, timed into slot. */
static void run_job(mlp_work *w, int slot, pool *p, int n, const int *first, pool_fn fn, void *ctx)
{
    double t0 = job_start(w);
    pool_run_ranges(p, n, first, fn, ctx);
    job_end(w, slot, t0);
}

/* ---- gather ---- */

/* The gather is cut into this many chunks of columns. */
#define CHUNKS 7

typedef struct gather_ctx {
    mlp_work *w;
    const kernel_impl *k;
    const uint8_t *images;
    const uint32_t *idx;
    int B, C;
} gather_ctx;

/* Asks the caches for columns [c0, c1) of B images, images + idx[b] * C
 * (idx NULL: image b): images picked at random from 47 MB are in no cache,
 * and asking for all their lines at once, before reading any, has many
 * misses in flight instead of a few (a batch's gather, measured alone with
 * 8 MB read between batches as a step does: 18 us -> 7). */
static void prefetch_images(const uint8_t *images, const uint32_t *idx, int B, int C, int c0,
                            int c1)
{
#if defined(__GNUC__) || defined(__clang__)
    /* gcc (12) counts a prefetch as no effect at all, so it finds this
     * function pure (it only reads idx) and drops every call to it, whose
     * result nobody uses: it always had, unseen, until bench_kernels showed
     * the gather at 18 us where 7 had been measured. An empty volatile asm
     * is an effect it must keep; tests/codegen.sh checks the object. */
    __asm__ volatile("");
    for (int b = 0; b < B; b++) {
        const uint8_t *img = images + (idx ? idx[b] : (size_t)b) * (size_t)C;
        for (int off = c0 & ~63; off < c1; off += 64)
            __builtin_prefetch(img + off, 0, 3);
        __builtin_prefetch(img + c1 - 1, 0, 3);
    }
#else
    (void)images, (void)idx, (void)B, (void)C, (void)c0, (void)c1;
#endif
}

/* Columns [c0, c1) of the batch into input copy c: normalised batch-major
 * into in[c], then transposed into inT[c] (with convolutions, block by
 * block as they take it). */
static void gather_columns(gather_ctx *g, int copy, int c0, int c1)
{
    mlp_work *w = g->w;
    int B = g->B, C = g->C;
    float *x = w->in[copy];
    prefetch_images(g->images, g->idx, B, C, c0, c1);
    for (int b = 0; b < B; b++) {
        size_t img = g->idx ? g->idx[b] : (size_t)b;
        g->k->normalize(x + (size_t)b * C + c0, g->images + img * C + c0, (size_t)(c1 - c0));
    }
    if (w->inT[copy])
        g->k->transpose(w->inT[copy] + (size_t)c0 * B, B, x + c0, C, B, c1 - c0);
}

/* The next batch's images, while this one is computed. */
static void prefetch_next(const gather_ctx *g)
{
    if (g->w->next_idx)
        prefetch_images(g->images, g->w->next_idx, g->w->next_B, g->C, 0, g->C);
}

/* With one copy, chunk = a range of columns; with several, chunk = a whole
 * copy, gathered by (usually) the thread that will read it. */
static void gather_chunk(void *arg, int chunk, int thread)
{
    gather_ctx *g = arg;
    (void)thread;
    if (g->w->copies == 1) {
        int c0, c1;
        pool_chunk(g->C, CHUNKS, chunk, 16, &c0, &c1);
        gather_columns(g, 0, c0, c1);
        if (chunk == 0)
            prefetch_next(g);
    } else {
        gather_columns(g, chunk, 0, g->C);
        prefetch_next(g);
    }
}

void mlp_gather(const mlp *m, mlp_work *w, pool *p, const kernel_impl *k,
                const uint8_t *images, const uint8_t *labels, const uint32_t *idx, int B)
{
    gather_ctx g = {w, k, images, idx, B, mlp_inputs(m)};
    w->B = B;
    if (labels)
        for (int b = 0; b < B; b++)
            w->labels[b] = labels[idx ? idx[b] : (size_t)b];
    run_job(w, 0, p, w->copies == 1 ? CHUNKS : w->copies, NULL, gather_chunk, &g);
}

/* ---- forward ---- */

typedef struct layer_ctx {
    const mlp *m;
    mlp_work *w;
    const kernel_impl *k;
    int l;
} layer_ctx;

static uint32_t dropout_threshold(float p)
{
    return (uint32_t)lrintf(p * 65536.0f);
}

/* As torch: the kept units are multiplied by 1 / (1 - p), in float. */
static float dropout_scale(float p)
{
    return 1.0f / (1.0f - p);
}

/* Inverted dropout of rows [r0, r1), columns [j0, j1) of layer l's output
 * (a hidden layer's), its mask drawn from the step's key and l. */
static void dropout_out(const mlp_work *w, const kernel_impl *k, int l, int r0, int r1, int j0,
                        int j1)
{
    k->dropout(w->actT[l + 1], w->B, r0, r1, j0, j1, w->dropout_key + (uint32_t)l * 0x632be59du,
               dropout_threshold(w->dropout), dropout_scale(w->dropout));
}

/* The team a plan is made for: the pool's, up to what w was sized for. */
static int plan_team(const mlp_work *w, const pool *p)
{
    int T = pool_size(p);
    return T < w->team ? T : w->team;
}

/* Closes a plan for T threads; the pool's other threads get empty ranges. */
static void plan_end(mlp_work *w, int T, const pool *p)
{
    for (int t = T; t <= pool_size(p); t++)
        w->first[t] = w->ntasks;
}

static void forward_chunk(void *arg, int chunk, int thread)
{
    layer_ctx *c = arg;
    const mlp *m = c->m;
    mlp_work *w = c->w;
    int l = c->l, B = w->B, C = m->width[l], OC = m->width[l + 1];
    int last = l == m->nlayers - 1;
    int r0 = w->tasks[chunk].r0, r1 = w->tasks[chunk].r1;
    float *outT = w->actT[l + 1];
    const float *xT = l == 0 && !m->nconv ? w->inT[thread % w->copies] : w->actT[l];
    linear_forward(c->k->gemm, outT, xT, m->params + m->w_off[l],
                   m->params + m->b_off[l], B, C, OC, !last, r0, r1);
    if (w->training && !last && w->dropout > 0)
        dropout_out(w, c->k, l, r0, r1, 0, B);
    if (w->training && !last) /* the batch-major copy the next weight gradient reads */
        c->k->transpose(w->act[l + 1] + r0, OC, outT + (size_t)r0 * B, B, r1 - r0, B);
}

/* ---- the convolutions, block by block ----
 *
 * The batch goes through the convolutions in blocks of MLP_CONV_BLOCK
 * samples: a block's patches and outputs stay in a core's cache, where the
 * whole batch's would not. A job's chunk takes a run of whole blocks, with
 * its own scratch. Each convolution is conv.h's GEMM over its patches, its
 * ReLU the GEMM's epilogue, then the 2x2 pool. Backward, a block's
 * patches are made again from what the forward pass kept (its input), and
 * its weight gradient is the GEMM's chain over the block's (y, x, b); the
 * blocks' gradients are then added in block order, so the bits depend on
 * neither the threads nor who took which block. */

typedef struct conv_scr {
    float *pT, *out, *dy, *wt, *q, *g0, *g1;
} conv_scr;

static conv_scr scratch_of(const mlp *m, const mlp_work *w, int chunk)
{
    scratch_sizes z = conv_scratch_sizes(m, w->training);
    float *s = w->scratch + (size_t)chunk * w->conv_scratch;
    conv_scr c = {s, s + z.patches, NULL, NULL, NULL, NULL, NULL};
    if (w->training) {
        c.dy = c.out + z.out;
        c.wt = c.dy + z.out;
        c.q = c.wt + z.wt;
        c.g0 = c.q + z.q;
        c.g1 = c.g0 + z.pooled;
    }
    return c;
}

/* rows x n floats from src (rows lds apart) to dst (ldd apart): a block's
 * columns out of or into a whole batch's rows; with n a block, in runs a
 * compiler vectorises even when it will not version a loop of unknown
 * length (gcc -O2). */
static void copy_rows(float *restrict dst, size_t ldd, const float *restrict src, size_t lds,
                      int rows, int n)
{
    if (n == MLP_CONV_BLOCK) {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < MLP_CONV_BLOCK; j++)
                dst[(size_t)r * ldd + (size_t)j] = src[(size_t)r * lds + (size_t)j];
        return;
    }
    for (int r = 0; r < rows; r++)
        memcpy(dst + (size_t)r * ldd, src + (size_t)r * lds, (size_t)n * sizeof *dst);
}

/* op over the patches of src (op.K rows of them, of a k x k kernel on
 * H x H images of n samples), a window of lines at a time made in buf: a
 * column's chain is over the patch's rows, so the windows give the bits
 * the whole would. op.c and op.mask (if any) point at line 0 of their
 * (op.M, H*H*n) matrices; op's a, M, K, bias, relu are the caller's. */
static void gemm_patch_windows(const kernel_impl *k, gemm_op op, float *buf, const float *src,
                               int H, int kk, int n)
{
    int line = H * n, S = window_lines(op.K, line, H);
    float *c = op.c;
    const float *mask = op.mask;
    op.ldc = op.ldm = (ptrdiff_t)H * line;
    for (int y0 = 0; y0 < H; y0 += S) {
        int y1 = y0 + S < H ? y0 + S : H, cols = (y1 - y0) * line;
        conv_patches_window(buf, (size_t)cols, src, H, H, kk, n, 0, op.K, y0, y1);
        op.N = cols, op.b = buf, op.ldb = cols;
        op.c = c + (size_t)y0 * line;
        op.mask = mask ? mask + (size_t)y0 * line : NULL;
        k->gemm(&op, 0, op.M);
    }
}

/* Convolution v of a block of n samples, xT (in_ch, H, H, n), into
 * sc->out (out_ch, H*H*n) with its bias and ReLU. */
static void conv_forward_layer(const kernel_impl *k, const conv_scr *sc, const mlp_conv *v,
                               const float *w, const float *b, const float *xT, int n)
{
    int K = v->in_ch * v->k * v->k;
    gemm_op op = {.M = v->out_ch, .K = K, .a = w, .a_rs = K, .a_ks = 1, .c = sc->out, .bias = b,
                  .relu = 1};
    gemm_patch_windows(k, op, sc->pT, xT, v->side, v->k, n);
}

/* The n samples from b0 on, through the convolutions into the first
 * Linear layer's input. */
static void conv_forward_block(const mlp *m, mlp_work *w, const kernel_impl *k,
                               const conv_scr *sc, int b0, int n)
{
    int B = w->B, in = mlp_inputs(m), F = m->width[0];
    float *x = w->imgT + (size_t)b0 * in;
    k->transpose(x, n, w->in[0] + (size_t)b0 * in, in, n, in);
    for (int c = 0; c < m->nconv; c++) {
        const mlp_conv *v = &m->conv[c];
        int H = v->side;
        size_t at = pooled_size(v) * (size_t)b0;
        conv_forward_layer(k, sc, v, m->params + m->cw_off[c], m->params + m->cb_off[c], x,
                           n);
        k->pool_forward(w->pooled[c] + at, w->arg[c] + at, sc->out, H, H, n, 0, v->out_ch);
        x = w->pooled[c] + at;
    }
    copy_rows(w->actT[0] + b0, (size_t)B, x, (size_t)n, F, n);
    if (w->training) /* the batch-major copy the first weight gradient reads */
        k->transpose(w->act[0] + (size_t)b0 * F, F, x, n, F, n);
}

/* A convolution's weight gradient over a block's N positions, dw (OC, K) =
 * dyT (OC, N) p (N, K) as linear_backward_weights defines it (conv.h), but
 * computed as its transpose pT dy, which has the same products in the same
 * order (fmaf(a, b, s) is fmaf(b, a, s)): so the small dyT is transposed
 * rather than the patches, and the GEMM's rows are the patches' (for the
 * first convolution its 9 columns would fill a 16-float vector badly). Its
 * chains run over all N, so the patches are made a window of rows at a
 * time, each window's GEMM right after. */
static void conv_weight_grad(const kernel_impl *k, float *dw, const conv_scr *sc,
                             const mlp_conv *v, const float *xT, int n)
{
    int H = v->side, N = H * H * n, K = v->in_ch * v->k * v->k, OC = v->out_ch;
    int R = window_lines(N, 1, K); /* rows of N floats */
    k->transpose(sc->dy, OC, sc->out, N, OC, N);
    for (int r0 = 0; r0 < K; r0 += R) {
        int r1 = r0 + R < K ? r0 + R : K;
        conv_patches_window(sc->pT, (size_t)N, xT, H, H, v->k, n, r0, r1, 0, H);
        gemm_op op = {.M = r1 - r0, .N = OC, .K = N, .a = sc->pT, .a_rs = N, .a_ks = 1,
                      .b = sc->dy, .ldb = OC, .c = sc->wt + (size_t)r0 * OC, .ldc = OC};
        k->gemm(&op, 0, r1 - r0);
    }
    k->transpose(dw, K, sc->wt, OC, K, OC);
}

/* The gradient of convolution v's input xT into dxT, through the ReLU
 * that made it: the turned kernel over the output gradient's (sc->out)
 * patches. */
static void conv_input_grad(const kernel_impl *k, const conv_scr *sc, const mlp_conv *v,
                            const float *w, const float *xT, float *dxT, int n)
{
    int Q = v->out_ch * v->k * v->k;
    conv_flip_weights(sc->wt, w, v->in_ch, v->out_ch, v->k);
    gemm_op op = {.M = v->in_ch, .K = Q, .a = sc->wt, .a_rs = Q, .a_ks = 1, .c = dxT,
                  .mask = xT};
    gemm_patch_windows(k, op, sc->q, sc->out, v->side, v->k, n);
}

/* Block s (n samples from b0) back through the convolutions: its share
 * of their gradients into w->partial. */
static void conv_backward_block(const mlp *m, mlp_work *w, const kernel_impl *k,
                                const conv_scr *sc, int s, int b0, int n)
{
    int B = w->B, F = m->width[0], top = m->nconv - 1;
    float *g = sc->g0, *other = sc->g1, *part = w->partial + (size_t)s * w->cparams;
    copy_rows(g, (size_t)n, w->gradT[0] + b0, (size_t)B, F, n); /* masked by the column job */
    for (int c = top; c >= 0; c--) {
        const mlp_conv *v = &m->conv[c];
        int H = v->side, N = H * H * n;
        size_t at = pooled_size(v) * (size_t)b0;
        k->pool_backward(sc->out, g, w->arg[c] + at, H, H, n, 0, v->out_ch);
        const float *x = c ? w->pooled[c - 1] + pooled_size(&m->conv[c - 1]) * (size_t)b0
                           : w->imgT + (size_t)mlp_inputs(m) * (size_t)b0;
        conv_weight_grad(k, part + m->cw_off[c], sc, v, x, n);
        conv_bias_grad(part + m->cb_off[c], sc->out, N, v->out_ch);
        if (c) {
            conv_input_grad(k, sc, v, m->params + m->cw_off[c], x, other, n);
            float *t = g;
            g = other;
            other = t;
        }
    }
}

typedef struct conv_ctx {
    const mlp *m;
    mlp_work *w;
    const kernel_impl *k;
    int backward, chunks;
} conv_ctx;

static void conv_chunk(void *arg, int chunk, int thread)
{
    const conv_ctx *c = arg;
    mlp_work *w = c->w;
    int blocks = (w->B + MLP_CONV_BLOCK - 1) / MLP_CONV_BLOCK, s0, s1;
    (void)thread;
    conv_scr sc = scratch_of(c->m, w, chunk);
    pool_chunk(blocks, c->chunks, chunk, 1, &s0, &s1);
    for (int s = s0; s < s1; s++) {
        int b0 = s * MLP_CONV_BLOCK, n = w->B - b0 < MLP_CONV_BLOCK ? w->B - b0 : MLP_CONV_BLOCK;
        if (c->backward)
            conv_backward_block(c->m, w, c->k, &sc, s, b0, n);
        else
            conv_forward_block(c->m, w, c->k, &sc, b0, n);
    }
}

/* The batch through the convolutions, forward or back: a chunk (with its
 * scratch) for each of up to conv_chunks threads. */
static void conv_job(const mlp *m, mlp_work *w, pool *p, const kernel_impl *k, int backward)
{
    int blocks = (w->B + MLP_CONV_BLOCK - 1) / MLP_CONV_BLOCK, T = plan_team(w, p);
    int chunks = T < w->conv_chunks ? T : w->conv_chunks;
    conv_ctx c = {m, w, k, backward, chunks < blocks ? chunks : blocks};
    double t0 = job_start(w);
    pool_run(p, c.chunks, conv_chunk, &c);
    job_end(w, 2 + m->nlayers + backward, t0);
}

/* The convolutions' gradients: the blocks' sums added in block order. */
static void conv_sum_blocks(const mlp *m, mlp_work *w)
{
    int blocks = (w->B + MLP_CONV_BLOCK - 1) / MLP_CONV_BLOCK;
    size_t n = m->w_off[0];
    memcpy(w->grads, w->partial, n * sizeof *w->grads);
    for (int s = 1; s < blocks; s++)
        for (size_t i = 0; i < n; i++)
            w->grads[i] += w->partial[(size_t)s * n + i];
}

/* ---- a training step: four jobs (six with convolutions) ----
 *
 * A training step takes four jobs (each ends with its threads meeting, a
 * few microseconds on two CPUs): the gather; the first layer's forward
 * pass by rows (its weights are most of the network, and each thread keeps
 * the same rows); one job by columns, where each thread takes its samples
 * through the other layers' forward pass (dropout included), the
 * log-softmax and the loss's gradient, and back through their input
 * gradients down to the first layer's output; and one job of every
 * layer's weight gradient by rows, each row's update right after it
 * (nothing reads a weight after the column job). Evaluation runs the
 * forward pass alone, a job per layer by rows. With convolutions there
 * are two more: after the gather, the convolutions' forward job, block by
 * block; and before the weight gradients, their backward job (the column
 * job having carried the gradient down to the first Linear layer's input),
 * after which their gradients are added up and their parameters updated. */

/* Columns [j0, j1) from the first layer's output to its gradient. */
static void columns_chunk(void *arg, int chunk, int thread)
{
    const layer_ctx *c = arg;
    const mlp *m = c->m;
    mlp_work *w = c->w;
    const kernel_impl *k = c->k;
    int L = m->nlayers, B = w->B, j0 = w->tasks[chunk].r0, j1 = w->tasks[chunk].r1;
    (void)thread;
    for (int l = 1; l < L; l++) {
        int C = m->width[l], OC = m->width[l + 1], last = l == L - 1;
        linear_forward_cols(k->gemm, w->actT[l + 1], w->actT[l], m->params + m->w_off[l],
                            m->params + m->b_off[l], B, j0, j1, C, OC, !last);
        if (last)
            break;
        if (w->dropout > 0)
            dropout_out(w, k, l, 0, OC, j0, j1);
        /* the batch-major copy the next weight gradient reads */
        k->transpose(w->act[l + 1] + (size_t)j0 * OC, OC, w->actT[l + 1] + j0, B, OC, j1 - j0);
    }
    /* In place: logits become log-probabilities. */
    logsoftmax_forward_cols(w->actT[L], w->actT[L], B, j0, j1, m->width[L]);
    logsoftmax_nll_backward_cols(w->gradT[L], w->actT[L], w->labels, B, j0, j1, m->width[L],
                                 w->smoothing);
    for (int l = L - 1; l > 0; l--) {
        /* Through the ReLU that produced this layer's input: its output is
         * positive exactly where its input was. */
        linear_backward_input_cols(k->gemm, w->gradT[l], w->gradT[l + 1],
                                   m->params + m->w_off[l], w->actT[l], B, j0, j1, m->width[l],
                                   m->width[l + 1]);
        /* Dropped units are zero in actT[l], so the mask above zeroed their
         * gradient; the kept ones were scaled, and so is their gradient. */
        if (w->dropout > 0)
            for (int r = 0; r < m->width[l]; r++)
                scale_floats(w->gradT[l] + (size_t)r * B + j0, (size_t)(j1 - j0),
                             dropout_scale(w->dropout));
    }
    if (m->nconv) /* on into the convolutions, through the last one's ReLU */
        linear_backward_input_cols(k->gemm, w->gradT[0], w->gradT[1], m->params + m->w_off[0],
                                   w->actT[0], B, j0, j1, m->width[0], m->width[1]);
}

/* Layer l's forward job by rows (job_seconds slot 1 + l). */
static void forward_rows(const mlp *m, mlp_work *w, pool *p, const kernel_impl *k, int l)
{
    layer_ctx c = {m, w, k, l};
    int T = plan_team(w, p);
    plan_begin(w);
    for (int t = 0; t < T; t++) {
        w->first[t] = w->ntasks;
        plan_part(w, T, t, l, m->width[l + 1]);
    }
    plan_end(w, T, p);
    run_job(w, 1 + l, p, w->ntasks, w->first, forward_chunk, &c);
}

/* The column job (job_seconds slot 2). */
static void columns(const mlp *m, mlp_work *w, pool *p, const kernel_impl *k)
{
    layer_ctx c = {m, w, k, 0};
    int T = plan_team(w, p);
    plan_begin(w);
    for (int t = 0; t < T; t++) { /* whole vectors of 16 columns each */
        mlp_task *task = &w->tasks[w->ntasks];
        w->first[t] = w->ntasks;
        pool_chunk(w->B, T, t, 16, &task->r0, &task->r1);
        task->l = 0;
        w->ntasks += task->r1 > task->r0;
    }
    plan_end(w, T, p);
    run_job(w, 2, p, w->ntasks, w->first, columns_chunk, &c);
}

void mlp_forward(const mlp *m, mlp_work *w, pool *p, const kernel_impl *k)
{
    if (m->nconv)
        conv_job(m, w, p, k, 0);
    if (w->training) {
        forward_rows(m, w, p, k, 0);
        columns(m, w, p, k);
        return;
    }
    for (int l = 0; l < m->nlayers; l++)
        forward_rows(m, w, p, k, l);
    int L = m->nlayers;
    /* In place: logits become log-probabilities. */
    logsoftmax_forward(w->actT[L], w->actT[L], w->B, m->width[L]);
}

double mlp_loss(const mlp *m, mlp_work *w)
{
    int L = m->nlayers, B = w->B, K = m->width[L];
    const float *lp = w->actT[L];
    double loss = 0, s = w->smoothing;
    for (int b = 0; b < B; b++) {
        int arg = 0;
        double all = 0;
        for (int k = 1; k < K; k++)
            if (lp[(size_t)k * B + b] > lp[(size_t)arg * B + b])
                arg = k;
        w->correct += arg == w->labels[b];
        if (s > 0) {
            for (int k = 0; k < K; k++)
                all += lp[(size_t)k * B + b];
            loss -= (1 - s) * lp[(size_t)w->labels[b] * B + b] + s * all / K;
        } else {
            loss -= lp[(size_t)w->labels[b] * B + b];
        }
    }
    return loss / B;
}

/* ---- backward: the weight gradients ---- */

typedef struct backward_ctx {
    mlp *m;
    mlp_work *w;
    const kernel_impl *k;
    const mlp_update *u;
} backward_ctx;

/* Rows [r0, r1) of layer l's weight gradient, and their update. */
static void weights_chunk(void *arg, int chunk, int thread)
{
    backward_ctx *c = arg;
    mlp *m = c->m;
    mlp_work *w = c->w;
    const mlp_task *task = &w->tasks[chunk];
    int l = task->l, r0 = task->r0, r1 = task->r1, C = m->width[l];
    const float *x = l == 0 && !m->nconv ? w->in[thread % w->copies] : w->act[l];
    linear_backward_weights(c->k->gemm, w->grads + m->w_off[l], w->grads + m->b_off[l],
                            w->gradT[l + 1], x, w->B, C, m->width[l + 1], r0, r1);
    if (c->u) {
        c->u->fn(c->u->ctx, m->w_off[l] + (size_t)r0 * C, m->w_off[l] + (size_t)r1 * C);
        c->u->fn(c->u->ctx, m->b_off[l] + (size_t)r0, m->b_off[l] + (size_t)r1);
    }
}

/* Every layer's weight gradient in one job (job_seconds slot 1 + L). */
void mlp_backward(mlp *m, mlp_work *w, pool *p, const kernel_impl *k, const mlp_update *u)
{
    int L = m->nlayers, T = plan_team(w, p);
    backward_ctx c = {m, w, k, u};
    if (m->nconv) {
        conv_job(m, w, p, k, 1);
        conv_sum_blocks(m, w);
        if (u)
            u->fn(u->ctx, 0, m->w_off[0]);
    }
    plan_begin(w);
    for (int t = 0; t < T; t++) {
        w->first[t] = w->ntasks;
        for (int l = 0; l < L; l++)
            plan_part(w, T, t, l, m->width[l + 1]);
    }
    plan_end(w, T, p);
    run_job(w, 1 + L, p, w->ntasks, w->first, weights_chunk, &c);
}
