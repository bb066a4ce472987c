/* augment.c: random changes of the training images (see augment.h). */
#include "augment.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "kernels.h"
#include "prep.h"
#include "rng.h"

#define SIDE 28
#define N (SIDE * SIDE)
/* A pixel at or above this level is part of the item (the data set's
 * background is 0, its items' faint edges reach a few levels). */
#define ITEM_LEVEL 24
/* A jump of this many levels between a pixel's neighbours is an edge. */
#define EDGE_JUMP 96

/* ---- the spec ---- */

typedef struct spec_item {
    const char *name;
    size_t off;
    float max;
} spec_item;

#define ITEM(f, m) {#f, offsetof(augment_spec, f), m}
static const spec_item items[] = {
    ITEM(drawn, 1),     ITEM(clean, 1),
    ITEM(outline, 1),   ITEM(silhouette, 1), ITEM(flat, 1),   ITEM(posterize, 1),
    ITEM(pair, 1),      ITEM(tilt, 1),       ITEM(square, 1),
    ITEM(scale, 0.5f),  ITEM(squeeze, 0.5f), ITEM(rotate, 45), ITEM(shift, 8),
    ITEM(flip, 1),      ITEM(fit, 1),        ITEM(blur, 1),       ITEM(gamma, 1),  ITEM(contrast, 1),
    ITEM(noise, 1),
};
#undef ITEM
#define NITEMS (sizeof items / sizeof *items)
_Static_assert(NITEMS * 26 + 1 <= AUGMENT_TEXT_MAX, "AUGMENT_TEXT_MAX too small for every item");

static float *field(augment_spec *s, size_t i)
{
    return (float *)((char *)s + items[i].off);
}

static float cfield(const augment_spec *s, size_t i)
{
    return *(const float *)((const char *)s + items[i].off);
}

augment_spec augment_default(void)
{
    augment_spec s = {0};
    static const char text[] = AUGMENT_DEFAULT_STYLE "," AUGMENT_DEFAULT_GEOMETRY
                               "," AUGMENT_DEFAULT_INTENSITY;
    augment_parse(text, &s, NULL); /* test_augment checks that it parses */
    return s;
}

int augment_active(const augment_spec *s)
{
    for (size_t i = 0; i < NITEMS; i++)
        if (cfield(s, i) != 0)
            return 1;
    return 0;
}

/* One "NAME=VALUE" or "default" of length n into *s. */
static int parse_item(const char *it, size_t n, augment_spec *s, fm_err *e)
{
    if (n == 7 && !strncmp(it, "default", 7)) {
        *s = augment_default();
        return FM_OK;
    }
    const char *eq = memchr(it, '=', n);
    size_t klen = eq ? (size_t)(eq - it) : n;
    for (size_t i = 0; i < NITEMS; i++) {
        if (strlen(items[i].name) != klen || strncmp(items[i].name, it, klen))
            continue;
        char v[32], *end;
        size_t vlen = eq ? n - klen - 1 : 0;
        if (!eq || vlen == 0 || vlen >= sizeof v)
            return fm_fail(e, FM_EINVAL, "--augment", "'%.*s' needs a value: %s=X", (int)n, it,
                           items[i].name);
        memcpy(v, eq + 1, vlen);
        v[vlen] = 0;
        double x = strtod(v, &end);
        const char *d = v + (v[0] == '+' || v[0] == '-'); /* a sign, as every option takes */
        if (*end || !(x >= 0 && x <= items[i].max) || (d[0] != '.' && (d[0] < '0' || d[0] > '9')) ||
            (d[0] == '0' && (d[1] == 'x' || d[1] == 'X'))) /* decimal only, as every option */
            return fm_fail(e, FM_EINVAL, "--augment", "%s: '%s' is not a number in [0, %g]",
                           items[i].name, v, (double)items[i].max);
        *field(s, i) = x == 0 ? 0.0f : (float)x; /* "-0" is 0, as for every option */
        return FM_OK;
    }
    char names[256];
    size_t at = 0;
    for (size_t i = 0; i < NITEMS && at < sizeof names; i++)
        at += (size_t)snprintf(names + at, sizeof names - at, "%s, ", items[i].name);
    return fm_fail(e, FM_EINVAL, "--augment", "'%.*s' is not a transform (%sor default)",
                   (int)(klen < 40 ? klen : 40), it, names);
}

