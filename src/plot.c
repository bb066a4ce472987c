/* plot.c: canvases, the built-in font, the errors sheet and the confusion
 * heat map. */
#include "plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The font: printable ASCII 32..126, 5 columns x 8 rows per glyph, one
 * byte per row, bit 4 the leftmost column; rows 0-6 stand on the baseline,
 * row 7 holds descenders. Drawn for fmnist. */
static const uint8_t font5x8[95][8] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ' ' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00}, /* '!' */
    {0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '"' */
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a, 0x00}, /* '#' */
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04, 0x00}, /* '$' */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00}, /* '%' */
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d, 0x00}, /* '&' */
    {0x04, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '\'' */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00}, /* '(' */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00}, /* ')' */
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00, 0x00}, /* '*' */
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00, 0x00}, /* '+' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x04, 0x08}, /* ',' */
    {0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00}, /* '-' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00}, /* '.' */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00}, /* '/' */
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e, 0x00}, /* '0' */
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* '1' */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f, 0x00}, /* '2' */
    {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e, 0x00}, /* '3' */
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02, 0x00}, /* '4' */
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e, 0x00}, /* '5' */
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e, 0x00}, /* '6' */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00}, /* '7' */
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e, 0x00}, /* '8' */
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c, 0x00}, /* '9' */
    {0x00, 0x00, 0x04, 0x00, 0x00, 0x04, 0x00, 0x00}, /* ':' */
    {0x00, 0x00, 0x04, 0x00, 0x00, 0x04, 0x04, 0x08}, /* ';' */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00}, /* '<' */
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00, 0x00}, /* '=' */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00}, /* '>' */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00}, /* '?' */
    {0x0e, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0e, 0x00}, /* '@' */
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00}, /* 'A' */
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e, 0x00}, /* 'B' */
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e, 0x00}, /* 'C' */
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c, 0x00}, /* 'D' */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f, 0x00}, /* 'E' */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10, 0x00}, /* 'F' */
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f, 0x00}, /* 'G' */
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00}, /* 'H' */
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* 'I' */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c, 0x00}, /* 'J' */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00}, /* 'K' */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f, 0x00}, /* 'L' */
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00}, /* 'M' */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00}, /* 'N' */
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00}, /* 'O' */
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10, 0x00}, /* 'P' */
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d, 0x00}, /* 'Q' */
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11, 0x00}, /* 'R' */
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e, 0x00}, /* 'S' */
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00}, /* 'T' */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00}, /* 'U' */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00}, /* 'V' */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a, 0x00}, /* 'W' */
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11, 0x00}, /* 'X' */
    {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04, 0x00}, /* 'Y' */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f, 0x00}, /* 'Z' */
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e, 0x00}, /* '[' */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00}, /* backslash */
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e, 0x00}, /* ']' */
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '^' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}, /* '_' */
    {0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '`' */
    {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f, 0x00}, /* 'a' */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e, 0x00}, /* 'b' */
    {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e, 0x00}, /* 'c' */
    {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f, 0x00}, /* 'd' */
    {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e, 0x00}, /* 'e' */
    {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08, 0x00}, /* 'f' */
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* 'g' */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00}, /* 'h' */
    {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* 'i' */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x12, 0x0c}, /* 'j' */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00}, /* 'k' */
    {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00}, /* 'l' */
    {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11, 0x00}, /* 'm' */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00}, /* 'n' */
    {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e, 0x00}, /* 'o' */
    {0x00, 0x00, 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10}, /* 'p' */
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x01}, /* 'q' */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00}, /* 'r' */
    {0x00, 0x00, 0x0f, 0x10, 0x0e, 0x01, 0x1e, 0x00}, /* 's' */
    {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06, 0x00}, /* 't' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d, 0x00}, /* 'u' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00}, /* 'v' */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a, 0x00}, /* 'w' */
    {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x00}, /* 'x' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* 'y' */
    {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f, 0x00}, /* 'z' */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02, 0x00}, /* '{' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00}, /* '|' */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08, 0x00}, /* '}' */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00}, /* '~' */
};

int plot_canvas_create(plot_canvas *c, int w, int h, uint32_t bg, fm_err *e)
{
    if (w < 1 || h < 1 || (uint64_t)w * (uint64_t)h > 100000000u)
        return fm_fail(e, FM_EINVAL, NULL, "a %dx%d canvas is not drawable", w, h);
    uint8_t *p = malloc((size_t)w * (size_t)h * 3);
    if (!p)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory for a %dx%d picture", w, h);
    c->w = w;
    c->h = h;
    c->rgb = p;
    plot_fill(c, 0, 0, w, h, bg);
    return FM_OK;
}

