/* augment_sheet: a PNG of training images and their augmented copies, to
 * look at what --augment does.
 *   build/tools/augment_sheet [SPEC [OUT.png [DATA_DIR]]]
 * Row r: training image r, then 11 copies changed by SPEC (default:
 * "default") as steps 0..10 would change it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "idx.h"
#include "image.h"

int main(int argc, char **argv)
{
    const char *spec = argc > 1 ? argv[1] : "default", *out = argc > 2 ? argv[2] : "augment.png";
    char img[4096], lab[4096];
    fm_err e;
    augment_spec s;
    idx_set d;
    if (augment_parse(spec, &s, &e) ||
        idx_locate(argc > 3 ? argv[3] : NULL, getenv("FMNIST_DATA"), getenv("HOME"), IDX_TRAIN,
                   img, lab, sizeof img, &e) ||
        idx_load(img, lab, &d, &e)) {
        fprintf(stderr, "augment_sheet: %s: %s\n", e.file, e.msg);
        return 1;
    }
    enum { ROWS = 20, COLS = 12, S = 30 };
    uint8_t *sheet = calloc((size_t)ROWS * S * COLS * S, 1), t[784];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            const uint8_t *src = d.images + (size_t)r * 784;
            if (c)
                augment_image(&s, src, d.labels[r], augment_key(1, c - 1), r, t);
            else
                memcpy(t, src, 784);
            for (int y = 0; y < 28; y++)
                memcpy(sheet + ((size_t)(r * S + 1 + y) * COLS * S) + c * S + 1, t + y * 28, 28);
        }
    int rc = image_write_gray_png(out, sheet, COLS * S, ROWS * S, &e);
    if (rc)
        fprintf(stderr, "augment_sheet: %s: %s\n", e.file, e.msg);
    free(sheet);
    idx_free(&d);
    return rc ? 1 : 0;
}
