/* bench_kernels.c: single-thread GFLOP/s of each GEMM shape training uses,
 * per kernel implementation, against this core's measured FMA peak.
 * Times are the minimum over repetitions (robust to a busy machine).
 *   build/bench/bench_kernels [impl...]
 *   build/bench/bench_kernels --conv [impl...]   the same for two small
 *       convolutional networks (docs/pictures.md), each convolution a GEMM
 *       over its input's patches
 *   build/bench/bench_kernels --peak N        the FMA peak of N threads
 *   build/bench/bench_kernels --step IMAGES   where a training step's time
 *       goes, job by job, on 1 and 2 threads with the two fastest kernels:
 *       the recipe's steps (batch 64, Adam) on the training images of the
 *       IDX file IMAGES (.gz or raw), in a random order; of 3 epochs of
 *       each, the quickest
 *   build/bench/bench_kernels --step-cnn IMAGES   the same for the
 *       convolutional network (--net cnn), 300 steps a run */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adam.h"
#include "idx.h"
#include "kernels.h"
#include "mlp.h"
#include "pool.h"
#include "rng.h"
#include "clock.h"
#include "conv.h"
#include "peak.h"

static float *buf(size_t n)
{
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.3f;
    return p;
}


/* The recipe's layers. */
enum { L = 4 };

/* Job times per step of STEPS steps of the recipe (after 100 steps of
 * warm-up) with the network of shape sh, on `threads` threads with kernel
 * k: row[j] the job_seconds slot j (mlp.h), row[1 + 2L] the time between
 * jobs, row[2 + 2L] the whole step, in microseconds. */
static int step_breakdown(const idx_set *d, const mlp_shape *sh, int STEPS,
                          const kernel_impl *k, int threads, double *row)
{
    enum { WARM = 100, BS = 64 };
    fm_err e;
    mlp net;
    mlp_work w;
    adam opt;
    pool *p;
    rng r;
    rng_seed(&r, 1);
    if (mlp_create_shape(&net, sh, &e) || pool_create(&p, threads, 1, &e) ||
        mlp_work_create_team(&w, &net, BS, 1, threads, &e) ||
        adam_create(&opt, net.nparams, 0.003, &e)) {
        fprintf(stderr, "bench_kernels: %s\n", e.msg);
        return 1;
    }
    mlp_init_params(&net, &r);
    uint32_t *perm = malloc(sizeof *perm * (size_t)(STEPS + WARM + 1) * BS);
    for (size_t i = 0; i < (size_t)(STEPS + WARM + 1) * BS; i++)
        perm[i] = rng_below(&r, d->n);
    double js[1 + 2 * L] = {0}, total = 0;
    unsigned st = fp_flush_denormals();
    for (int s = 0; s < STEPS + WARM; s++) {
        if (s == WARM) {
            memset(js, 0, sizeof js);
            w.job_seconds = js;
        }
        double t0 = clock_seconds();
        w.next_idx = perm + (size_t)(s + 1) * BS;
        w.next_B = BS;
        mlp_gather(&net, &w, p, k, d->images, d->labels, perm + (size_t)s * BS, BS);
        mlp_forward(&net, &w, p, k);
        mlp_loss(&net, &w);
        adam_stepper as;
        adam_begin(&as, &opt, k->adam, net.params, w.grads, 0.003);
        mlp_update upd = {adam_update_range, &as};
        mlp_backward(&net, &w, p, k, &upd);
        if (s >= WARM)
            total += clock_seconds() - t0;
    }
    fp_restore(st);
    double jobs = 0;
    for (int j = 0; j < 1 + 2 * L; j++) {
        row[j] = js[j] / STEPS * 1e6;
        jobs += js[j];
    }
    row[1 + 2 * L] = (total - jobs) / STEPS * 1e6;
    row[2 + 2 * L] = total / STEPS * 1e6;
    free(perm);
    adam_free(&opt);
    mlp_work_free(&w);
    pool_free(p);
    mlp_free(&net);
    return 0;
}

/* The jobs of a step (mlp.c) as bench rows: their names and job_seconds
 * slots (1 + 2L: between jobs, 2 + 2L: the whole step). */
