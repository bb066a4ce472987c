/* prep.c: a person's picture made into the network's 28x28 input, in the
 * named steps of prep.h. */
#include "prep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIDE PREP_SIDE

/* Luma as PIL's convert("L") computes it (ITU-R 601-2); exact for gray. */
static int luma(const uint8_t *p)
{
    return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16;
}

/* Root mean square difference over R, G, B: |a - b| for two grays. */
static float dist(const uint8_t *p, const float *c)
{
    float dr = p[0] - c[0], dg = p[1] - c[1], db = p[2] - c[2];
    return sqrtf((dr * dr + dg * dg + db * db) / 3.0f);
}

/* The median of n values counted in hist[256]. */
static int hist_median(const int *hist, int n)
{
    int acc = 0, v = 0;
    while (v < 255 && (acc += hist[v]) * 2 <= n)
        v++;
    return v;
}

/* ---- 1. reduce ---- */

/* (a + b / 2) / b, in 32 bits when it fits: the same quotient, at a
 * fraction of a 64-bit division's cost. */
static uint64_t div_round(uint64_t a, uint64_t b)
{
    uint64_t t = a + b / 2;
    return t <= UINT32_MAX && b <= UINT32_MAX ? (uint32_t)t / (uint32_t)b : t / b;
}

/* Factor 1: each block one pixel, whose alpha-weighted mean is itself
 * ((c * a + a / 2) / a = c), or 0 where it is transparent. */
static void reduce_copy(const image *img, uint8_t *px)
{
    size_t n = (size_t)img->w * img->h;
    memcpy(px, img->rgba, 4 * n);
    for (size_t i = 0; i < n; i++)
        if (px[4 * i + 3] == 0)
            px[4 * i] = px[4 * i + 1] = px[4 * i + 2] = 0;
}

/* Factor k > 1, one output row at a time: the k input rows of its blocks
 * summed block by block into s (ow x 4: alpha-weighted R, G, B, then
 * alpha), then divided. */
static void reduce_blocks(const image *img, int k, int ow, int oh, uint64_t *s, uint8_t *px)
{
    int w = img->w, h = img->h;
    for (int oy = 0; oy < oh; oy++) {
        int y0 = oy * k, y1 = y0 + k < h ? y0 + k : h;
        memset(s, 0, sizeof *s * 4 * (size_t)ow);
        for (int y = y0; y < y1; y++) {
            const uint8_t *p = img->rgba + 4 * (size_t)y * w;
            uint64_t *q = s;
            for (int x = 0, next = k; x < w; x++, p += 4) {
                if (x == next) {
                    q += 4;
                    next += k;
                }
                q[0] += (uint32_t)p[0] * p[3];
                q[1] += (uint32_t)p[1] * p[3];
                q[2] += (uint32_t)p[2] * p[3];
                q[3] += p[3];
            }
        }
        for (int ox = 0; ox < ow; ox++) {
            const uint64_t *q = s + 4 * (size_t)ox;
            uint8_t *o = px + 4 * ((size_t)oy * ow + ox);
            uint64_t n = (uint64_t)(y1 - y0) * (uint64_t)(ox * k + k < w ? k : w - ox * k);
            for (int c = 0; c < 3; c++)
                o[c] = (uint8_t)(q[3] ? div_round(q[c], q[3]) : 0);
            o[3] = (uint8_t)div_round(q[3], n);
        }
    }
}

int prep_reduce(const image *img, int max_side, image *out, int *factor, fm_err *e)
{
    int w = img->w, h = img->h, big = w > h ? w : h;
    int k = big <= max_side ? 1 : (big + max_side - 1) / max_side;
    int ow = (w + k - 1) / k, oh = (h + k - 1) / k;
    uint8_t *px = malloc((size_t)ow * oh * 4);
    uint64_t *s = k > 1 ? malloc(sizeof *s * 4 * (size_t)ow) : NULL;
    if (!px || (k > 1 && !s)) {
        free(px);
        free(s);
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    }
    if (k == 1)
        reduce_copy(img, px);
    else
        reduce_blocks(img, k, ow, oh, s, px);
    free(s);
    out->w = ow;
    out->h = oh;
    out->rgba = px;
    *factor = k;
    return FM_OK;
}

