/* fmnist_predict.c: per-image predictions of a model on the test set, for
 * tools/check_roundtrip.py. A development tool, not part of fmnist: it links
 * the library (build/libfmnist.a) so that the CLI need not grow an option.
 *
 *   fmnist_predict MODEL DATA_DIR
 *
 * Prints one line per test image: its label, the class eval_run predicts (the
 * code `fmnist eval` runs), and the ten log-probabilities (%.9g: the floats
 * exactly). Kernels as the CLI picks them ($FMNIST_KERNEL, else the fastest). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "idx.h"
#include "model_file.h"

static int fail(const fm_err *e)
{
    fprintf(stderr, "fmnist_predict: %s%s%s\n", e->file, *e->file ? ": " : "", e->msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fmnist_predict MODEL DATA_DIR\n");
        return 2;
    }
    const char *kname = getenv("FMNIST_KERNEL");
    const kernel_impl *k = kernel_find(kname && *kname ? kname : NULL);
    if (!k) {
        fprintf(stderr, "fmnist_predict: FMNIST_KERNEL=%s: unknown here\n", kname);
        return 2;
    }
    fm_err e;
    char img[4096], lab[4096];
    idx_set test;
    mlp net;
    if (idx_locate(argv[2], NULL, NULL, IDX_TEST, img, lab, sizeof img, &e) ||
        idx_load(img, lab, &test, &e))
        return fail(&e);
    if (model_load(argv[1], &net, NULL, NULL, NULL, &e))
        return fail(&e);
    pool *p;
    mlp_work w;
    uint8_t *pred = malloc(test.n ? test.n : 1);
    eval_result r;
    if (!pred || pool_create(&p, 1, 0, &e) || eval_run(&net, &test, p, k, NULL, &r, pred, &e) ||
        mlp_work_create(&w, &net, EVAL_BATCH, 0, &e))
        return fail(&e);
    int L = net.nlayers, K = net.width[L], rc = 0;
    for (uint32_t i = 0; i < test.n; i += EVAL_BATCH) {
        int B = test.n - i < EVAL_BATCH ? (int)(test.n - i) : EVAL_BATCH;
        mlp_gather(&net, &w, p, k, test.images + (size_t)i * IDX_PIXELS, NULL, NULL, B);
        mlp_forward(&net, &w, p, k);
        for (int b = 0; b < B; b++) {
            printf("%u %u", (unsigned)test.labels[i + b], (unsigned)pred[i + b]);
            for (int c = 0; c < K; c++)
                printf(" %.9g", (double)w.actT[L][(size_t)c * B + b]);
            printf("\n");
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("fmnist_predict: stdout");
        rc = 1;
    }
    mlp_work_free(&w);
    pool_free(p);
    free(pred);
    mlp_free(&net);
    idx_free(&test);
    return rc;
}
