// bench/rivals/train_openblas.c: a copy of the team's reference trainer (../shared/reference),
// raced by `make bench BENCH_RIVALS=1`; changed only to read the data from $FMNIST_DATA.
//
// Reference end-to-end trainer (validation of the "practical floor"): C + OpenBLAS sgemm.
// 784-256-128-64-10 MLP, ReLU, log-softmax + NLL (mean), Adam(lr=1e-3, 0.9, 0.999, 1e-8),
// torch-style init U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b, batch 64 (938 steps/epoch,
// last batch 32), shuffled every epoch, 5 epochs, then eval on the 10k test images.
// Inputs: x = pixel/255 (no mean/std normalisation; irrelevant for speed).
// Build: gcc -O3 -march=native -fno-math-errno -fopenmp train_openblas.c -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas -lz -lm -o train_openblas
// Run:   [FTZ=1] LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp ./train_openblas NTHREADS [EPOCHS]
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <xmmintrin.h>

static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static unsigned char *load_gz(const char *name, size_t *n) {
    char path[4096];
    const char *dir = getenv("FMNIST_DATA") ? getenv("FMNIST_DATA") : "/usr/share/datasets/fashion-mnist";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t cap = 64u << 20;
    unsigned char *b = malloc(cap);
    gzFile f = gzopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    gzbuffer(f, 1 << 20);
    size_t k = 0; int r;
    while ((r = gzread(f, b + k, (unsigned)(cap - k))) > 0) k += r;
    gzclose(f);
    *n = k;
    return b;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 11); }
static float frand(void) { return (rnd() & 0xFFFFFF) / 16777216.0f; }

#define L 4
static const int D[L + 1] = {784, 256, 128, 64, 10};
#define BMAX 1000