typedef struct step_rows {
    const mlp_shape *shape;
    int steps, n;
    const char *names[8];
    int slot[8];
} step_rows;

static const step_rows mlp_rows = {
    &mlp_fmnist_mlp, 938, 6,
    {"gather (normalise, transpose)", "layer 1 forward (784 -> 256), by rows",
     "layers 2-4 forward, loss gradient, input gradients, by columns",
     "weight gradients and Adam, all layers, by rows", "between jobs (loss, Adam set-up)",
     "one step"},
    {0, 1, 2, 1 + L, 1 + 2 * L, 2 + 2 * L}};
/* The CNN's two linear layers: L' = 2, so its weight job is slot 3 and the
 * convolutions' jobs 4 and 5. */
static const step_rows cnn_rows = {
    &mlp_fmnist_cnn, 300, 8,
    {"gather (normalise, transpose)",
     "convolutions forward, block by block (patches, GEMMs, pooling)",
     "first linear layer forward (1568 -> 64), by rows",
     "layer 2 forward, loss gradient, input gradients, by columns",
     "convolutions backward, block by block (pooling, patches, GEMMs)",
     "weight gradients and Adam of the linear layers, by rows",
     "between jobs (loss, the blocks' gradients summed, the convolutions' Adam)", "one step"},
    {0, 4, 1, 2, 5, 3, 1 + 2 * L, 2 + 2 * L}};

/* The kernels the tables compare: the two fastest that run here, leaving out
 * the portable ones (generic, ref: 100 times slower, minutes a table) unless
 * nothing faster runs. */
static int fast_kernels(const kernel_impl **ks)
{
    int n = kernel_list(ks, 8), keep = 1;
    while (keep < n && keep < 2 && strcmp(ks[keep]->name, "generic") &&
           strcmp(ks[keep]->name, "ref"))
        keep++;
    return n < keep ? n : keep;
}

/* --step IMAGES / --step-cnn IMAGES: the breakdown as a markdown table,
 * microseconds per step. */
static int step_table(const char *images, const step_rows *sr)
{
    idx_set d;
    fm_err e;
    char labels[4096];
    /* the labels file next to it: train-images-... -> train-labels-... */
    snprintf(labels, sizeof labels, "%s", images);
    char *at = strstr(labels, "images-idx3");
    if (!at) {
        fprintf(stderr, "bench_kernels: %s: not an images-idx3 file name\n", images);
        return 1;
    }
    memcpy(at, "labels-idx1", 11);
    if (idx_load(images, labels, &d, &e)) {
        fprintf(stderr, "bench_kernels: %s\n", e.msg);
        return 1;
    }
    enum { ROWS = 3 + 2 * L, COLS = 4 };
    double t[COLS][ROWS];
    const kernel_impl *ks[8];
    int nk = fast_kernels(ks), col = 0;
    printf("| us per step | ");
    for (int i = 0; i < nk; i++)
        for (int th = 1; th <= 2; th++)
            printf("%s, %d thread%s | ", ks[i]->name, th, th > 1 ? "s" : "");
    printf("\n|---|");
    for (int c = 0; c < 2 * nk; c++)
        printf("---|");
    printf("\n");
    for (int i = 0; i < nk; i++)
        for (int th = 1; th <= 2; th++, col++)
            for (int rep = 0; rep < 3; rep++) { /* the quietest of 3 epochs */
                double run[ROWS];
                if (step_breakdown(&d, sr->shape, sr->steps, ks[i], th, run))
                    return 1;
                if (rep == 0 || run[ROWS - 1] < t[col][ROWS - 1])
                    memcpy(t[col], run, sizeof run);
            }
    for (int j = 0; j < sr->n; j++) {
        printf("| %s |", sr->names[j]);
        for (int c = 0; c < col; c++)
            printf(" %.1f |", t[c][sr->slot[j]]);
        printf("\n");
    }
    idx_free(&d);
    return 0;
}

/* One layer's GEMMs: out (OC, N) = w (OC, C) x (C, N); N is the batch, or
 * for a convolution a block of MLP_CONV_BLOCK samples times the output's
 * positions (x: the image's patches, C = channels x kernel area), which a
 * step runs for each of its blocks. dx: the input gradient is computed too
 * (not for a network's first layer). */