void plot_canvas_free(plot_canvas *c)
{
    if (!c)
        return;
    free(c->rgb);
    c->rgb = NULL;
}

static void put(plot_canvas *c, int x, int y, uint32_t color)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    uint8_t *p = c->rgb + 3 * ((size_t)y * (size_t)c->w + (size_t)x);
    p[0] = (uint8_t)(color >> 16);
    p[1] = (uint8_t)(color >> 8);
    p[2] = (uint8_t)color;
}

void plot_fill(plot_canvas *c, int x, int y, int w, int h, uint32_t color)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++)
            put(c, xx, yy, color);
}

void plot_gray(plot_canvas *c, int x, int y, const uint8_t *pix, int w, int h, int scale)
{
    for (int r = 0; r < h; r++)
        for (int q = 0; q < w; q++) {
            uint32_t v = pix[(size_t)r * w + q];
            plot_fill(c, x + q * scale, y + r * scale, scale, scale, v << 16 | v << 8 | v);
        }
}

int plot_text_width(const char *s, int scale)
{
    return (int)strlen(s) * PLOT_CHAR_W * scale;
}

int plot_text(plot_canvas *c, int x, int y, const char *s, int scale, uint32_t color)
{
    int x0 = x;
    for (; *s; s++, x += PLOT_CHAR_W * scale) {
        unsigned char ch = (unsigned char)*s;
        const uint8_t *g = font5x8[(ch >= 32 && ch <= 126 ? ch : '?') - 32];
        for (int r = 0; r < 8; r++)
            for (int q = 0; q < 5; q++)
                if (g[r] >> (4 - q) & 1)
                    plot_fill(c, x + q * scale, y + r * scale, scale, scale, color);
    }
    return x - x0;
}

/* Text centred in [x, x + w). */
static void text_centred(plot_canvas *c, int x, int w, int y, const char *s, int scale,
                         uint32_t color)
{
    plot_text(c, x + (w - plot_text_width(s, scale)) / 2, y, s, scale, color);
}

/* ---- the sheet of misclassified images ---- */

/* Light versions of the ten "tab10" colours: readable on a dark ground. */
static const uint32_t class_color[10] = {0xaec7e8, 0xffbb78, 0x98df8a, 0xff9896, 0xc5b0d5,
                                         0xc49c94, 0xf7b6d2, 0xc7c7c7, 0xdbdb8d, 0x9edae5};

#define SHEET_BG 0x202020
#define SHEET_MARGIN 12
#define SHEET_COLS 30
#define TILE_W 70     /* 56-pixel image and an 11-character label */
#define TILE_H 72     /* 56 image + 2 + 10 label + 4 */
#define GROUP_HEAD 30 /* a 2x line of text and a gap */
#define GROUP_GAP 14