/* ---- 2. border ---- */

/* Calls fn on every pixel of the outermost ring, each once. */
#define FOR_RING(img, x, y, body)                                                  \
    for (int y = 0; y < (img)->h; y++)                                             \
        for (int x = 0; x < (img)->w; x++) {                                       \
            if (y != 0 && y != (img)->h - 1 && x != 0 && x != (img)->w - 1) {      \
                x = (img)->w - 2;                                                  \
                continue;                                                          \
            }                                                                      \
            body                                                                   \
        }

/* The per-channel medians of the ring's opaque pixels, those farther than
 * `away` from `from` when from is given. Returns how many there were. */
static int ring_median(const image *img, const float *from, float away, uint8_t med[3])
{
    static const int zero[256];
    int hist[3][256], n = 0;
    for (int c = 0; c < 3; c++)
        memcpy(hist[c], zero, sizeof zero);
    FOR_RING(img, x, y, {
        const uint8_t *p = img->rgba + 4 * ((size_t)y * img->w + x);
        if (p[3] >= 128 && (!from || dist(p, from) > away)) {
            for (int c = 0; c < 3; c++)
                hist[c][p[c]]++;
            n++;
        }
    })
    for (int c = 0; c < 3; c++) {
            med[c] = (uint8_t)hist_median(hist[c], n);
    }
    return n;
}

void prep_border_stats(const image *img, prep_border *b)
{
    memset(b, 0, sizeof *b);
    int ring = 0, transparent = 0;
    b->all_opaque = 1;
    for (size_t i = 0; i < (size_t)img->w * img->h; i++)
        if (img->rgba[4 * i + 3] != 255) {
            b->all_opaque = 0;
            break;
        }
    FOR_RING(img, x, y, {
        const uint8_t *p = img->rgba + 4 * ((size_t)y * img->w + x);
        ring++;
        if (p[3] < 128) {
            transparent++;
        } else {
            int l = luma(p);
            b->n_black += l == 0;
            b->n_white += l == 255;
        }
    })
    if (transparent * 2 >= ring) {
        b->transparent = 1;
        return;
    }
    /* The main colour; a second one when over a quarter of the opaque ring
     * is far from it (a floor and a wall, two halves of a backdrop). */
    int n = ring_median(img, NULL, 0, b->color[0]);
    float c1[3] = {b->color[0][0], b->color[0][1], b->color[0][2]};
    uint8_t c2[3];
    b->ncolors = 1;
    if (ring_median(img, c1, 2 * PREP_TOLERANCE, c2) * 4 > n) {
        memcpy(b->color[1], c2, 3);
        b->ncolors = 2;
    }
}

/* ---- flood fills (steps 3 and 4) ---- */

/* A run of cells [x0, x1] of row y, whose neighbours are still to be seen. */
typedef struct span {
    uint32_t y, x0, x1;
} span;

/* A fill over the cells of grid (w x h) that to[] changes: each cell c
 * reached becomes to[c] (which to[] must leave as it is). 8 neighbours when
 * diag, else 4. Whole runs of a row are taken at once, so no cell is pushed
 * twice and the stack needs at most h * ceil(w / 2) spans (runs of a row
 * taken apart are never adjacent). */
typedef struct fill {
    uint8_t *grid;
    int w, h, diag;
    uint8_t to[256];
    span *stack;
    size_t top;
} fill;

/* A fill with to[] the identity (matching nothing), and its stack; 0 when
 * out of memory. */
static int fill_init(fill *f, uint8_t *grid, int w, int h, int diag)
{
    *f = (fill){.grid = grid, .w = w, .h = h, .diag = diag};
    for (int c = 0; c < 256; c++)
        f->to[c] = (uint8_t)c;
    f->stack = malloc((size_t)h * (((size_t)w + 1) / 2) * sizeof *f->stack);
    return f->stack != NULL;
}

#define MATCH(f, c) ((f)->to[c] != (c))

/* Takes the run through matching cell (x, y): changed and pushed. Returns
 * its last x. */