int main(int argc, char **argv) {
    int nt = argc > 1 ? atoi(argv[1]) : 1;
    int epochs = argc > 2 ? atoi(argv[2]) : 5;
    const int B = 64;
    int ftz = getenv("FTZ") && atoi(getenv("FTZ"));   // FTZ=1: flush denormals to zero (MXCSR FTZ|DAZ)
    openblas_set_num_threads(nt);
    omp_set_num_threads(nt);
    if (ftz) {
#pragma omp parallel
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
    printf("OpenBLAS %s | threads %d | FTZ/DAZ %d\n", openblas_get_config(), nt, ftz);

    double t0 = now();
    size_t n;
    unsigned char *tri = load_gz("train-images-idx3-ubyte.gz", &n);
    unsigned char *trl = load_gz("train-labels-idx1-ubyte.gz", &n);
    unsigned char *tei = load_gz("t10k-images-idx3-ubyte.gz", &n);
    unsigned char *tel = load_gz("t10k-labels-idx1-ubyte.gz", &n);
    const unsigned char *Xtr = tri + 16, *Ytr = trl + 8, *Xte = tei + 16, *Yte = tel + 8;
    const int NTR = 60000, NTE = 10000;
    double t_load = now() - t0;

    // parameters in one contiguous buffer: W_l [in x out] then b_l [out]
    int np = 0, woff[L], boff[L];
    for (int l = 0; l < L; l++) { woff[l] = np; np += D[l] * D[l + 1]; boff[l] = np; np += D[l + 1]; }
    float *P = aligned_alloc(64, np * 4 + 64), *G = aligned_alloc(64, np * 4 + 64);
    float *M1 = calloc(np, 4), *M2 = calloc(np, 4);
    for (int l = 0; l < L; l++) {
        float bound = 1.0f / sqrtf((float)D[l]);
        for (int i = 0; i < D[l] * D[l + 1]; i++) P[woff[l] + i] = (2 * frand() - 1) * bound;
        for (int i = 0; i < D[l + 1]; i++) P[boff[l] + i] = (2 * frand() - 1) * bound;
    }
    // activations: H[0]=input, H[l]=post-ReLU output of layer l (H[4]=logits), dZ scratch
    float *H[L + 1], *dZ[2];
    for (int l = 0; l <= L; l++) H[l] = aligned_alloc(64, (size_t)BMAX * D[l] * 4);
    dZ[0] = aligned_alloc(64, (size_t)BMAX * 256 * 4); dZ[1] = aligned_alloc(64, (size_t)BMAX * 256 * 4);
    int *perm = malloc(NTR * sizeof(int));
    for (int i = 0; i < NTR; i++) perm[i] = i;

    double t_gemm = 0, t_adam = 0, t_train = 0;
    int step = 0;
    for (int ep = 0; ep < epochs; ep++) {
        double te0 = now();
        for (int i = NTR - 1; i > 0; i--) { int j = rnd() % (i + 1); int t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
        double loss_sum = 0; int correct = 0;
        for (int s = 0; s < NTR; s += B) {
            int bs = NTR - s < B ? NTR - s : B;
            // gather + convert batch
            for (int r = 0; r < bs; r++) {
                const unsigned char *src = Xtr + (size_t)perm[s + r] * 784;
                float *dst = H[0] + r * 784;
                for (int k = 0; k < 784; k++) dst[k] = src[k] * (1.0f / 255.0f);
            }
            // forward
            for (int l = 0; l < L; l++) {
                int in = D[l], out = D[l + 1];
                double g0 = now();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bs, out, in, 1.0f, H[l], in, P + woff[l], out,
                            0.0f, H[l + 1], out);
                t_gemm += now() - g0;
                const float *bb = P + boff[l];
                float *h = H[l + 1];
                if (l < L - 1)
                    for (int r = 0; r < bs; r++) for (int j = 0; j < out; j++) { float v = h[r * out + j] + bb[j]; h[r * out + j] = v > 0 ? v : 0; }
                else
                    for (int r = 0; r < bs; r++) for (int j = 0; j < out; j++) h[r * out + j] += bb[j];
            }
            // log-softmax + NLL; dlogits = (softmax - onehot)/bs  -> dZ[0] (bs x 10)
            for (int r = 0; r < bs; r++) {
                float *z = H[L] + r * 10, mx = z[0]; int am = 0;
                for (int j = 1; j < 10; j++) if (z[j] > mx) { mx = z[j]; am = j; }
                float se = 0; for (int j = 0; j < 10; j++) se += expf(z[j] - mx);
                int y = Ytr[perm[s + r]];
                loss_sum += -(z[y] - mx - logf(se)); correct += (am == y);
                float inv = 1.0f / se;
                for (int j = 0; j < 10; j++) dZ[0][r * 10 + j] = (expf(z[j] - mx) * inv - (j == y)) / bs;
            }
            // backward
            int cur = 0;
            for (int l = L - 1; l >= 0; l--) {
                int in = D[l], out = D[l + 1];
                float *dz = dZ[cur];
                double g0 = now();
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, bs, 1.0f, H[l], in, dz, out, 0.0f,
                            G + woff[l], out);                                   // dW = H^T dZ
                t_gemm += now() - g0;
                float *db = G + boff[l];
                for (int j = 0; j < out; j++) db[j] = 0;
                for (int r = 0; r < bs; r++) for (int j = 0; j < out; j++) db[j] += dz[r * out + j];
                if (l > 0) {
                    float *dh = dZ[cur ^ 1];
                    g0 = now();
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bs, in, out, 1.0f, dz, out, P + woff[l], out,
                                0.0f, dh, in);                                   // dH = dZ W^T
                    t_gemm += now() - g0;
                    const float *h = H[l];
                    for (int i = 0; i < bs * in; i++) dh[i] = h[i] > 0 ? dh[i] : 0;   // ReLU'
                    cur ^= 1;
                }
            }
            // Adam
            double a0 = now();
            step++;
            {
                const float b1 = 0.9f, b2 = 0.999f, lr = 1e-3f, eps = 1e-8f;
                const float st = lr / (1.0f - powf(b1, step)), isq = 1.0f / sqrtf(1.0f - powf(b2, step));
#pragma omp parallel for simd schedule(static)
                for (int i = 0; i < np; i++) {
                    float g = G[i];
                    float m = b1 * M1[i] + (1.0f - b1) * g, v = b2 * M2[i] + (1.0f - b2) * g * g;
                    M1[i] = m; M2[i] = v;
                    P[i] -= st * m / (sqrtf(v) * isq + eps);
                }
            }
            t_adam += now() - a0;
        }
        double te = now() - te0;
        t_train += te;
        int sub_m = 0, sub_v = 0;   // subnormal Adam moments (untimed diagnostic)
        for (int i = 0; i < np; i++) { sub_m += fpclassify(M1[i]) == FP_SUBNORMAL; sub_v += fpclassify(M2[i]) == FP_SUBNORMAL; }
        printf("epoch %d: %.3f s  train loss %.4f  train acc %.4f  (subnormal Adam m: %d, v: %d)\n", ep + 1, te,
               loss_sum / NTR, (double)correct / NTR, sub_m, sub_v);
    }
    // eval, batch 1000
    double tv0 = now();
    int correct = 0;
    for (int s = 0; s < NTE; s += BMAX) {
        int bs = BMAX;
        for (int r = 0; r < bs; r++) for (int k = 0; k < 784; k++) H[0][r * 784 + k] = Xte[(size_t)(s + r) * 784 + k] * (1.0f / 255.0f);
        for (int l = 0; l < L; l++) {
            int in = D[l], out = D[l + 1];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bs, out, in, 1.0f, H[l], in, P + woff[l], out, 0.0f,
                        H[l + 1], out);
            const float *bb = P + boff[l]; float *h = H[l + 1];
            for (int r = 0; r < bs; r++) for (int j = 0; j < out; j++) { float v = h[r * out + j] + bb[j]; h[r * out + j] = (l < L - 1 && v < 0) ? 0 : v; }
        }
        for (int r = 0; r < bs; r++) {
            int am = 0; for (int j = 1; j < 10; j++) if (H[L][r * 10 + j] > H[L][r * 10 + am]) am = j;
            correct += (am == Yte[s + r]);
        }
    }
    double t_eval = now() - tv0;
    printf("test acc %.4f\n", (double)correct / NTE);
    printf("TIMES threads=%d: load+gunzip %.3f s | train %.3f s (%d epochs; GEMM %.3f s, Adam %.3f s, other %.3f s) | eval %.4f s | total %.3f s\n",
           nt, t_load, t_train, epochs, t_gemm, t_adam, t_train - t_gemm - t_adam, t_eval, t_load + t_train + t_eval);
    return 0;
}