int plot_errors_sheet(const uint8_t *images, const uint8_t *labels, const uint8_t *pred,
                      uint32_t n, int nclasses, const char *const *names, plot_canvas *out,
                      fm_err *e)
{
    if (nclasses < 1 || nclasses > 10)
        return fm_fail(e, FM_EINVAL, NULL, "%d classes: the sheet draws 1 to 10", nclasses);
    uint32_t wrong[10] = {0}, total[10] = {0}, nwrong = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (labels[i] >= nclasses || pred[i] >= nclasses)
            return fm_fail(e, FM_EINVAL, NULL, "image %u: label %d or prediction %d out of range",
                           i, labels[i], pred[i]);
        total[labels[i]]++;
        if (pred[i] != labels[i])
            wrong[labels[i]]++, nwrong++;
    }
    int width = 2 * SHEET_MARGIN + SHEET_COLS * TILE_W;
    int height = SHEET_MARGIN + 2 * PLOT_LINE_H + PLOT_LINE_H + 10;
    for (int t = 0; t < nclasses; t++) {
        uint32_t shown = wrong[t] < PLOT_ERRORS_PER_CLASS ? wrong[t] : PLOT_ERRORS_PER_CLASS;
        height += GROUP_HEAD + (int)((shown + SHEET_COLS - 1) / SHEET_COLS) * TILE_H + GROUP_GAP;
    }
    height += SHEET_MARGIN;
    plot_canvas c;
    int rc = plot_canvas_create(&c, width, height, SHEET_BG, e);
    if (rc)
        return rc;

    char line[256];
    int y = SHEET_MARGIN;
    snprintf(line, sizeof line, "Misclassified: %u of %u test images (accuracy %.2f%%)", nwrong,
             n, n ? 100.0 * (n - nwrong) / n : 0.0);
    plot_text(&c, SHEET_MARGIN, y, line, 2, 0xffffff);
    y += 2 * PLOT_LINE_H;
    plot_text(&c, SHEET_MARGIN, y,
              "Grouped by true class; each image as the network saw it, labelled with the "
              "class it was taken for.", 1, 0xbbbbbb);
    y += PLOT_LINE_H + 10;
    for (int t = 0; t < nclasses; t++) {
        snprintf(line, sizeof line, "%s: %u of %u misclassified", names[t], wrong[t], total[t]);
        int tw = plot_text(&c, SHEET_MARGIN, y, line, 2, class_color[t]);
        if (wrong[t] > PLOT_ERRORS_PER_CLASS) {
            snprintf(line, sizeof line, "  (the first %d shown)", PLOT_ERRORS_PER_CLASS);
            plot_text(&c, SHEET_MARGIN + tw, y + 5, line, 1, 0xbbbbbb);
        }
        y += GROUP_HEAD;
        uint32_t k = 0;
        for (int p = 0; p < nclasses && k < PLOT_ERRORS_PER_CLASS; p++)
            for (uint32_t i = 0; i < n && k < PLOT_ERRORS_PER_CLASS; i++) {
                if (labels[i] != t || pred[i] != p || p == t)
                    continue;
                int x = SHEET_MARGIN + (int)(k % SHEET_COLS) * TILE_W;
                int ty = y + (int)(k / SHEET_COLS) * TILE_H;
                plot_gray(&c, x + (TILE_W - 56) / 2, ty, images + (size_t)i * 784, 28, 28, 2);
                text_centred(&c, x, TILE_W, ty + 58, names[p], 1, class_color[p]);
                k++;
            }
        y += (int)((k + SHEET_COLS - 1) / SHEET_COLS) * TILE_H + GROUP_GAP;
    }
    *out = c;
    return FM_OK;
}

/* ---- the confusion matrix ---- */

#define CM_MARGIN 16
#define CM_CELL_W 76
#define CM_CELL_H 40
#define CM_LABEL_W 84

/* a + (b - a) * t per channel, t in [0, 1]. */
static uint32_t mix(uint32_t a, uint32_t b, double t)
{
    uint32_t out = 0;
    for (int s = 16; s >= 0; s -= 8) {
        double ca = (a >> s) & 0xff, cb = (b >> s) & 0xff;
        out |= (uint32_t)(ca + (cb - ca) * t + 0.5) << s;
    }
    return out;
}