/* x as the shortest decimal that reads back as the same float: of "%.Ng"
 * for N = 1..9, the shortest that does ("10", where "%.1g" gives 1e+01). */
static void float_text(float x, char *v, size_t n)
{
    char t[32];
    v[0] = 0;
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, (double)x);
        if ((float)strtod(t, NULL) == x && (!v[0] || strlen(t) < strlen(v)))
            snprintf(v, n, "%s", t);
    }
}

/* Whether item i is a style: outline, silhouette, flat, posterize. */
static int is_style(size_t i)
{
    return items[i].off >= offsetof(augment_spec, outline) &&
           items[i].off <= offsetof(augment_spec, posterize);
}

/* The nonzero items that pick(i) names, as "name=value, ..." into buf. */
static void list_items(const augment_spec *s, int (*pick)(size_t, const augment_spec *), char *buf,
                       size_t cap)
{
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < NITEMS && at < cap; i++)
        if (cfield(s, i) != 0 && pick(i, s)) {
            char v[32];
            float_text(cfield(s, i), v, sizeof v);
            at += (size_t)snprintf(buf + at, cap - at, "%s%s=%s", at ? ", " : "", items[i].name, v);
        }
}

static int pick_style(size_t i, const augment_spec *s)
{
    (void)s;
    return is_style(i);
}

/* What clean=1 leaves undone: the styles, and with drawn=0 everything
 * after them (a drawn image still takes those). */
static int pick_after_clean(size_t i, const augment_spec *s)
{
    return is_style(i) || (s->drawn == 0 && items[i].off > offsetof(augment_spec, posterize));
}

/* Probabilities that could never take effect, which train would record
 * all the same: the styles are one draw (restyle), so past a sum of 1
 * the later ones lose what they ask for; clean=1 leaves every image it is
 * drawn for as it is. The sum is of the floats kept, with room for their
 * rounding (0.1,0.2,0.3,0.4 is 1). */
static int check_draws(const augment_spec *s, fm_err *e)
{
    char list[AUGMENT_TEXT_MAX];
    double sum = 0;
    for (size_t i = 0; i < NITEMS; i++)
        if (is_style(i))
            sum += (double)cfield(s, i);
    if (sum > 1 + 1e-6) {
        list_items(s, pick_style, list, sizeof list);
        return fm_fail(e, FM_EINVAL, "--augment",
                       "the styles %s sum to %g: each image takes at most one, so their "
                       "probabilities must sum to at most 1", list, sum);
    }
    list_items(s, pick_after_clean, list, sizeof list);
    if (s->clean >= 1 && list[0])
        return fm_fail(e, FM_EINVAL, "--augment",
                       "clean=1 leaves every image%s as it is, so %s would never apply",
                       s->drawn > 0 ? " not drawn" : "", list);
    return FM_OK;
}

int augment_parse(const char *spec, augment_spec *out, fm_err *e)
{
    augment_spec s = {0};
    if (!strcmp(spec, "none")) {
        *out = s;
        return FM_OK;
    }
    if (!*spec)
        return fm_fail(e, FM_EINVAL, "--augment", "needs a list of transforms, or none");
    for (const char *it = spec;;) {
        const char *comma = strchr(it, ',');
        size_t n = comma ? (size_t)(comma - it) : strlen(it);
        if (n == 0)
            return fm_fail(e, FM_EINVAL, "--augment", "an empty item in '%s'", spec);
        int rc = parse_item(it, n, &s, e);
        if (rc)
            return rc;
        if (!comma)
            break;
        it = comma + 1;
    }
    int rc = check_draws(&s, e);
    if (rc)
        return rc;
    *out = s;
    return FM_OK;
}

