/* libm_scan: every libm result that training depends on, over every input
 * training can give it, summarised as hashes to compare between machines
 * (tools/cross_arm64.sh runs it on x86-64 and under qemu-aarch64).
 *
 *   libm_scan hash             one line per block of 2^20 inputs (name, first
 *                              input's bits, FNV-1a hash of the results)
 *   libm_scan values F LO HI   each input bits in [LO, HI] of F (expf,
 *                              kernel_expf, logf) with its result
 *
 * The domains, from src/kernels.c, adam.c and train.c:
 * - expf (libm's, for comparison) and kernel_expf (what training calls) of
 *   x - max <= 0 and of a log-probability: every float with the sign bit set.
 * - logf of a sum of K = 10 exponentials each in [0, 1], one of them exactly
 *   1: every float in [1, 16).
 * - pow in Adam's bias corrections, through what reaches the float update:
 *   bc1 = 1 - 0.9^t in double (neg_step_size = (float)(-lr / bc1) is then the
 *   same for every lr) and bc2_sqrt, for t = 1..10^6.
 * - cos in the cosine schedule, through the float step size and decay of
 *   every step of --preset best on the full set (860 steps per epoch, 40
 *   epochs) and of 1..50 epochs of 938 steps. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adam.h"
#include "kernels.h"
#include "train.h"

#define BLOCK (1u << 20)
#define FNV0 UINT64_C(0xcbf29ce484222325)

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

static uint32_t fbits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float bitsf(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The function called name, or NULL. */
static float (*fn_named(const char *name))(float)
{
    if (strcmp(name, "expf") == 0)
        return expf;
    if (strcmp(name, "kernel_expf") == 0)
        return kernel_expf;
    if (strcmp(name, "logf") == 0)
        return logf;
    return NULL;
}

static void hash_range(const char *name, uint32_t lo, uint32_t hi)
{
    float (*f)(float) = fn_named(name);
    uint64_t h = FNV0;
    uint32_t first = lo;
    for (uint32_t u = lo;; u++) {
        uint32_t r = fbits(f(bitsf(u)));
        h = fnv(h, &r, sizeof r);
        if (u == hi || (u - lo + 1) % BLOCK == 0) {
            printf("%s 0x%08" PRIx32 " %016" PRIx64 "\n", name, first, h);
            h = FNV0;
            first = u + 1;
        }
        if (u == hi)
            break;
    }
}

static uint64_t hash_coef(uint64_t h, const adam_coef *c)
{
    h = fnv(h, &c->neg_step_size, sizeof c->neg_step_size);
    h = fnv(h, &c->bc2_sqrt, sizeof c->bc2_sqrt);
    return fnv(h, &c->decay, sizeof c->decay);
}

static void hash_adam(void)
{
    adam a = {.lr = 0.003, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    uint64_t h = FNV0;
    for (long t = 1; t <= 1000000; t++) {
        double bc1 = 1.0 - pow(a.beta1, (double)t); /* as adam_coefficients */
        h = fnv(h, &bc1, sizeof bc1);
        adam_coef c = adam_coefficients(&a, t, a.lr);
        h = hash_coef(h, &c);
    }
    printf("adam %016" PRIx64 "\n", h);

    /* The cosine schedule, with AdamW's decay. */
    h = FNV0;
    train_config tc = train_defaults();
    tc.schedule = SCHEDULE_COSINE;
    tc.lr = 0.001;
    a.weight_decay = 0.05;
    struct { int epochs, spe; } runs[51] = {{40, 860}};
    for (int e = 1; e <= 50; e++) {
        runs[e].epochs = e;
        runs[e].spe = 938;
    }
    for (int k = 0; k < 51; k++) {
        tc.epochs = runs[k].epochs;
        long steps = (long)runs[k].epochs * runs[k].spe;
        for (long t = 0; t < steps; t++) {
            adam_coef c = adam_coefficients(&a, t + 1, train_lr(&tc, t, runs[k].spe));
            h = hash_coef(h, &c);
        }
    }
    printf("cosine %016" PRIx64 "\n", h);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "hash") == 0) {
        hash_range("expf", 0x80000000u, 0xffffffffu);
        hash_range("kernel_expf", 0x80000000u, 0xffffffffu);
        hash_range("logf", fbits(1.0f), fbits(16.0f) - 1);
        hash_adam();
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "values") == 0 && fn_named(argv[2])) {
        float (*f)(float) = fn_named(argv[2]);
        uint32_t lo = (uint32_t)strtoul(argv[3], NULL, 0), hi = (uint32_t)strtoul(argv[4], NULL, 0);
        for (uint32_t u = lo;; u++) {
            float x = bitsf(u), y = f(x);
            printf("0x%08" PRIx32 " %a -> 0x%08" PRIx32 " %a\n", u, (double)x, fbits(y), (double)y);
            if (u == hi)
                break;
        }
        return 0;
    }
    fprintf(stderr, "usage: libm_scan hash | libm_scan values expf|kernel_expf|logf LO HI\n");
    return 2;
}
