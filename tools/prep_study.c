/* prep_study.c: how close image_prepare brings picture-like variants of the
 * test images to the originals, and what the paper's sharpening step does,
 * over the whole test set, in memory (no PNG files; see
 * tools/measure_variants.py for the end-to-end measure through classify).
 *
 *   make && cc -O2 -std=c11 -Iinclude tools/prep_study.c build/libfmnist.a \
 *       $(pkg-config --libs libpng zlib) -lm -pthread -o build/prep_study
 *   ./fmnist train --epochs 5 --model /tmp/full.model
 *   build/prep_study /tmp/full.model [N=10000] [DATA_DIR]
 *
 * For each variant and sharpening amount (image_prep_opts.sharpen 0, 0.5,
 * 1) it prints the model's accuracy on the prepared images, the mean
 * absolute difference from the original in gray levels, and how many came
 * back bit-exact. Single-threaded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "idx.h"
#include "image.h"
#include "model_file.h"

enum { V_EXPORT, V_NEGATED, V_NEAREST10, V_SMOOTH10, V_SMOOTH10_NOISE, V_ALPHA_DARK,
       V_ALPHA_LIGHT, V_ALPHA_LIGHT_NO, V_OFFCENTRE, V_COUNT };
static const char *const vnames[V_COUNT] = {
    "28x28 export",          "28x28 negated",          "10x nearest, dark on white",
    "10x bilinear, dark on white", "10x bilinear, gray 230 + noise", "transparent, dark item",
    "transparent, light item",  "transparent, light, --invert no",
    "3x off-centre on 300x200 white",
};

static uint32_t lcg = 1;
static int noise(int amp)
{
    lcg = lcg * 1103515245u + 12345u;
    return (int)((lcg >> 8) % (unsigned)(2 * amp + 1)) - amp;
}

static uint8_t clamp8(float v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
}

/* Bilinear sample of the 28x28 item at (sx, sy) in source pixel units. */
static float bilinear(const uint8_t *a, float sx, float sy)
{
    sx = sx < 0 ? 0 : sx > 27 ? 27 : sx;
    sy = sy < 0 ? 0 : sy > 27 ? 27 : sy;
    int x0 = (int)sx, y0 = (int)sy, x1 = x0 < 27 ? x0 + 1 : 27, y1 = y0 < 27 ? y0 + 1 : 27;
    float fx = sx - (float)x0, fy = sy - (float)y0;
    return (1 - fy) * ((1 - fx) * a[y0 * 28 + x0] + fx * a[y0 * 28 + x1]) +
           fy * ((1 - fx) * a[y1 * 28 + x0] + fx * a[y1 * 28 + x1]);
}