static int fill_take(fill *f, int x, int y, size_t *count)
{
    uint8_t *row = f->grid + (size_t)y * f->w;
    int a = x, b = x;
    while (a > 0 && MATCH(f, row[a - 1]))
        a--;
    while (b < f->w - 1 && MATCH(f, row[b + 1]))
        b++;
    for (int i = a; i <= b; i++)
        row[i] = f->to[row[i]];
    f->stack[f->top++] = (span){(uint32_t)y, (uint32_t)a, (uint32_t)b};
    *count += (size_t)(b - a + 1);
    return b;
}

/* Fills from (x, y) when it matches. Returns how many cells it reached. */
static size_t fill_from(fill *f, int x, int y)
{
    size_t count = 0;
    if (!MATCH(f, f->grid[(size_t)y * f->w + x]))
        return 0;
    fill_take(f, x, y, &count);
    while (f->top) {
        span s = f->stack[--f->top];
        int lo = (int)s.x0 - f->diag, hi = (int)s.x1 + f->diag;
        lo = lo < 0 ? 0 : lo;
        hi = hi > f->w - 1 ? f->w - 1 : hi;
        for (int ny = (int)s.y - 1; ny <= (int)s.y + 1; ny += 2) {
            if (ny < 0 || ny >= f->h)
                continue;
            const uint8_t *row = f->grid + (size_t)ny * f->w;
            for (int nx = lo; nx <= hi; nx++)
                if (MATCH(f, row[nx]))
                    nx = fill_take(f, nx, ny, &count);
        }
    }
    return count;
}

/* ---- 3. background ---- */

/* Whether a pixel of alpha a at squared distance d2 (summed over R, G, B)
 * from a background colour is background: a / 255 * sqrt(d2 / 3) within
 * PREP_TOLERANCE, in float as prep_near_ref computes it. Far from the
 * threshold a * a * d2 <= 3 * (255 * PREP_TOLERANCE)^2 the integers decide:
 * the float expression's four roundings move it by under 3e-7 of itself
 * (6e-7 squared), far inside the 1e-5 margin; near it, the floats do.
 * tests/test_prep.c compares the two over every a and d2. */
#define NEAR_T (3.0 * (255.0 * PREP_TOLERANCE) * (255.0 * PREP_TOLERANCE))
static const uint64_t near_lo = (uint64_t)(NEAR_T * (1 - 1e-5));
static const uint64_t near_hi = (uint64_t)(NEAR_T * (1 + 1e-5));

int prep_near(int a, uint32_t d2)
{
    uint64_t q = (uint64_t)a * (uint64_t)a * d2;
    return q < near_lo ? 1 : q > near_hi ? 0 : prep_near_ref(a, d2);
}

int prep_near_ref(int a, uint32_t d2)
{
    return a / 255.0f * sqrtf((float)d2 / 3.0f) <= PREP_TOLERANCE;
}

/* The squared distance of p's colour from c (summed over R, G, B). */
static uint32_t dist2(const uint8_t *p, const uint8_t *c)
{
    int dr = p[0] - c[0], dg = p[1] - c[1], db = p[2] - c[2];
    return (uint32_t)(dr * dr + dg * dg + db * db);
}

/* item[i] = 2 where pixel i could be background: transparent, or
 * (composited over it) within the tolerance of a background colour
 * (prep_near, whose integer test is inlined here); else 1. */
static void mark_bg_like(const image *img, const prep_border *b, uint8_t *item)
{
    size_t n = (size_t)img->w * img->h;
    const uint8_t *p = img->rgba;
    if (b->transparent) {
        for (size_t i = 0; i < n; i++)
            item[i] = p[4 * i + 3] <= PREP_TOLERANCE ? 2 : 1; /* at most 5% opaque */
        return;
    }
    const uint8_t *c0 = b->color[0], *c1 = b->color[b->ncolors - 1];
    uint32_t last = 0;
    uint8_t v = 0;
    for (size_t i = 0; i < n; i++, p += 4) {
        uint32_t rgba;
        memcpy(&rgba, p, 4);
        if (i == 0 || rgba != last) { /* a run of one colour is decided once */
            uint32_t d0 = dist2(p, c0), d1 = dist2(p, c1);
            uint64_t aa = (uint64_t)(p[3] * p[3]), q0 = aa * d0, q1 = aa * d1;
            if ((q0 < near_lo) | (q1 < near_lo))
                v = 2;
            else if ((q0 > near_hi) & (q1 > near_hi))
                v = 1;
            else
                v = prep_near(p[3], d0) || prep_near(p[3], d1) ? 2 : 1;
            last = rgba;
        }
        item[i] = v;
    }
}