void augment_format(const augment_spec *s, char *buf, size_t cap)
{
    size_t at = 0;
    if (cap == 0)
        return;
    buf[0] = 0;
    for (size_t i = 0; i < NITEMS; i++) {
        float x = cfield(s, i);
        if (x == 0)
            continue;
        char v[32];
        float_text(x, v, sizeof v);
        int n = snprintf(buf + at, cap - at, "%s%s=%s", at ? "," : "", items[i].name, v);
        if (n < 0 || (size_t)n >= cap - at) {
            buf[at] = 0;
            return;
        }
        at += (size_t)n;
    }
    if (at == 0)
        snprintf(buf, cap, "none");
}

/* ---- exact elementary functions (basic IEEE operations only) ---- */

static double series_sin(double x) /* |x| <= pi/2 (rotate + tilt): error under 1e-7 */
{
    double x2 = x * x;
    return x * (1 - x2 / 6 * (1 - x2 / 20 * (1 - x2 / 42 * (1 - x2 / 72 * (1 - x2 / 110)))));
}

static double series_cos(double x) /* |x| <= pi/2: error under 1e-6 */
{
    double x2 = x * x;
    return 1 - x2 / 2 * (1 - x2 / 12 * (1 - x2 / 30 * (1 - x2 / 56 * (1 - x2 / 90))));
}

/* e^y for y in [-8, 8]: e^(y/16) by its series, then squared four times. */
static double series_exp(double y)
{
    double r = y / 16, t = 1, s = 1;
    for (int k = 1; k <= 12; k++) {
        t = t * r / k;
        s += t;
    }
    for (int i = 0; i < 4; i++)
        s *= s;
    return s;
}

/* ln x for x in [1/256, 1]: 2 atanh((x - 1) / (x + 1)) after halving the
 * range with sqrt-free steps: x = m 2^-k, m in [1/2, 1]. */
static double series_log(double x)
{
    int k = 0;
    while (x < 0.5) {
        x *= 2;
        k++;
    }
    double z = (x - 1) / (x + 1), z2 = z * z, t = z, s = 0;
    for (int i = 1; i <= 41; i += 2) {
        s += t / i;
        t *= z2;
    }
    return 2 * s - k * 0.69314718055994530942;
}

/* ---- the transforms, on one image ---- */

static float uni(rng *r) /* [-1, 1) */
{
    return 2 * rng_uniform(r) - 1;
}

/* The item: pixels at ITEM_LEVEL or more, and the holes they enclose (what
 * the border's background cannot reach, as classify's preprocessing finds
 * an item by a flood fill from the border). */
static void item_mask(const uint8_t *v, uint8_t *mask)
{
    /* One bit per pixel, a row to a word: what the fill reached (seen)
     * grows within the low pixels (low) along rows and from the rows above
     * and below, down and up the image, until nothing changes: the same
     * set as a pixel-by-pixel fill, in a few passes. */
    uint32_t low[SIDE], seen[SIDE];
    const uint32_t ends = 1u | 1u << (SIDE - 1);
    for (int y = 0; y < SIDE; y++) {
        uint32_t m = 0;
        for (int x = 0; x < SIDE; x++)
            m |= (uint32_t)(v[y * SIDE + x] < ITEM_LEVEL) << x;
        low[y] = m;
        seen[y] = y == 0 || y == SIDE - 1 ? m : m & ends;
    }
    for (int changed = 1; changed;) {
        changed = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < SIDE; k++) {
                int y = pass ? SIDE - 1 - k : k;
                uint32_t s = seen[y];
                if (y > 0)
                    s |= seen[y - 1] & low[y];
                if (y < SIDE - 1)
                    s |= seen[y + 1] & low[y];
                for (uint32_t t = 0; t != s;) {
                    t = s;
                    s |= (s << 1 | s >> 1) & low[y];
                }
                changed |= s != seen[y];
                seen[y] = s;
            }
    }
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            mask[y * SIDE + x] = !(seen[y] >> x & 1);
}