static void make_variant(int v, const uint8_t *a, image *im)
{
    int W = 28, H = 28, k = 1;
    if (v == V_NEAREST10 || v == V_SMOOTH10 || v == V_SMOOTH10_NOISE)
        W = H = 280, k = 10;
    if (v == V_OFFCENTRE)
        W = 300, H = 200, k = 3;
    im->w = W;
    im->h = H;
    im->rgba = malloc((size_t)W * H * 4);
    if (!im->rgba) {
        fprintf(stderr, "prep_study: out of memory\n");
        exit(1);
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = im->rgba + 4 * ((size_t)y * W + x);
            float g = 0;
            int alpha = 255;
            switch (v) {
            case V_EXPORT: g = a[y * 28 + x]; break;
            case V_NEGATED: g = 255 - a[y * 28 + x]; break;
            case V_NEAREST10: g = 255 - a[(y / k) * 28 + x / k]; break;
            case V_SMOOTH10:
                g = 255 - bilinear(a, (x + 0.5f) / k - 0.5f, (y + 0.5f) / k - 0.5f);
                break;
            case V_SMOOTH10_NOISE:
                g = 230 - bilinear(a, (x + 0.5f) / k - 0.5f, (y + 0.5f) / k - 0.5f) * 230 / 255 +
                    (float)noise(5);
                break;
            case V_ALPHA_DARK:
            case V_ALPHA_LIGHT:
            case V_ALPHA_LIGHT_NO:
                g = v == V_ALPHA_DARK ? 255 - a[y * 28 + x] : a[y * 28 + x];
                alpha = a[y * 28 + x] ? 255 : 0;
                break;
            case V_OFFCENTRE: {
                int ix = (x - 17) / k, iy = (y - 90) / k;
                int in = x >= 17 && y >= 90 && ix < 28 && iy < 28;
                g = 255 - (in ? a[iy * 28 + ix] : 0);
                break;
            }
            }
            p[0] = p[1] = p[2] = clamp8(g);
            p[3] = (uint8_t)alpha;
        }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: prep_study MODEL [N=10000] [DATA_DIR]\n");
        return 2;
    }
    fm_err e;
    mlp net;
    char *meta;
    if (model_load(argv[1], &net, &meta, NULL, &e)) {
        fprintf(stderr, "prep_study: %s: %s\n", e.file, e.msg);
        return 1;
    }
    free(meta);
    char img_path[4096], lab_path[4096];
    const char *dir = argc > 3 ? argv[3] : NULL;
    if (idx_locate(dir, getenv("FMNIST_DATA"), getenv("HOME"), IDX_TEST, img_path, lab_path,
                   sizeof img_path, &e)) {
        fprintf(stderr, "prep_study: %s\n", e.msg);
        return 1;
    }
    idx_set test;
    if (idx_load(img_path, lab_path, &test, &e)) {
        fprintf(stderr, "prep_study: %s: %s\n", e.file, e.msg);
        return 1;
    }
    uint32_t n = argc > 2 ? (uint32_t)atol(argv[2]) : test.n;
    if (n == 0 || n > test.n)
        n = test.n;
    pool *p;
    if (pool_create(&p, 1, 0, &e)) {
        fprintf(stderr, "prep_study: %s\n", e.msg);
        return 1;
    }
    const kernel_impl *k = kernel_find(NULL);
    idx_set sub = {n, test.images, test.labels};
    eval_result r;
    eval_run(&net, &sub, p, k, NULL, &r, NULL, &e);
    printf("%u test images; eval on the originals: %.2f%%\n\n", n, 100.0 * r.correct / r.n);
    printf("%-32s %7s %9s %8s %7s\n", "variant", "sharpen", "accuracy", "mean|d|", "exact");

    const float amounts[3] = {0, 0.5f, 1};
    uint8_t *prep[3];
    for (int s = 0; s < 3; s++)
        prep[s] = malloc((size_t)n * IDX_PIXELS);
    for (int v = 0; v < V_COUNT; v++) {
        double mad[3] = {0};
        long exact[3] = {0};
        int shrinks = 0;
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *a = test.images + (size_t)i * IDX_PIXELS;
            image im;
            make_variant(v, a, &im);
            shrinks = im.w > 28 || im.h > 28;
            for (int s = 0; s < (shrinks ? 3 : 1); s++) {
                uint8_t *out = prep[s] + (size_t)i * IDX_PIXELS;
                image_prep_opts o = {IMAGE_INVERT_AUTO, amounts[s]};
                if (v == V_ALPHA_LIGHT_NO)
                    o.invert = IMAGE_INVERT_NO;
                if (image_prepare_with(&im, &o, out, NULL, &e)) {
                    fprintf(stderr, "prep_study: %s\n", e.msg);
                    return 1;
                }
                long sum = 0;
                for (int q = 0; q < IDX_PIXELS; q++)
                    sum += abs(out[q] - a[q]);
                mad[s] += (double)sum / IDX_PIXELS;
                exact[s] += sum == 0;
            }
            image_free(&im);
        }
        for (int s = 0; s < (shrinks ? 3 : 1); s++) {
            sub.images = prep[s];
            eval_run(&net, &sub, p, k, NULL, &r, NULL, &e);
            printf("%-32s %7.1f %8.2f%% %8.2f %7ld\n", vnames[v], amounts[s],
                   100.0 * r.correct / r.n, mad[s] / n, exact[s]);
        }
        fflush(stdout);
    }
    for (int s = 0; s < 3; s++)
        free(prep[s]);
    pool_destroy(p);
    idx_free(&test);
    mlp_free(&net);
    return 0;
}