int prep_background(const image *img, const prep_border *b, uint8_t *item, fm_err *e)
{
    fill f;
    if (!fill_init(&f, item, img->w, img->h, 0))
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    /* 2 marks a pixel that could be background, 0 one the fill reached. */
    mark_bg_like(img, b, item);
    f.to[2] = 0;
    FOR_RING(img, x, y, { fill_from(&f, x, y); })
    free(f.stack); /* what stays 2 is enclosed: item, of the background's colour */
    return FM_OK;
}

/* ---- 4. specks ---- */

/* A part of the item: its first pixel (in row order) and its size. */
typedef struct part {
    size_t at, size;
} part;

/* Finds the parts, their pixels 1 and 2 becoming 0x41 and 0x42. Returns
 * how many, in *parts (malloc'd), or -1 when out of memory. */
static long find_parts(fill *f, part **parts)
{
    size_t n = (size_t)f->w * f->h, np = 0, cap = 0;
    part *p = NULL;
    f->to[1] = 0x41, f->to[2] = 0x42;
    for (size_t i = 0; i < n; i++) {
        if (f->grid[i] != 1 && f->grid[i] != 2)
            continue;
        if (np == cap) {
            part *q = realloc(p, (cap = cap ? 2 * cap : 64) * sizeof *p);
            if (!q) {
                free(p);
                return -1;
            }
            p = q;
        }
        p[np].at = i;
        p[np].size = fill_from(f, (int)(i % (size_t)f->w), (int)(i / (size_t)f->w));
        np++;
    }
    *parts = p;
    return (long)np;
}

/* The marks cleared: each of the n cells back to its low two bits (0, 1 or
 * 2, as step 3 left it). */
static void unmark(uint8_t *grid, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, grid + i, 8);
        v &= UINT64_C(0x0303030303030303);
        memcpy(grid + i, &v, 8);
    }
    for (; i < n; i++)
        grid[i] &= 3;
}

int prep_despeckle(uint8_t *item, int w, int h, double frac, fm_err *e)
{
    size_t n = (size_t)w * h, largest = 0;
    fill f;
    part *parts = NULL;
    long np = fill_init(&f, item, w, h, 1) ? find_parts(&f, &parts) : -1;
    if (np < 0) {
        if (f.stack)
            unmark(item, n);
        free(f.stack);
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    }
    for (long k = 0; k < np; k++)
        largest = parts[k].size > largest ? parts[k].size : largest;
    /* The small parts filled again, to 0. */
    f.to[1] = 1, f.to[2] = 2, f.to[0x41] = f.to[0x42] = 0;
    for (long k = 0; k < np; k++)
        if (parts[k].size < frac * largest)
            fill_from(&f, (int)(parts[k].at % (size_t)w), (int)(parts[k].at / (size_t)w));
    unmark(item, n);
    free(parts);
    free(f.stack);
    return FM_OK;
}

/* ---- 5. box ---- */

int prep_box(const uint8_t *item, int w, int h, int *x0, int *y0, int *x1, int *y1)
{
    int bx0 = w, by0 = h, bx1 = -1, by1 = -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = item + (size_t)y * w;
        int a = 0, b = w - 1;
        while (a < w && !row[a])
            a++;
        if (a == w)
            continue;
        while (!row[b])
            b--;
        bx0 = a < bx0 ? a : bx0;
        bx1 = b > bx1 ? b : bx1;
        by0 = y < by0 ? y : by0;
        by1 = y;
    }
    if (bx1 < 0)
        return 0;
    *x0 = bx0, *y0 = by0, *x1 = bx1, *y1 = by1;
    return 1;
}

/* ---- 6. polarity ---- */

static void set_ref(prep_ref *r, float v)
{
    r->rgb[0] = r->rgb[1] = r->rgb[2] = v;
    r->ncolors = 1;
    r->inverted = v >= 128;
}

