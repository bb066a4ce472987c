/* augment_dump: training images as --augment changes them, as raw bytes,
 * for experiments outside fmnist (tools/arch_check.py trains other
 * networks on them).
 *   build/tools/augment_dump N SEED IMAGES.u8 LABELS.u8 [SPEC [DATA_DIR]]
 * Writes N images of 784 bytes (row-major, 0 background) to IMAGES.u8 and
 * their N labels (one byte each) to LABELS.u8. Image i is a training image
 * drawn at random, changed by SPEC (default: "default") as step i / 64
 * changes batch place i % 64, all from SEED: the same arguments give the
 * same bytes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "idx.h"
#include "rng.h"

static int usage(void)
{
    fprintf(stderr, "usage: augment_dump N SEED IMAGES.u8 LABELS.u8 [SPEC [DATA_DIR]]\n");
    return 2;
}

/* A whole decimal number in [lo, hi], or -1. */
static long long number(const char *s, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 7)
        return usage();
    /* at most 10 million images: 7.8 GB */
    long long n = number(argv[1], 1, 10000000), seed = number(argv[2], 0, LLONG_MAX);
    if (n < 0 || seed < 0)
        return usage();
    const char *spec = argc > 5 ? argv[5] : "default";
    char img[4096], lab[4096];
    fm_err e;
    augment_spec s;
    idx_set d;
    if (augment_parse(spec, &s, &e) ||
        idx_locate(argc > 6 ? argv[6] : NULL, getenv("FMNIST_DATA"), getenv("HOME"), IDX_TRAIN,
                   img, lab, sizeof img, &e) ||
        idx_load(img, lab, &d, &e)) {
        fprintf(stderr, "augment_dump: %s: %s\n", e.file, e.msg);
        return 1;
    }
    FILE *fi = fopen(argv[3], "wb"), *fl = fopen(argv[4], "wb");
    int rc = 0, opened = fi && fl;
    if (!opened) {
        fprintf(stderr, "augment_dump: cannot create %s\n", !fi ? argv[3] : argv[4]);
        rc = 1;
    }
    rng r;
    rng_seed(&r, (uint64_t)seed);
    uint8_t t[784];
    for (long long i = 0; i < n && !rc; i++) {
        uint32_t k = rng_below(&r, d.n);
        augment_image(&s, d.images + (size_t)k * 784, d.labels[k],
                      augment_key((uint64_t)seed, (long)(i / 64)), (int)(i % 64), t);
        if (fwrite(t, 1, sizeof t, fi) != sizeof t || fputc(d.labels[k], fl) == EOF)
            rc = 1;
    }
    if (fi && fclose(fi))
        rc = 1;
    if (fl && fclose(fl))
        rc = 1;
    if (rc && opened)
        fprintf(stderr, "augment_dump: writing %s or %s failed\n", argv[3], argv[4]);
    if (rc) { /* no half-written output left behind */
        if (fi)
            remove(argv[3]);
        if (fl)
            remove(argv[4]);
    }
    idx_free(&d);
    return rc;
}
