/* plot.h: pictures for people to look at: an RGB canvas with a built-in
 * 5x8 bitmap font (printable ASCII, no font library), the sheet of
 * misclassified images, the confusion matrix as a heat map, and what the
 * network saw, enlarged or as text. Nothing here prints or writes files:
 * the canvases go to image_write_rgb_png. */
#ifndef FMNIST_PLOT_H
#define FMNIST_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Colours are 0xRRGGBB. */
typedef struct plot_canvas {
    int w, h;
    uint8_t *rgb; /* w * h * 3 bytes, row-major */
} plot_canvas;

/* A w x h canvas filled with bg. On failure *c is untouched. */
int plot_canvas_create(plot_canvas *c, int w, int h, uint32_t bg, fm_err *e);
void plot_canvas_free(plot_canvas *c);

/* Drawing clips to the canvas. */
void plot_fill(plot_canvas *c, int x, int y, int w, int h, uint32_t color);
/* Draws an 8-bit gray image (w x h), each pixel as a scale x scale block. */
void plot_gray(plot_canvas *c, int x, int y, const uint8_t *pix, int w, int h, int scale);

/* Text in the built-in font: each character is 5x8 pixels (7 above the
 * baseline, 1 for descenders) in a 6x10 cell, times scale. Characters
 * outside printable ASCII draw as '?'. Returns the width drawn. */
#define PLOT_CHAR_W 6
#define PLOT_LINE_H 10
int plot_text(plot_canvas *c, int x, int y, const char *s, int scale, uint32_t color);
int plot_text_width(const char *s, int scale);

/* The sheet of misclassified images: a title, then one group per true
 * class (in label order) with a header line, then its misclassified images
 * as the network saw them (light on black, 2x), ordered by predicted class
 * and index, each labelled with its predicted class's name in that class's
 * colour. At most PLOT_ERRORS_PER_CLASS images per group (a note says how
 * many more). images: n images of 28x28; labels and pred: n labels each in
 * 0..nclasses-1; names: nclasses names (nclasses <= 10). On failure *out
 * is untouched. */
#define PLOT_ERRORS_PER_CLASS 450
int plot_errors_sheet(const uint8_t *images, const uint8_t *labels, const uint8_t *pred,
                      uint32_t n, int nclasses, const char *const *names, plot_canvas *out,
                      fm_err *e);

/* The confusion matrix (confusion[t * nclasses + p]: images of true class
 * t predicted as p) as a heat map: rows true class, columns predicted,
 * each cell's count on a colour for its share of the row (green on the
 * diagonal, red off it, full red at 25%), with recall per row and
 * precision per column, and a title with the accuracy. On failure *out is
 * untouched. */
int plot_confusion(const long *confusion, int nclasses, const char *const *names,
                   plot_canvas *out, fm_err *e);

/* Enlarges an 8-bit gray image k times by nearest neighbour into a
 * malloc'd buffer (w*k x h*k). On failure *out is untouched. */
int plot_enlarge_gray(const uint8_t *pix, int w, int h, int k, uint8_t **out, fm_err *e);

/* Renders an 8-bit gray image as text: each pixel as two characters of the
 * ramp " .:-=+*#%@" (dark to light), each row ending in '\n', into buf
 * (cap bytes, NUL-terminated). Returns the length the whole text needs
 * (w * 2 + 1) * h; when that is >= cap, buf holds only what fitted. */
size_t plot_ascii(const uint8_t *pix, int w, int h, char *buf, size_t cap);

#endif