int plot_confusion(const long *confusion, int nclasses, const char *const *names,
                   plot_canvas *out, fm_err *e)
{
    if (nclasses < 1 || nclasses > 10)
        return fm_fail(e, FM_EINVAL, NULL, "%d classes: the heat map draws 1 to 10", nclasses);
    long row[10] = {0}, col[10] = {0}, all = 0, correct = 0;
    for (int t = 0; t < nclasses; t++)
        for (int p = 0; p < nclasses; p++) {
            long v = confusion[t * nclasses + p];
            if (v < 0)
                return fm_fail(e, FM_EINVAL, NULL, "negative count in the confusion matrix");
            row[t] += v;
            col[p] += v;
            all += v;
            correct += t == p ? v : 0;
        }
    int x0 = CM_MARGIN + CM_LABEL_W;
    int y0 = CM_MARGIN + 2 * PLOT_LINE_H + 8 + PLOT_LINE_H + 4 + PLOT_LINE_H + 6;
    int width = x0 + (nclasses + 1) * CM_CELL_W + 8 + CM_MARGIN;
    int height = y0 + (nclasses + 1) * CM_CELL_H + 8 + 2 * PLOT_LINE_H + CM_MARGIN;
    plot_canvas c;
    int rc = plot_canvas_create(&c, width, height, 0xffffff, e);
    if (rc)
        return rc;

    char s[128];
    snprintf(s, sizeof s, "Confusion matrix: %ld test images, accuracy %.2f%%", all,
             all ? 100.0 * correct / all : 0.0);
    plot_text(&c, CM_MARGIN, CM_MARGIN, s, 2, 0x000000);
    int y = CM_MARGIN + 2 * PLOT_LINE_H + 8;
    text_centred(&c, x0, nclasses * CM_CELL_W, y, "predicted class", 1, 0x555555);
    y += PLOT_LINE_H + 4;
    for (int p = 0; p < nclasses; p++)
        text_centred(&c, x0 + p * CM_CELL_W, CM_CELL_W, y, names[p], 1, 0x000000);
    text_centred(&c, x0 + nclasses * CM_CELL_W + 8, CM_CELL_W, y, "recall", 1, 0x555555);
    plot_text(&c, CM_MARGIN, y, "true class", 1, 0x555555);

    for (int t = 0; t <= nclasses; t++) {
        int cy = y0 + t * CM_CELL_H + (t == nclasses ? 8 : 0);
        plot_text(&c, CM_MARGIN, cy + (CM_CELL_H - 8) / 2, t < nclasses ? names[t] : "precision",
                  1, t < nclasses ? 0x000000 : 0x555555);
        for (int p = 0; p <= nclasses; p++) {
            int cx = x0 + p * CM_CELL_W + (p == nclasses ? 8 : 0);
            if (t == nclasses && p == nclasses)
                continue;
            if (t == nclasses || p == nclasses) {
                /* Precision (bottom row) or recall (right column). */
                long num = t == nclasses ? confusion[p * nclasses + p] : confusion[t * nclasses + t];
                long den = t == nclasses ? col[p] : row[t];
                snprintf(s, sizeof s, den ? "%.1f%%" : "-", den ? 100.0 * num / den : 0.0);
                plot_fill(&c, cx + 1, cy + 1, CM_CELL_W - 2, CM_CELL_H - 2, 0xeeeeee);
                text_centred(&c, cx, CM_CELL_W, cy + (CM_CELL_H - 8) / 2, s, 1, 0x000000);
                continue;
            }
            long v = confusion[t * nclasses + p];
            double share = row[t] ? (double)v / row[t] : 0;
            double heat = t == p ? share : (share / 0.25 > 1 ? 1 : share / 0.25);
            uint32_t bg = mix(0xffffff, t == p ? 0x1a7f37 : 0xc62828, heat);
            uint32_t fg = v == 0 ? 0xbbbbbb : heat > 0.55 ? 0xffffff : 0x000000;
            plot_fill(&c, cx + 1, cy + 1, CM_CELL_W - 2, CM_CELL_H - 2, bg);
            snprintf(s, sizeof s, "%ld", v);
            text_centred(&c, cx, CM_CELL_W, cy + 6, s, 2, fg);
            if (v) {
                snprintf(s, sizeof s, "%.1f%%", 100 * share);
                text_centred(&c, cx, CM_CELL_W, cy + 6 + 2 * PLOT_LINE_H - 2, s, 1, fg);
            }
        }
    }
    y = y0 + (nclasses + 1) * CM_CELL_H + 8 + 6;
    plot_text(&c, CM_MARGIN, y,
              "Each cell: images of the row's true class taken for the column's class, and their "
              "share of the row.", 1, 0x555555);
    plot_text(&c, CM_MARGIN, y + PLOT_LINE_H,
              "Green: correct (full at 100%); red: confused (full at 25%).", 1, 0x555555);
    *out = c;
    return FM_OK;
}

/* ---- what the network saw ---- */

int plot_enlarge_gray(const uint8_t *pix, int w, int h, int k, uint8_t **out, fm_err *e)
{
    if (w < 1 || h < 1 || k < 1 || (uint64_t)w * h * k * k > 100000000u)
        return fm_fail(e, FM_EINVAL, NULL, "cannot enlarge %dx%d by %d", w, h, k);
    size_t W = (size_t)w * k;
    uint8_t *b = malloc(W * (size_t)h * k);
    if (!b)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    for (size_t y = 0; y < (size_t)h * k; y++)
        for (size_t x = 0; x < W; x++)
            b[y * W + x] = pix[(y / k) * w + x / k];
    *out = b;
    return FM_OK;
}

size_t plot_ascii(const uint8_t *pix, int w, int h, char *buf, size_t cap)
{
    static const char ramp[] = " .:-=+*#%@";
    size_t need = ((size_t)w * 2 + 1) * (size_t)h, at = 0;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x <= w; x++) {
            char ch[2] = {'\n', 0};
            int n = 1;
            if (x < w) {
                /* 256 levels onto 10 characters, evenly. */
                char r = ramp[pix[(size_t)y * w + x] * 10 / 256];
                ch[0] = ch[1] = r;
                n = 2;
            }
            for (int i = 0; i < n; i++)
                if (at + 1 < cap)
                    buf[at++] = ch[i];
        }
    }
    if (cap)
        buf[at] = 0;
    return need;
}