/* Images padded with a frame of zeros one pixel wide (warp_pad), so that
 * neighbours need no bounds checks: PS bytes a row. */
#define PS WARP_PAD
_Static_assert(WARP_SIDE == SIDE, "the warp kernels are for 28x28 images");

/* The item's outline (mask pixels next to the background) and its inner
 * edges (a large jump between opposite neighbours). */
static void edges(const uint8_t *v, const uint8_t *mask, uint8_t *edge)
{
    uint8_t pv[WARP_BYTES], pm[WARP_BYTES];
    warp_pad(v, pv);
    warp_pad(mask, pm);
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int i = (y + 1) * PS + x + 1, e = 0;
            if (pm[i]) {
                e = !pm[i - 1] || !pm[i + 1] || !pm[i - PS] || !pm[i + PS];
                int gx = pv[i + 1] - pv[i - 1], gy = pv[i + PS] - pv[i - PS];
                e |= abs(gx) + abs(gy) >= EDGE_JUMP;
            }
            edge[y * SIDE + x] = (uint8_t)e;
        }
}

/* Edges one pixel wider, inwards (within the item). */
static void thicken(uint8_t *edge, const uint8_t *mask)
{
    uint8_t t[WARP_BYTES];
    warp_pad(edge, t);
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int i = (y + 1) * PS + x + 1;
            if (mask[y * SIDE + x] && !t[i])
                edge[y * SIDE + x] = (uint8_t)(t[i - 1] || t[i + 1] || t[i - PS] || t[i + PS]);
        }
}

enum { STYLE_NONE, STYLE_OUTLINE, STYLE_SILHOUETTE, STYLE_FLAT, STYLE_POSTERIZE };

static void style(int kind, rng *r, const uint8_t *src, uint8_t *dst)
{
    uint8_t mask[N], edge[N];
    item_mask(src, mask);
    if (kind == STYLE_POSTERIZE) {
        int k = 2 + (rng_uniform(r) < 0.5f);
        for (int i = 0; i < N; i++)
            dst[i] = mask[i] ? (uint8_t)((src[i] * k / 256 + 1) * 255 / k) : 0;
        return;
    }
    edges(src, mask, edge);
    if (kind != STYLE_SILHOUETTE && rng_uniform(r) < 0.5f)
        thicken(edge, mask); /* drawn lines are often 2 pixels wide at 28x28 */
    int fill = kind == STYLE_SILHOUETTE ? 255 : kind == STYLE_FLAT ? 40 + (int)(160 * rng_uniform(r)) : 0;
    for (int i = 0; i < N; i++)
        dst[i] = (uint8_t)(!mask[i] ? 0 : edge[i] && kind != STYLE_SILHOUETTE ? 255 : fill);
}

/* Two copies of the item, shrunk by k, the front one dx to the right and
 * dy * k down (frame pixels) and hiding the back one where it has item;
 * sometimes the front one mirrored (a left and a right shoe), and the
 * pair centred. It is often wider than the frame (28k + dx up to 39
 * pixels): then the frame cuts both shoes at its sides, as a close-up
 * does. (A pair shrunk to stay whole was measured and did worse: 59.6%
 * of the development set against 61.0%, 4 seeds.) fit then frames it. */
static void pair(rng *r, const uint8_t *src, uint8_t *dst)
{
    double k = 0.55 + 0.2 * (double)rng_uniform(r);
    double dx = SIDE * (0.3 + 0.35 * (double)rng_uniform(r)), dy = SIDE * 0.15 * (double)uni(r);
    int mirror = rng_uniform(r) < 0.3f;
    double w = SIDE * k + dx, h = SIDE * k + fabs(dy) * k;
    double ox = (SIDE - w) / 2, oy = (SIDE - h) / 2 + (dy < 0 ? -dy * k : 0);
    uint8_t pv[WARP_BYTES];
    warp_pad(src, pv);
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            double bu = (x - ox) / k, bw = (y - oy) / k;
            double fu = (x - ox - dx) / k, fw = (y - oy - dy * k) / k;
            if (mirror)
                fu = SIDE - 1 - fu;
            double front = warp_sample(pv, fu, fw);
            double v = front >= ITEM_LEVEL / 2 ? front : warp_sample(pv, bu, bw);
            dst[y * SIDE + x] = (uint8_t)(v + 0.5);
        }
}