/* On a transparent background, which side the item was cut from: an item
 * fades at its edges into the background it was drawn or shot on (a data
 * set item into black, a product photo's into white), so when its rim is
 * clearly lighter or darker than its whole, the rim's side is the
 * background's; else the side farther from the item's median luma. Both
 * over the item's opaque pixels (all of them when none is). Returns 1 for
 * a white background. */
static int cut_from_white(const image *img, const uint8_t *item)
{
    int all[256] = {0}, rim[256] = {0}, n = 0, nr = 0, w = img->w, h = img->h;
    for (int pass = 0; pass < 2 && n == 0; pass++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t i = (size_t)y * w + x;
                if (!item[i] || (!pass && img->rgba[4 * i + 3] < 128))
                    continue;
                int l = luma(img->rgba + 4 * i);
                all[l]++;
                n++;
                if (x == 0 || y == 0 || x == w - 1 || y == h - 1 || !item[i - 1] ||
                    !item[i + 1] || !item[i - (size_t)w] || !item[i + (size_t)w]) {
                    rim[l]++;
                    nr++;
                }
            }
    int m = hist_median(all, n), r = hist_median(rim, nr);
    if (r - m >= PREP_RIM || m - r >= PREP_RIM)
        return r > m;
    return m < 128;
}

void prep_polarity(const image *img, const prep_border *b, const uint8_t *item,
                   enum image_invert invert, prep_ref *r)
{
    memset(r, 0, sizeof *r);
    if (b->transparent) {
        set_ref(r, cut_from_white(img, item) ? 255.0f : 0.0f);
    } else {
        r->ncolors = b->ncolors;
        for (int c = 0; c < 3; c++) {
            r->rgb[c] = b->color[0][c];
            r->rgb2[c] = b->color[b->ncolors - 1][c];
        }
        r->inverted = luma(b->color[0]) >= 128;
    }
    /* A forced polarity that disagrees: ink is plain darkness or lightness. */
    if (invert == IMAGE_INVERT_YES && !r->inverted)
        set_ref(r, 255.0f);
    else if (invert == IMAGE_INVERT_NO && r->inverted)
        set_ref(r, 0.0f);
}

/* ---- 7. ink ---- */

static float ink_of(const uint8_t *p, const prep_ref *r)
{
    float d = dist(p, r->rgb);
    if (r->ncolors == 2) {
        float d2 = dist(p, r->rgb2);
        d = d2 < d ? d2 : d;
    }
    return p[3] / 255.0f * d;
}

int prep_ink(const image *img, const uint8_t *item, const prep_ref *r, int x0, int y0, int x1,
             int y1, float fill, float *ink)
{
    int bw = x1 - x0 + 1, w = img->w;
    long n_item = 0, n_inside = 0;
    float mx = 0, ink_last = 0;
    uint32_t last = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            size_t i = (size_t)y * w + x;
            uint32_t rgba;
            memcpy(&rgba, img->rgba + 4 * i, 4);
            if ((y == y0 && x == x0) || rgba != last) { /* a run of one colour: once */
                ink_last = ink_of(img->rgba + 4 * i, r);
                last = rgba;
            }
            /* The background keeps its faint ink (a data set item's faint
             * edges, within the tolerance); a speck left out is no more. */
            float v = ink_last;
            if (!item[i] && v > PREP_TOLERANCE)
                v = PREP_TOLERANCE;
            ink[(size_t)(y - y0) * bw + (x - x0)] = v;
            mx = v > mx ? v : mx;
            n_item += item[i] != 0;
            n_inside += item[i] == 2;
        }
    /* A drawing, not a photo: much of the item is the background's colour. */
    if (n_inside < PREP_DRAWING * (double)n_item)
        return 0;
    float least = fill * mx;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float *v = &ink[(size_t)(y - y0) * bw + (x - x0)];
            if (item[(size_t)y * w + x] == 2 && *v < least)
                *v = least;
        }
    return 1;
}

/* ---- 8. resample ---- */

/* 1-D resampling of n source samples to m: area averaging when shrinking,
 * linear interpolation between pixel centres when enlarging. Output sample
 * i is sum(wt[j - j0] * src[j]) over j in [j0, j1); the weights sum to 1. */