typedef struct layer_shape {
    const char *name;
    int C, OC, N, dx;
    int k, H; /* a convolution's kernel side and (square) image side; 0: linear */
} layer_shape;

/* Blocks of a batch of 64 that a convolution's row runs for in a step. */
static int step_repeats(const layer_shape *l)
{
    return l->k ? 64 / MLP_CONV_BLOCK : 1;
}

/* One GEMM of a layer as a training step runs it (mlp.c): op 0 the
 * forward pass, 1 the weight gradient (a convolution's as its transpose,
 * patches times the transposed output gradient), 2 the input gradient (a
 * convolution's as the turned kernel over the output gradient's patches). */
static void layer_gemm(const kernel_impl *k, const layer_shape *l, int op, float *w, float *b,
                       float *xT, float *x, float *outT, float *dyT, float *dw, float *db,
                       float *dxT)
{
    int C = l->C, OC = l->OC, B = l->N;
    if (op == 0) {
        linear_forward(k->gemm, outT, xT, w, b, B, C, OC, 1, 0, OC);
    } else if (!l->k) {
        if (op == 1)
            linear_backward_weights(k->gemm, dw, db, dyT, x, B, C, OC, 0, OC);
        else
            linear_backward_input(k->gemm, dxT, dyT, w, xT, B, C, OC, 0, C);
    } else if (op == 1) {
        gemm_op g = {.M = C, .N = OC, .K = B, .a = xT, .a_rs = B, .a_ks = 1, .b = x, .ldb = OC,
                     .c = dw, .ldc = OC};
        k->gemm(&g, 0, C);
    } else {
        int cin = C / (l->k * l->k), Q = OC * l->k * l->k;
        gemm_op g = {.M = cin, .N = B, .K = Q, .a = w, .a_rs = Q, .a_ks = 1, .b = dxT, .ldb = B,
                     .c = outT, .ldc = B, .mask = xT, .ldm = B};
        k->gemm(&g, 0, cin);
    }
}

/* The GFLOP/s of each GEMM of one training step of the network made of
 * these layers, per kernel, and of the whole step. */
static void gemm_table(const kernel_impl *const *ks, int nk, const layer_shape *ls, int nl)
{
    printf("%-8s %-34s %10s %10s\n", "kernel", "shape", "us", "GFLOP/s");
    for (int k = 0; k < nk; k++) {
        double total_flop = 0, total_s = 0;
        for (int l = 0; l < nl; l++) {
            int C = ls[l].C, OC = ls[l].OC, B = ls[l].N, kk = ls[l].k * ls[l].k;
            size_t big = (size_t)(C > OC * kk ? C : OC * kk) * B;
            float *w = buf((size_t)OC * C), *b = buf((size_t)OC), *xT = buf(big);
            float *x = buf(big), *outT = buf(big), *dyT = buf((size_t)OC * B);
            float *dw = buf((size_t)OC * C), *db = buf((size_t)OC), *dxT = buf(big);
            for (int op = 0; op < 3; op++) {
                if (op == 2 && !ls[l].dx)
                    continue;
                double flop = 2.0 * B * C * OC, best = 1e9;
                int reps = (int)(2e8 / flop) + 3;
                for (int r = 0; r < reps; r++) {
                    double t0 = clock_seconds();
                    layer_gemm(ks[k], &ls[l], op, w, b, xT, x, outT, dyT, dw, db, dxT);
                    double t = clock_seconds() - t0;
                    best = t < best ? t : best;
                }
                static const char *names[] = {"forward", "weight grad", "input grad"};
                char shape[80];
                snprintf(shape, sizeof shape, "%s%s%s %dx%d", ls[l].name, *ls[l].name ? " " : "",
                         names[op], OC, C);
                printf("%-8s %-34s %10.2f %10.1f\n", ks[k]->name, shape, best * 1e6,
                       flop / best * 1e-9);
                total_flop += flop * step_repeats(&ls[l]);
                total_s += best * step_repeats(&ls[l]);
            }
            free(w), free(b), free(xT), free(x), free(outT), free(dyT), free(dw), free(db),
                free(dxT);
        }
        printf("%-8s %-34s %10.2f %10.1f\n", ks[k]->name, "one step, all GEMMs", total_s * 1e6,
               total_flop / total_s * 1e-9);
    }
}