/* What tilt and square add to the geometry of one image. */
typedef struct extra {
    double tilt;       /* degrees */
    double shrink;     /* both sides times this, so a tilted item stays in the frame */
    double wide, tall; /* width and height times these */
} extra;

/* Scale, squeeze, rotation (and the extra), shift and flip about the
 * centre, sampled bilinearly (zero outside). */
static void geometry(const augment_spec *s, rng *r, const extra *ex, warp_fn warp,
                     const uint8_t *src, uint8_t *dst)
{
    double th = ((double)(s->rotate * uni(r)) + ex->tilt) * (3.14159265358979323846 / 180);
    double sc = (1 + (double)(s->scale * uni(r))) * ex->shrink, sq = 1 + (double)(s->squeeze * uni(r));
    double tx = (double)(s->shift * uni(r)), ty = (double)(s->shift * uni(r));
    double sx = sc * sq * ex->wide, sy = sc / sq * ex->tall;
    if (rng_uniform(r) < s->flip)
        sx = -sx;
    double c = series_cos(th), sn = series_sin(th), ctr = (SIDE - 1) / 2.0;
    double dxs[SIDE];
    _Alignas(4) uint8_t pv[WARP_BYTES];
    warp_pad(src, pv);
    for (int x = 0; x < SIDE; x++)
        dxs[x] = x - ctr - tx;
    for (int y = 0; y < SIDE; y++) {
        /* a row's coordinates first, in a loop the compiler vectorises
         * (the same divisions, two at a time), then its samples */
        double dy = y - ctr - ty, us[SIDE], ws[SIDE];
        for (int x = 0; x < SIDE; x++) {
            us[x] = (c * dxs[x] + sn * dy) / sx + ctr;
            ws[x] = (-sn * dxs[x] + c * dy) / sy + ctr;
        }
        warp(dst + y * SIDE, pv, us, ws, SIDE);
    }
}

/* The box of the item's pixels over 5% of 255 (as classify trims):
 * columns x0..x1, rows y0..y1; x1 is -1 when there are none. */
static void item_box(const uint8_t *v, int *x0, int *y0, int *x1, int *y1)
{
    *x0 = *y0 = SIDE;
    *x1 = *y1 = -1;
    /* each row from both ends (pixel by pixel, this was 6% of the robust
     * recipe's time) */
    for (int y = 0; y < SIDE; y++) {
        const uint8_t *row = v + y * SIDE;
        int a = 0, b = SIDE - 1;
        while (a < SIDE && row[a] <= 12)
            a++;
        if (a == SIDE)
            continue;
        while (row[b] <= 12)
            b--;
        *x0 = a < *x0 ? a : *x0;
        *x1 = b > *x1 ? b : *x1;
        *y0 = y < *y0 ? y : *y0;
        *y1 = y;
    }
}

/* The item's box scaled and centred to fill the frame along its longest
 * side, as classify's preprocessing does (prep_resample), so that
 * training sees items framed as classify frames them. */
static void refit(uint8_t *v)
{
    int x0, y0, x1, y1;
    item_box(v, &x0, &y0, &x1, &y1);
    if (x1 < 0 || (x1 - x0 == SIDE - 1 && y0 == 0) || (y1 - y0 == SIDE - 1 && x0 == 0))
        return;
    int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    float ink[N], res[N];
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++)
            ink[y * bw + x] = v[(y + y0) * SIDE + x + x0];
    if (prep_resample(ink, bw, bh, res, NULL))
        return;
    for (int i = 0; i < N; i++)
        v[i] = (uint8_t)(res[i] < 0 ? 0 : res[i] > 255 ? 255 : res[i] + 0.5f);
}