static void resample_weights(int n, int m, int i, int *j0, int *j1, float *wt)
{
    if (m < n) {
        double s0 = (double)i * n / m, s1 = (double)(i + 1) * n / m;
        int a = (int)floor(s0), b = (int)ceil(s1);
        if (b > n)
            b = n;
        for (int j = a; j < b; j++) {
            double lo = j > s0 ? j : s0, hi = j + 1 < s1 ? j + 1 : s1;
            wt[j - a] = (float)((hi - lo) * m / n);
        }
        *j0 = a;
        *j1 = b;
        return;
    }
    double s = (i + 0.5) * n / m - 0.5;
    if (s < 0)
        s = 0;
    if (s > n - 1)
        s = n - 1;
    int a = (int)floor(s);
    int b = a + 1 < n ? a + 1 : a;
    float f = (float)(s - a);
    *j0 = a;
    *j1 = b + 1;
    if (b == a)
        wt[0] = 1;
    else {
        wt[0] = 1 - f;
        wt[1] = f;
    }
}

int prep_resample(const float *ink, int bw, int bh, float res[SIDE * SIDE], fm_err *e)
{
    /* Longest edge to 28, the other in proportion. */
    int tw, th;
    if (bw >= bh) {
        tw = SIDE;
        th = (int)lround((double)bh * SIDE / bw);
    } else {
        th = SIDE;
        tw = (int)lround((double)bw * SIDE / bh);
    }
    tw = tw < 1 ? 1 : tw;
    th = th < 1 ? 1 : th;
    /* Horizontal pass into (bh, tw), then vertical into (th, tw). The
     * largest source span of one output pixel is n/m + 2 samples: the
     * horizontal weights, the same for every row, are a table of tw such
     * spans (wt), the vertical ones one span at a time (after it). */
    size_t span = (size_t)(bw / tw) + 3;
    float *rows = malloc(sizeof(float) * (size_t)bh * (size_t)tw);
    float *wt = malloc(sizeof(float) * (span * (size_t)tw + (size_t)bh + 3));
    if (!rows || !wt) {
        free(rows);
        free(wt);
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    }
    int h0[SIDE], h1[SIDE];
    for (int i = 0; i < tw; i++)
        resample_weights(bw, tw, i, &h0[i], &h1[i], wt + span * (size_t)i);
    for (int y = 0; y < bh; y++)
        for (int i = 0; i < tw; i++) {
            const float *wi = wt + span * (size_t)i;
            float s = 0;
            for (int j = h0[i]; j < h1[i]; j++)
                s += wi[j - h0[i]] * ink[(size_t)y * bw + j];
            rows[(size_t)y * tw + i] = s;
        }
    memset(res, 0, sizeof(float) * SIDE * SIDE);
    int top = (SIDE - th + 1) / 2, left = (SIDE - tw + 1) / 2;
    float *wv = wt + span * (size_t)tw;
    for (int i = 0; i < th; i++) {
        int j0, j1;
        resample_weights(bh, th, i, &j0, &j1, wv);
        for (int x = 0; x < tw; x++) {
            float s = 0;
            for (int j = j0; j < j1; j++)
                s += wv[j - j0] * rows[(size_t)j * tw + x];
            res[(top + i) * SIDE + left + x] = s;
        }
    }
    free(rows);
    free(wt);
    return FM_OK;
}

/* ---- 9. stretch ---- */