/* fmnist's network, batch 64. */
static const layer_shape mlp_layers[] = {
    {"", 784, 256, 64, 0, 0, 0}, {"", 256, 128, 64, 1, 0, 0}, {"", 128, 64, 64, 1, 0, 0},
    {"", 64, 10, 64, 1, 0, 0}};
/* --conv: two small convolutional networks (docs/pictures.md; the 3x3 one
 * is --net cnn), batch 64, each convolution a GEMM over its input's
 * patches (same padding) with 2x2 max pooling after it (timed by
 * conv_moves_table), shaped as a block of MLP_CONV_BLOCK samples. */
#define BLK MLP_CONV_BLOCK
static const layer_shape conv3_layers[] = {{"conv 3x3", 9, 16, 28 * 28 * BLK, 0, 3, 28},
                                           {"conv 3x3", 16 * 9, 32, 14 * 14 * BLK, 1, 3, 14},
                                           {"linear", 32 * 49, 64, 64, 1, 0, 0},
                                           {"linear", 64, 10, 64, 1, 0, 0}};
static const layer_shape conv5_layers[] = {{"conv 5x5", 25, 16, 28 * 28 * BLK, 0, 5, 28},
                                           {"conv 5x5", 16 * 25, 32, 14 * 14 * BLK, 1, 5, 14},
                                           {"linear", 32 * 49, 64, 64, 1, 0, 0},
                                           {"linear", 64, 10, 64, 1, 0, 0}};

/* The time of fn(k, l, a, b, arg, which) at its quickest of 20 runs. */
static double quickest(void (*fn)(const kernel_impl *, const layer_shape *, float *, float *,
                                  uint8_t *, int),
                       const kernel_impl *k, const layer_shape *l, float *a, float *b,
                       uint8_t *arg, int which)
{
    double best = 1e9;
    for (int r = 0; r < 20; r++) {
        double t0 = clock_seconds();
        fn(k, l, a, b, arg, which);
        double t = clock_seconds() - t0;
        best = t < best ? t : best;
    }
    return best;
}

/* One of a convolution's data movements (conv.h), for the whole batch. */
static void conv_move(const kernel_impl *k, const layer_shape *l, float *a, float *b, uint8_t *arg,
                      int which)
{
    int kk = l->k * l->k, H = l->H, B = l->N / (H * H);
    if (which == 0)
        conv_patches(a, b, H, H, l->k, B, 0, l->C);
    else if (which == 1)
        k->transpose(b, l->OC, a, l->N, l->OC, l->N);
    else if (which == 2)
        conv_patches(a, b, H, H, l->k, B, 0, l->OC * kk);
    else if (which == 3) /* the pooling kernels training runs, not conv.h's reference */
        k->pool_forward(a, arg, b, H, H, B, 0, l->OC);
    else
        k->pool_backward(b, a, arg, H, H, B, 0, l->OC);
}

/* What a training step of these layers spends moving data around the
 * GEMMs, for each block: the patches (made again for the weight gradient),
 * the output gradient transposed for it, the output gradient's patches for
 * the input gradient, and the pooling after each convolution, both ways. */
static void conv_moves_table(const kernel_impl *k, const layer_shape *ls, int nl)
{
    static const char *names[] = {"patches", "output gradient transposed",
                                  "output gradient's patches", "max pool", "max pool gradient"};
    double total = 0;
    for (int l = 0; l < nl; l++) {
        if (!ls[l].k)
            continue;
        size_t n = ((size_t)ls[l].C + (size_t)ls[l].OC * ls[l].k * ls[l].k) * ls[l].N;
        float *a = buf(n), *b = buf(n);
        uint8_t *arg = calloc((size_t)ls[l].OC * ls[l].N, 1);
        for (int which = 0; which < 5; which++) {
            if (which == 2 && !ls[l].dx)
                continue;
            double t = quickest(conv_move, k, &ls[l], a, b, arg, which);
            char shape[80];
            snprintf(shape, sizeof shape, "%s %s", ls[l].name, names[which]);
            printf("%-8s %-34s %10.2f\n", k->name, shape, t * 1e6);
            total += t * (which == 0 ? 2 : 1) * step_repeats(&ls[l]);
        }
        free(a), free(b), free(arg);
    }
    printf("%-8s %-34s %10.2f\n", k->name, "one step, all data movement", total * 1e6);
}