/* (a + 2b + c + 2) / 4 along rows, then along columns, zero outside. */
static void blur(uint8_t *v)
{
    uint8_t t[N];
    for (int y = 0; y < SIDE; y++) {
        const uint8_t *p = v + y * SIDE;
        uint8_t *q = t + y * SIDE;
        q[0] = (uint8_t)((2 * p[0] + p[1] + 2) / 4);
        for (int x = 1; x < SIDE - 1; x++)
            q[x] = (uint8_t)((p[x - 1] + 2 * p[x] + p[x + 1] + 2) / 4);
        q[SIDE - 1] = (uint8_t)((p[SIDE - 2] + 2 * p[SIDE - 1] + 2) / 4);
    }
    for (int x = 0; x < SIDE; x++) {
        v[x] = (uint8_t)((2 * t[x] + t[SIDE + x] + 2) / 4);
        v[N - SIDE + x] = (uint8_t)((t[N - 2 * SIDE + x] + 2 * t[N - SIDE + x] + 2) / 4);
    }
    for (int i = SIDE; i < N - SIDE; i++)
        v[i] = (uint8_t)((t[i - SIDE] + 2 * t[i] + t[i + SIDE] + 2) / 4);
}

/* Levels to the power g = 2^(k/16), k in -16..16: one table per k, made
 * once (series_exp of 255 levels per image would cost more than the rest
 * of the augmentation). */
#define GAMMAS 33
static uint8_t gamma_lut[GAMMAS][256];
static pthread_once_t gamma_once = PTHREAD_ONCE_INIT;

static void gamma_init(void)
{
    for (int k = 0; k < GAMMAS; k++) {
        double g = series_exp(0.69314718055994530942 * (k - GAMMAS / 2) / 16);
        gamma_lut[k][0] = 0;
        for (int i = 1; i < 256; i++)
            gamma_lut[k][i] = (uint8_t)(255 * series_exp(g * series_log(i / 255.0)) + 0.5);
    }
}

static void gamma(rng *r, uint8_t *v)
{
    pthread_once(&gamma_once, gamma_init);
    const uint8_t *lut = gamma_lut[rng_below(r, GAMMAS)];
    for (int i = 0; i < N; i++)
        v[i] = lut[v[i]];
}

static void contrast(rng *r, uint8_t *v)
{
    int c = 90 + (int)(166 * rng_uniform(r)); /* keep c/256 of each pixel's darkness */
    for (int i = 0; i < N; i++)
        if (v[i] >= ITEM_LEVEL)
            v[i] = (uint8_t)(255 - (255 - v[i]) * c / 256);
}

static void noise(rng *r, uint8_t *v)
{
    for (int i = 0; i < N; i++)
        if (v[i]) {
            int x = v[i] + (int)(rng_below(r, 49)) - 24;
            v[i] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
        }
}

