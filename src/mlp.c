/* mlp.c: parameters, workspace and the forward/backward chain. */
#include "mlp.h"
#include "clock.h"
#include "mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


const int mlp_fmnist_widths[5] = {784, 256, 128, 64, 10};

int mlp_layout(mlp *m, int nlayers, const int *width, fm_err *e)
{
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

int mlp_create(mlp *m, int nlayers, const int *width, fm_err *e)
{
    mlp t;
    int rc = mlp_layout(&t, nlayers, width, e);
    if (rc)
        return rc;
    t.params = mem_zalloc(t.nparams * sizeof(float));
    if (!t.params)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for %zu parameters", t.nparams);
    *m = t;
    return FM_OK;
}

void mlp_free(mlp *m)
{
    if (!m)
        return;
    free(m->params);
    m->params = NULL;
    m->nparams = 0;
}

int mlp_same_shape(const mlp *a, const mlp *b)
{
    if (a->nlayers != b->nlayers)
        return 0;
    for (int l = 0; l <= a->nlayers; l++)
        if (a->width[l] != b->width[l])
            return 0;
    return 1;
}

void mlp_shape_text(const mlp *m, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (int l = 0; l <= m->nlayers && n < cap; l++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", l ? "-" : "", m->width[l]);
}

void mlp_init_params(mlp *m, rng *r)
{
    /* nn.Linear.reset_parameters: kaiming_uniform_(w, a=sqrt(5)) gives a
     * bound of gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + 5)), that
     * is 1 / sqrt(fan_in); the bias uses the same bound. */
    for (int l = 0; l < m->nlayers; l++) {
        float bound = (float)(1.0 / sqrt((double)m->width[l]));
        size_t nw = (size_t)m->width[l + 1] * (size_t)m->width[l];
        float *w = m->params + m->w_off[l], *b = m->params + m->b_off[l];
        for (size_t i = 0; i < nw; i++)
            w[i] = (2.0f * rng_uniform(r) - 1.0f) * bound;
        for (int i = 0; i < m->width[l + 1]; i++)
            b[i] = (2.0f * rng_uniform(r) - 1.0f) * bound;
    }
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

int mlp_work_create_team(mlp_work *w, const mlp *m, int max_batch, int training, int threads,
                         fm_err *e)
{
    if (max_batch < 1 || max_batch > (1 << 20))
        return fm_fail(e, FM_EINVAL, NULL, "batch size %d: 1..%d supported", max_batch, 1 << 20);
    mlp_work t;
    memset(&t, 0, sizeof t);
    t.max_batch = max_batch;
    t.training = training;
    t.copies = !training || threads < 1 ? 1 : threads > MLP_MAX_COPIES ? MLP_MAX_COPIES : threads;
    size_t sum = 0;
    for (int l = 0; l <= m->nlayers; l++)
        sum += (size_t)m->width[l];
    /* actT, act[0], and the other copies of the input */
    size_t n = (sum + (size_t)m->width[0]) * (size_t)max_batch +
               (size_t)(t.copies - 1) * 2 * ((size_t)m->width[0] * max_batch + 16);
    if (training)
        n += 2 * sum * (size_t)max_batch + m->nparams;           /* act, gradT, grads */
    /* One block, each array 64-byte aligned. */
    size_t slots = 3 * (size_t)(m->nlayers + 1) + 1 + 2 * (size_t)t.copies;
    t.team = threads < 1 ? 1 : threads;
    t.block = mem_alloc((n + slots * 16) * sizeof(float));
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
    float *p = t.block;
#define TAKE(count) (p += ((count) + 15) / 16 * 16, p - ((count) + 15) / 16 * 16)
    for (int l = 0; l <= m->nlayers; l++)
        t.actT[l] = TAKE((size_t)m->width[l] * max_batch);
    t.act[0] = TAKE((size_t)m->width[0] * max_batch);
    t.inT[0] = t.actT[0];
    t.in[0] = t.act[0];
    for (int c = 1; c < t.copies; c++) {
        t.inT[c] = TAKE((size_t)m->width[0] * max_batch);
        t.in[c] = TAKE((size_t)m->width[0] * max_batch);
    }
    if (training) {
        for (int l = 1; l < m->nlayers; l++)
            t.act[l] = TAKE((size_t)m->width[l] * max_batch);
        for (int l = 1; l <= m->nlayers; l++)
            t.gradT[l] = TAKE((size_t)m->width[l] * max_batch);
        t.grads = TAKE(m->nparams);
    }
#undef TAKE
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

/* Runs one job, timed into w->job_seconds[slot] when that is set. */
static void run_job(mlp_work *w, int slot, pool *p, int n, const int *first, pool_fn fn, void *ctx)
{
    double t0 = w->job_seconds ? clock_seconds() : 0;
    pool_run_ranges(p, n, first, fn, ctx);
    if (w->job_seconds)
        w->job_seconds[slot] += clock_seconds() - t0;
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
 * into in[c], then transposed into inT[c]. */
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
    gather_ctx g = {w, k, images, idx, B, m->width[0]};
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
    const float *xT = l == 0 ? w->inT[thread % w->copies] : w->actT[l];
    linear_forward(c->k->gemm, outT, xT, m->params + m->w_off[l],
                   m->params + m->b_off[l], B, C, OC, !last, r0, r1);
    if (w->training && !last && w->dropout > 0)
        dropout_out(w, c->k, l, r0, r1, 0, B);
    if (w->training && !last) /* the batch-major copy the next weight gradient reads */
        c->k->transpose(w->act[l + 1] + r0, OC, outT + (size_t)r0 * B, B, r1 - r0, B);
}

/* ---- a training step: four jobs ----
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
 * forward pass alone, a job per layer by rows. */

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
    const float *x = l == 0 ? w->in[thread % w->copies] : w->act[l];
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
    plan_begin(w);
    for (int t = 0; t < T; t++) {
        w->first[t] = w->ntasks;
        for (int l = 0; l < L; l++)
            plan_part(w, T, t, l, m->width[l + 1]);
    }
    plan_end(w, T, p);
    run_job(w, 1 + L, p, w->ntasks, w->first, weights_chunk, &c);
}