/* Adam with and without flush-to-zero, half its moments subnormal. */
static void adam_subnormals(void)
{
    /* The subnormal trap: Adam's first moments of parameters whose gradient
     * is zero (pixels that are 0 across a batch) decay geometrically into
     * subnormal numbers; without flush-to-zero every operation on them takes
     * a slow path. Half the moments subnormal, their gradients zero. */
    const kernel_impl *k = kernel_find(NULL);
    size_t n = 242762;
    float *p = buf(n), *g = buf(n), *m = buf(n), *v = buf(n);
    for (size_t i = 0; i < n; i += 2) {
        g[i] = 0;
        m[i] = 1e-39f;
        v[i] = 1e-39f;
    }
    adam_coef c = {0.9f, 0.1f, 0.999f, 0.001f, 1e-8f, -0.003f, 0.03f, 1.0f, NULL, 1, 0};
    double best[2] = {1e9, 1e9};
    for (int ftz = 0; ftz < 2; ftz++)
        for (int r = 0; r < 50; r++) {
            unsigned s2 = ftz ? fp_flush_denormals() : 0;
            double t0 = clock_seconds();
            k->adam(&c, p, g, m, v, 0, n);
            double t = clock_seconds() - t0;
            if (ftz)
                fp_restore(s2);
            best[ftz] = t < best[ftz] ? t : best[ftz];
            for (size_t i = 0; i < n; i += 2) { /* keep them subnormal */
                m[i] = 1e-39f;
                v[i] = 1e-39f;
            }
        }
    printf("%-8s %-22s %10.2f us without flush-to-zero, %.2f us with (%.1fx)\n", k->name,
           "Adam step, 242762", best[0] * 1e6, best[1] * 1e6, best[0] / best[1]);
    free(p), free(g), free(m), free(v);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--peak")) {
        /* --peak N: the FMA peak of N threads at once, AVX2 and AVX-512. */
        int n = atoi(argv[2]);
        printf("%.1f %.1f\n", peak_gflops_threads(n, 0, 0.5), peak_gflops_threads(n, 1, 0.5));
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "--step"))
        return step_table(argv[2], &mlp_rows);
    if (argc == 3 && !strcmp(argv[1], "--step-cnn"))
        return step_table(argv[2], &cnn_rows);
    const kernel_impl *ks[8];
    int nk = 0, conv = argc > 1 && !strcmp(argv[1], "--conv");
    if (conv) {
        argv++;
        argc--;
    }
    if (argc > 1) {
        for (int i = 1; i < argc && nk < 8; i++)
            if ((ks[nk] = kernel_find(argv[i])))
                nk++;
    } else {
        nk = fast_kernels(ks);
    }
    if (nk == 0) {
        fprintf(stderr, "bench_kernels: no kernel of that name runs here\n");
        return 2;
    }
    unsigned st = fp_flush_denormals();
    printf("FMA peak, one core: %.1f GFLOP/s (AVX2), %.1f GFLOP/s (AVX-512)\n",
           peak_gflops_avx2(0.2), peak_gflops_avx512(0.2));
    if (conv) {
        printf("the 3x3 network (--net cnn: 1-16-32 channels, 64 hidden); a convolution's rows are\n"
               "for one block of %d samples, the step's totals for the batch of 64's %d\n",
               MLP_CONV_BLOCK, 64 / MLP_CONV_BLOCK);
        gemm_table(ks, nk, conv3_layers, 4);
        conv_moves_table(ks[0], conv3_layers, 4);
        printf("the 5x5 network (1-16-32 channels, 64 hidden)\n");
        gemm_table(ks, nk, conv5_layers, 4);
        conv_moves_table(ks[0], conv5_layers, 4);
    } else {
        gemm_table(ks, nk, mlp_layers, 4);
    }
    fp_restore(st);
    if (!conv)
        adam_subnormals();
    return 0;
}