uint64_t augment_key(uint64_t seed, long step)
{
    uint64_t z = seed * 0x9e3779b97f4a7c15u ^ ((uint64_t)step + 0x6a09e667f3bcc909u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int geometric(const augment_spec *s)
{
    return s->scale || s->squeeze || s->rotate || s->shift || s->flip || s->tilt || s->square;
}

/* Icons are drawn to fill a square: a long, low shoe comes out taller, a
 * long, narrow pair of trousers wider. The item's short side is made
 * (long / short)^k times longer, k uniform in [0, 0.5] (at most the
 * geometric mean of the sides: it stays in the frame). */
static void squarer(rng *r, const uint8_t *v, extra *ex)
{
    int x0, y0, x1, y1;
    item_box(v, &x0, &y0, &x1, &y1);
    double k = 0.5 * (double)rng_uniform(r);
    if (x1 < 0)
        return;
    int w = x1 - x0 + 1, h = y1 - y0 + 1;
    double f = series_exp(-k * series_log(w < h ? (double)w / h : (double)h / w));
    if (w < h)
        ex->wide = f;
    else
        ex->tall = f;
}

/* A sandal, sneaker or ankle boot: the classes pair and tilt change. */
static int shoe(int label)
{
    return label == 5 || label == 7 || label == 9;
}

/* At most one style, drawn with the spec's probabilities. */
static void restyle(const augment_spec *s, rng *r, const uint8_t *src, uint8_t *t)
{
    float u = rng_uniform(r);
    int kind = u < s->outline ? STYLE_OUTLINE
               : u < s->outline + s->silhouette ? STYLE_SILHOUETTE
               : u < s->outline + s->silhouette + s->flat ? STYLE_FLAT
               : u < s->outline + s->silhouette + s->flat + s->posterize ? STYLE_POSTERIZE
                                                                          : STYLE_NONE;
    if (kind != STYLE_NONE)
        style(kind, r, src, t);
    else
        memcpy(t, src, N);
}

/* augment_image with the warp kernel given. */
static void augment_one(const augment_spec *s, const uint8_t *src, int label, uint64_t key, int b,
                        warp_fn warp, uint8_t *dst)
{
    rng r;
    rng_seed(&r, key ^ ((uint64_t)b + 1) * 0xd1b54a32d192ed03u);
    uint8_t t[N];
    if (s->drawn > 0 && label >= 0 && label <= 9 && rng_uniform(&r) < s->drawn) {
        draw_item(label, &r, t);
    } else if (rng_uniform(&r) < s->clean) {
        memcpy(dst, src, N);
        return;
    } else {
        restyle(s, &r, src, t);
    }
    if (s->pair > 0 && shoe(label) && rng_uniform(&r) < s->pair) {
        uint8_t one[N];
        memcpy(one, t, N);
        pair(&r, one, t);
    }
    extra ex = {0, 1, 1, 1};
    if (s->tilt > 0 && shoe(label) && rng_uniform(&r) < s->tilt) {
        /* drawn shoes are often turned, toe down: 15 to 45 degrees either way */
        float turn = uni(&r);
        ex.tilt = (turn < 0 ? -15 : 15) + 30 * (double)turn;
        ex.shrink = 0.7;
    }
    if (s->square > 0 && rng_uniform(&r) < s->square)
        squarer(&r, t, &ex);
    if (geometric(s))
        geometry(s, &r, &ex, warp, t, dst);
    else
        memcpy(dst, t, N);
    if (rng_uniform(&r) < s->fit)
        refit(dst);
    if (rng_uniform(&r) < s->blur)
        blur(dst);
    if (rng_uniform(&r) < s->gamma)
        gamma(&r, dst);
    if (rng_uniform(&r) < s->contrast)
        contrast(&r, dst);
    if (rng_uniform(&r) < s->noise)
        noise(&r, dst);
    draw_stretch(dst);
}

void augment_image(const augment_spec *s, const uint8_t *src, int label, uint64_t key, int b,
                   uint8_t *dst)
{
    augment_one(s, src, label, key, b, kernel_find(NULL)->warp, dst);
}

typedef struct batch_ctx {
    const augment_spec *s;
    const uint8_t *images, *labels;
    const uint32_t *idx;
    int B, chunks;
    uint64_t key;
    warp_fn warp;
    uint8_t *dst;
} batch_ctx;

static void batch_chunk(void *arg, int chunk, int thread)
{
    batch_ctx *c = arg;
    (void)thread;
    int b0, b1;
    pool_chunk(c->B, c->chunks, chunk, 1, &b0, &b1);
    for (int b = b0; b < b1; b++)
        augment_one(c->s, c->images + (size_t)c->idx[b] * N, c->labels ? c->labels[c->idx[b]] : -1,
                    c->key, b, c->warp, c->dst + (size_t)b * N);
}

void augment_batch(const augment_spec *s, const uint8_t *images, const uint8_t *labels,
                   const uint32_t *idx, int B, uint64_t key, uint8_t *dst, pool *p,
                   const kernel_impl *k)
{
    int chunks = B < 8 ? B : 8;
    batch_ctx c = {s, images, labels, idx, B, chunks, key, (k ? k : kernel_find(NULL))->warp, dst};
    pool_run(p, chunks, batch_chunk, &c);
}