void prep_stretch(const float res[SIDE * SIDE], uint8_t out[SIDE * SIDE])
{
    float mx = 0;
    for (int i = 0; i < SIDE * SIDE; i++)
        mx = res[i] > mx ? res[i] : mx;
    float scale = mx > 0 ? 255.0f / mx : 0;
    for (int i = 0; i < SIDE * SIDE; i++) {
        float v = res[i] * scale + 0.5f;
        out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* ---- the whole ---- */

/* A picture that already is a data set image is used exactly as is:
 * 28x28, opaque, its border mostly pure black where not item. Items may
 * fill most of the border (the ring's median is not 0 in 86 of the 70,000
 * data set images), but every one of them has more pixels at 0 than at 255
 * there (at least 10 at 0). More at 255: a negated one. */
static int passthrough(const image *img, enum image_invert invert, uint8_t out[SIDE * SIDE],
                       image_prep_info *inf)
{
    prep_border b;
    if (img->w != SIDE || img->h != SIDE)
        return 0;
    prep_border_stats(img, &b);
    if (!b.all_opaque || b.n_black == b.n_white)
        return 0;
    int neg = invert == IMAGE_INVERT_AUTO ? b.n_white > b.n_black : invert == IMAGE_INVERT_YES;
    for (int i = 0; i < SIDE * SIDE; i++) {
        int y = luma(img->rgba + 4 * i);
        out[i] = (uint8_t)(neg ? 255 - y : y);
    }
    inf->inverted = neg;
    inf->passthrough = 1;
    inf->reduced = 1;
    inf->box_w = inf->box_h = SIDE;
    return 1;
}

/* ---- 5b. tiles ---- */

int prep_tile(const uint8_t *item, int w, int h, int x0, int y0, int x1, int y1)
{
    int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    if (bw < 3 || bh < 3 || bw < PREP_TILE_SPAN * w || bh < PREP_TILE_SPAN * h)
        return 0;
    size_t n = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            n += item[(size_t)y * w + x] != 0;
    return n >= PREP_TILE_FILL * bw * bh;
}

int prep_crop(const image *img, int x0, int y0, int x1, int y1, image *out, fm_err *e)
{
    int w = x1 - x0 + 1, h = y1 - y0 + 1;
    uint8_t *px = malloc((size_t)w * h * 4);
    if (!px)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    for (int y = 0; y < h; y++)
        memcpy(px + (size_t)y * w * 4, img->rgba + ((size_t)(y0 + y) * img->w + x0) * 4,
               (size_t)w * 4);
    out->w = w, out->h = h, out->rgba = px;
    return FM_OK;
}

/* Where the item is found: the picture (or a tile cropped from it), its
 * border, its item map (steps 2 to 5) and the item's box. */
typedef struct scene {
    image img;       /* the picture, or a tile of it (owned when tile) */
    int tile;        /* how many tiles deep */
    int ox, oy;      /* img's place in the picture */
    prep_border b;
    uint8_t *item;   /* img->w x img->h, as steps 3 and 4 leave it */
    int found;       /* the item's box: x0, y0, x1, y1 */
    int x0, y0, x1, y1;
} scene;

static void scene_free(scene *s)
{
    free(s->item);
    if (s->tile)
        image_free(&s->img);
}

/* Steps 2 to 5 on s->img. */
static int find_item(scene *s, fm_err *e)
{
    int w = s->img.w, h = s->img.h, rc;
    prep_border_stats(&s->img, &s->b);
    s->item = malloc((size_t)w * h);
    if (!s->item)
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    if ((rc = prep_background(&s->img, &s->b, s->item, e)) ||
        (rc = prep_despeckle(s->item, w, h, PREP_SPECK, e)))
        return rc;
    s->found = prep_box(s->item, w, h, &s->x0, &s->y0, &s->x1, &s->y1);
    return FM_OK;
}

/* Step 5b: on a transparent background, while the item is a tile, steps
 * 2 to 5 again inside it, as long as they find an item of at least
 * PREP_TILE_ITEM of the tile. What the last of them found is the item when
 * its box's area is at most PREP_TILE_INNER of the outermost tile's box's
 * (an item fills less of its tile than that; a frame's inside is a tile
 * again); else the outer item stays: a filled shape (a bag, a pullover)
 * spanning the picture is not a tile, whatever is on it. */
static int look_inside(scene *s, fm_err *e)
{
    scene cur = *s;
    while (s->b.transparent && cur.found && cur.tile < PREP_TILE_DEPTH &&
           prep_tile(cur.item, cur.img.w, cur.img.h, cur.x0, cur.y0, cur.x1, cur.y1)) {
        scene in = {.tile = cur.tile + 1, .ox = cur.ox + cur.x0, .oy = cur.oy + cur.y0};
        int rc = prep_crop(&cur.img, cur.x0, cur.y0, cur.x1, cur.y1, &in.img, e);
        if (rc || (rc = find_item(&in, e))) {
            scene_free(&in);
            if (cur.tile)
                scene_free(&cur);
            return rc;
        }
        size_t n = (size_t)in.img.w * in.img.h, items = 0;
        for (size_t i = 0; i < n; i++)
            items += in.item[i] != 0;
        if (!in.found || items < PREP_TILE_ITEM * n) {
            scene_free(&in);
            break;
        }
        if (cur.tile)
            scene_free(&cur);
        cur = in;
    }
    if (!cur.tile)
        return FM_OK;
    double inner = (double)(cur.x1 - cur.x0 + 1) * (cur.y1 - cur.y0 + 1);
    double outer = (double)(s->x1 - s->x0 + 1) * (s->y1 - s->y0 + 1);
    if (inner > PREP_TILE_INNER * outer) {
        scene_free(&cur);
        return FM_OK;
    }
    scene_free(s);
    *s = cur;
    return FM_OK;
}

/* Steps 2 to 9 on a picture of at most PREP_MAX_SIDE a side. */
static int prepare_small(const image *img, const image_prep_opts *opts, uint8_t out[SIDE * SIDE],
                         image_prep_info *inf, fm_err *e)
{
    scene s = {.img = *img};
    int rc = find_item(&s, e);
    if (!rc)
        rc = look_inside(&s, e);
    if (rc) {
        scene_free(&s);
        return rc;
    }
    inf->transparent_bg = s.b.transparent;
    inf->tile = s.tile;
    prep_ref r;
    prep_polarity(&s.img, &s.b, s.item, opts->invert, &r);
    inf->inverted = r.inverted;
    if (!s.found) {
        scene_free(&s);
        memset(out, 0, SIDE * SIDE);
        inf->empty = 1;
        return FM_OK;
    }
    int bw = s.x1 - s.x0 + 1, bh = s.y1 - s.y0 + 1;
    float *ink = malloc(sizeof(float) * (size_t)bw * bh), res[SIDE * SIDE];
    if (!ink) {
        scene_free(&s);
        return fm_fail(e, FM_ENOMEM, NULL, "out of memory");
    }
    inf->drawing = prep_ink(&s.img, s.item, &r, s.x0, s.y0, s.x1, s.y1, opts->fill, ink);
    inf->box_x = s.ox + s.x0, inf->box_y = s.oy + s.y0, inf->box_w = bw, inf->box_h = bh;
    scene_free(&s);
    rc = prep_resample(ink, bw, bh, res, e);
    free(ink);
    if (rc)
        return rc;
    prep_stretch(res, out);
    return FM_OK;
}

/* Whether step 1 changes img: it is too large, or a transparent pixel has
 * a colour (which reducing zeroes). Else the picture itself is the step's
 * result, without a copy. */
static int reduce_changes(const image *img)
{
    if (img->w > PREP_MAX_SIDE || img->h > PREP_MAX_SIDE)
        return 1;
    const uint8_t *p = img->rgba;
    for (size_t i = 0; i < (size_t)img->w * img->h; i++, p += 4)
        if (p[3] == 0 && (p[0] | p[1] | p[2]))
            return 1;
    return 0;
}

int image_prepare_with(const image *img, const image_prep_opts *opts, uint8_t out[SIDE * SIDE],
                       image_prep_info *info, fm_err *e)
{
    image_prep_info inf;
    memset(&inf, 0, sizeof inf);
    uint8_t res[SIDE * SIDE];
    if (!passthrough(img, opts->invert, res, &inf)) {
        image small = {0, 0, NULL};
        int k = 1, rc;
        if (reduce_changes(img) && (rc = prep_reduce(img, PREP_MAX_SIDE, &small, &k, e)))
            return rc;
        rc = prepare_small(small.rgba ? &small : img, opts, res, &inf, e);
        image_free(&small);
        if (rc)
            return rc;
        /* The box in the picture's own pixels. */
        inf.reduced = k;
        inf.box_x *= k, inf.box_y *= k;
        inf.box_w = inf.box_w * k < img->w - inf.box_x ? inf.box_w * k : img->w - inf.box_x;
        inf.box_h = inf.box_h * k < img->h - inf.box_y ? inf.box_h * k : img->h - inf.box_y;
    }
    memcpy(out, res, sizeof res);
    if (info)
        *info = inf;
    return FM_OK;
}

int image_prepare(const image *img, enum image_invert invert, uint8_t out[SIDE * SIDE],
                  image_prep_info *info, fm_err *e)
{
    image_prep_opts opts = {invert, PREP_FILL};
    return image_prepare_with(img, &opts, out, info, e);
}
