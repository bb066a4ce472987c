/* draw.c: drawings of clothing from parametric sketches (see draw.h).
 *
 * A sketch is a few closed outlines (the item's body), open lines drawn
 * over them (seams, collars, pockets), lines drawn behind them (straps,
 * handles) and dots (buttons), in unit coordinates, y down. It is scaled
 * to fill a 112x112 canvas, filled and stroked there, and averaged down
 * 4x4 to 28x28. */
#include "draw.h"

#include <math.h>
#include <string.h>

#define SIDE 28
#define SS 4               /* samples per pixel, each way */
#define CV (SIDE * SS)     /* the canvas' side */
#define MAXPTS 28          /* points of one path */
#define MAXBODY DRAW_MAX_BODY
#define MAXLINE DRAW_MAX_LINE
#define MAXBACK DRAW_MAX_BACK
#define MAXDOT DRAW_MAX_DOT

typedef struct pt {
    float x, y;
} pt;

typedef struct path {
    int n;
    pt p[MAXPTS];
} path;

/* Each array has one slot more than it may use: a sketch asking for too
 * many parts gets that spare slot, never drawn, instead of overwriting a
 * part (asked[] counts what it asked for; test_draw checks it never asks
 * too much). */
typedef struct sketch {
    int nbody, nline, nback, ndot;
    int asked[4]; /* bodies, lines, backs, dots */
    path body[MAXBODY + 1]; /* closed outlines, filled */
    path line[MAXLINE + 1]; /* open lines over the body */
    path back[MAXBACK + 1]; /* open lines behind it, backw times the stroke */
    float backw[MAXBACK + 1];
    pt dot[MAXDOT];
    float dotr[MAXDOT];
} sketch;

/* cos and sin of 15k degrees, k = 0..23 (no libm: the same bits on every
 * CPU). */
static const pt circle[24] = {
    {1.0000000f, 0.0000000f},   {0.9659258f, 0.2588190f},   {0.8660254f, 0.5000000f},
    {0.7071068f, 0.7071068f},   {0.5000000f, 0.8660254f},   {0.2588190f, 0.9659258f},
    {0.0000000f, 1.0000000f},   {-0.2588190f, 0.9659258f},  {-0.5000000f, 0.8660254f},
    {-0.7071068f, 0.7071068f},  {-0.8660254f, 0.5000000f},  {-0.9659258f, 0.2588190f},
    {-1.0000000f, 0.0000000f},  {-0.9659258f, -0.2588190f}, {-0.8660254f, -0.5000000f},
    {-0.7071068f, -0.7071068f}, {-0.5000000f, -0.8660254f}, {-0.2588190f, -0.9659258f},
    {0.0000000f, -1.0000000f},  {0.2588190f, -0.9659258f},  {0.5000000f, -0.8660254f},
    {0.7071068f, -0.7071068f},  {0.8660254f, -0.5000000f},  {0.9659258f, -0.2588190f},
};

/* ---- building a sketch ----
 *
 * Each random number is drawn in a statement or declarator of its own: the
 * order in which a call's arguments are evaluated is unspecified in C, and
 * gcc takes them in another order on arm64 than on x86-64 (test_draw's
 * pinned CRC caught it under qemu). */

static float U(rng *r, float a, float b)
{
    return a + (b - a) * rng_uniform(r);
}

static int chance(rng *r, float p)
{
    return rng_uniform(r) < p;
}

/* The next free path of an array of max (+ 1 spare), counted in *asked. */
static path *next(path *a, int *n, int max, int *asked)
{
    path *p = &a[*n < max ? (*n)++ : max];
    (*asked)++;
    p->n = 0;
    return p;
}

static path *body(sketch *s)
{
    return next(s->body, &s->nbody, MAXBODY, &s->asked[0]);
}

static path *line(sketch *s)
{
    return next(s->line, &s->nline, MAXLINE, &s->asked[1]);
}

static path *back(sketch *s, float w)
{
    path *p = next(s->back, &s->nback, MAXBACK, &s->asked[2]);
    s->backw[p - s->back] = w;
    return p;
}

static void put(path *p, float x, float y)
{
    if (p->n < MAXPTS) {
        p->p[p->n].x = x;
        p->p[p->n].y = y;
        p->n++;
    }
}

static void seg(sketch *s, float x0, float y0, float x1, float y1)
{
    path *p = line(s);
    put(p, x0, y0);
    put(p, x1, y1);
}

/* A line through three points (a V, a collar's point, a strap). */
static void line3(sketch *s, float x0, float y0, float x1, float y1, float x2, float y2)
{
    path *p = line(s);
    put(p, x0, y0);
    put(p, x1, y1);
    put(p, x2, y2);
}

/* A segment and its mirror image about x = 0.5. */
static void seg2(sketch *s, float x0, float y0, float x1, float y1)
{
    seg(s, x0, y0, x1, y1);
    seg(s, 1 - x0, y0, 1 - x1, y1);
}

static void dot(sketch *s, float x, float y, float r)
{
    s->asked[3]++;
    if (s->ndot < MAXDOT) {
        s->dot[s->ndot].x = x;
        s->dot[s->ndot].y = y;
        s->dotr[s->ndot++] = r;
    }
}

/* Appends the mirror image (about x = 0.5) of points from..n-1, in reverse
 * order: a left half becomes a symmetric outline. */
static void mirror_tail(path *p, int from)
{
    for (int i = p->n - 1; i >= from; i--)
        put(p, 1 - p->p[i].x, p->p[i].y);
}

/* An ellipse's arc about (cx, cy), radii rx, ry, from 15*k0 to 15*k1
 * degrees (clockwise on the page: 0 is right, 90 down). */
static void arc(path *p, float cx, float cy, float rx, float ry, int k0, int k1)
{
    for (int k = k0; k <= k1; k++)
        put(p, cx + rx * circle[k % 24].x, cy + ry * circle[k % 24].y);
}

/* Half an ellipse from its left end to its right end through the top. */
static void arc_up(path *p, float cx, float cy, float rx, float ry)
{
    arc(p, cx, cy, rx, ry, 12, 24);
}

/* ---- the upper garments: T-shirt, pullover, coat, shirt ---- */

enum { SLEEVE_NONE, SLEEVE_SHORT, SLEEVE_LONG };
enum { NECK_ROUND, NECK_V, NECK_HIGH };

typedef struct top {
    float nw;  /* half the neck's width */
    float bw;  /* half the body's width */
    float hem; /* the hem's height */
} top;

/* The left sleeve, from the shoulder (sx, sy) along a direction spread
 * from hanging by `spread` (the tangent of its angle), length len, width
 * sw; puts its outer end and inner end on p, and returns the unit
 * direction (for the cuff). */
static pt sleeve(path *p, float sx, float sy, float spread, float len, float sw, pt *end)
{
    float norm = sqrtf(1 + spread * spread);
    pt d = {-spread / norm, 1 / norm};
    float ex = sx + d.x * len, ey = sy + d.y * len;
    end[0].x = ex - 0.02f;
    end[0].y = ey - 0.01f;
    end[1].x = ex + d.y * sw;
    end[1].y = ey - d.x * sw;
    put(p, end[0].x, end[0].y);
    put(p, end[1].x, end[1].y);
    return d;
}

/* An upper garment's outline, symmetric about x = 0.5: neck, shoulder,
 * sleeve, armpit, side, hem; with seams along long sleeves and cuffs. */
static top top_body(sketch *s, rng *r, int kind, int neck, float len, float width, float spread)
{
    top t = {U(r, 0.08f, 0.14f), width / 2, len};
    float sh = U(r, 0.06f, 0.12f), arm = U(r, 0.30f, 0.40f);
    float side = 0.5f - t.bw;
    path *p = body(s);
    put(p, 0.5f - t.nw, 0);
    pt end[2] = {{0, 0}, {0, 0}}, d = {0, 1};
    if (kind == SLEEVE_NONE) { /* a vest: straps over the shoulders, deep armholes */
        float strap = U(r, 0.04f, 0.1f);
        put(p, 0.5f - t.nw - strap, 0);
        put(p, side + U(r, 0.04f, 0.12f), arm * 0.6f);
        put(p, side, arm + 0.05f);
    } else {
        float len_s = kind == SLEEVE_SHORT ? U(r, 0.22f, 0.32f) : U(r, 0.6f, 0.85f);
        put(p, side, sh);
        d = sleeve(p, side, sh + 0.02f, spread, len_s, U(r, 0.13f, 0.18f), end);
        put(p, side + 0.01f, arm + (kind == SLEEVE_LONG ? 0.05f : 0));
    }
    put(p, side, t.hem);
    mirror_tail(p, 0);
    if (neck == NECK_ROUND) {
        float dd = U(r, 0.05f, 0.1f);
        put(p, 0.5f + t.nw * 0.7f, dd * 0.7f);
        put(p, 0.5f, dd);
        put(p, 0.5f - t.nw * 0.7f, dd * 0.7f);
    } else if (neck == NECK_V) {
        put(p, 0.5f, U(r, 0.15f, 0.28f));
    } else { /* a high neck: a band above the shoulders */
        path *b = body(s);
        float h = U(r, 0.06f, 0.12f);
        put(b, 0.5f - t.nw, 0.03f);
        put(b, 0.5f - t.nw, -h);
        put(b, 0.5f + t.nw, -h);
        put(b, 0.5f + t.nw, 0.03f);
    }
    if (kind == SLEEVE_LONG && chance(r, 0.6f)) /* the sleeve's seam */
        seg2(s, side + 0.01f, arm + 0.05f, end[1].x, end[1].y);
    if (kind == SLEEVE_LONG && chance(r, 0.5f)) { /* cuffs */
        float c = U(r, 0.05f, 0.09f);
        seg2(s, end[0].x - d.x * c, end[0].y - d.y * c, end[1].x - d.x * c, end[1].y - d.y * c);
    }
    return t;
}

static void tshirt(sketch *s, rng *r)
{
    int kind = chance(r, 0.3f) ? SLEEVE_NONE : SLEEVE_SHORT;
    float spread = U(r, 0.7f, 2.7f), width = U(r, 0.55f, 0.7f), len = U(r, 0.85f, 1.0f);
    int neck = chance(r, 0.7f) ? NECK_ROUND : NECK_V;
    top t = top_body(s, r, kind, neck, len, width, spread);
    if (chance(r, 0.4f)) /* the neck's band */
        line3(s, 0.5f - t.nw, 0, 0.5f, U(r, 0.06f, 0.12f), 0.5f + t.nw, 0);
    if (chance(r, 0.3f)) { /* a stripe or a sash */
        float y = U(r, 0.35f, 0.6f), tilt = chance(r, 0.5f) ? U(r, -0.3f, 0.3f) : 0;
        seg(s, 0.5f - t.bw + 0.02f, y - tilt, 0.5f + t.bw - 0.02f, y + tilt);
    }
}

/* A blouse: short sleeves, a round collar of two flaps, buttons. */
static void blouse(sketch *s, rng *r)
{
    float spread = U(r, 0.7f, 2.1f), width = U(r, 0.55f, 0.7f), len = U(r, 0.8f, 0.95f);
    top t = top_body(s, r, SLEEVE_SHORT, NECK_ROUND, len, width, spread);
    float ry = U(r, 0.06f, 0.12f);
    for (int side = -1; side <= 1; side += 2)
        arc(line(s), 0.5f + side * t.nw * 0.5f, 0.02f, t.nw * 0.55f, ry, 0, 12);
    int nb = 2 + (int)rng_below(r, 3);
    for (int i = 0; i < nb; i++)
        dot(s, 0.5f, 0.1f + ry + i * 0.1f, 0.02f);
}

/* A shirt or a blouse: a collar, a button placket, perhaps a pocket. */
static void shirt(sketch *s, rng *r)
{
    if (chance(r, 0.3f)) {
        blouse(s, r);
        return;
    }
    int kind = chance(r, 0.7f) ? SLEEVE_LONG : SLEEVE_SHORT;
    float spread = kind == SLEEVE_LONG ? U(r, 0.18f, 1.0f) : U(r, 0.7f, 2.1f);
    float width = U(r, 0.55f, 0.7f), len = U(r, 0.85f, 1.0f);
    top t = top_body(s, r, kind, NECK_V, len, width, spread);
    float cy = U(r, 0.12f, 0.2f);
    for (int side = -1; side <= 1; side += 2) /* the collar's points */
        line3(s, 0.5f + side * t.nw, 0, 0.5f + side * t.nw * 0.5f, cy, 0.5f, cy * 0.6f);
    seg(s, 0.5f, cy * 0.6f, 0.5f, t.hem);
    int nb = 3 + (int)rng_below(r, 4);
    for (int i = 0; i < nb; i++)
        dot(s, 0.53f, cy + (t.hem - cy) * (i + 0.5f) / 6, 0.018f);
    if (chance(r, 0.5f)) { /* a pocket */
        float x0 = 0.5f + U(r, 0.08f, 0.12f);
        path *p = line(s);
        put(p, x0, 0.3f);
        put(p, x0 + 0.12f, 0.3f);
        put(p, x0 + 0.12f, 0.42f);
        put(p, x0, 0.42f);
        put(p, x0, 0.3f);
    }
}

/* A pullover, a sweatshirt or a hoodie: round neck or hood, ribbed hem. */
static void pullover(sketch *s, rng *r)
{
    float u = rng_uniform(r);
    int hood = u < 0.35f;
    float spread = U(r, 0.09f, 0.84f), width = U(r, 0.6f, 0.72f), len = U(r, 0.8f, 0.95f);
    top t = top_body(s, r, SLEEVE_LONG, u > 0.8f ? NECK_HIGH : NECK_ROUND, len, width, spread);
    if (hood) {
        float hw = t.nw * U(r, 1.2f, 1.6f);
        path *p = body(s);
        put(p, 0.5f - hw, 0.05f);
        put(p, 0.5f - hw * 0.9f, -0.12f);
        put(p, 0.5f, -0.18f);
        put(p, 0.5f + hw * 0.9f, -0.12f);
        put(p, 0.5f + hw, 0.05f);
        put(p, 0.5f, 0.12f);
        if (chance(r, 0.6f)) { /* the front pocket */
            path *q = line(s);
            put(q, 0.35f, t.hem - 0.08f);
            put(q, 0.38f, t.hem - 0.3f);
            put(q, 0.62f, t.hem - 0.3f);
            put(q, 0.65f, t.hem - 0.08f);
        }
        if (chance(r, 0.5f)) /* the drawstrings */
            seg2(s, 0.46f, 0.08f, 0.46f, 0.25f);
    } else if (u <= 0.8f) { /* the neck's band */
        line3(s, 0.5f - t.nw, 0, 0.5f, U(r, 0.07f, 0.12f), 0.5f + t.nw, 0);
    }
    if (chance(r, 0.7f)) { /* the ribbed hem */
        float y = t.hem - U(r, 0.06f, 0.1f);
        seg(s, 0.5f - t.bw, y, 0.5f + t.bw, y);
    }
    if (chance(r, 0.25f)) { /* a knitted pattern: a zigzag */
        path *p = line(s);
        float y = U(r, 0.3f, 0.6f);
        for (float x = 0.5f - t.bw + 0.03f; x < 0.5f + t.bw - 0.03f; x += 0.06f)
            put(p, x, y + (p->n % 2) * 0.04f);
    }
}

/* A coat or a jacket: open at the front, lapels, buttons, pockets. */
static void coat(sketch *s, rng *r)
{
    float len = chance(r, 0.6f) ? U(r, 1.05f, 1.45f) : U(r, 0.85f, 1.0f);
    float spread = U(r, 0.09f, 0.7f), width = U(r, 0.6f, 0.75f);
    top t = top_body(s, r, SLEEVE_LONG, NECK_V, len, width, spread);
    float vy = U(r, 0.25f, 0.4f);
    seg2(s, 0.5f - t.nw, 0, 0.5f - U(r, 0, 0.08f), vy);
    seg(s, 0.5f, vy, 0.5f, t.hem);
    if (chance(r, 0.6f)) /* lapels */
        for (int side = -1; side <= 1; side += 2)
            line3(s, 0.5f + side * t.nw, 0, 0.5f + side * (t.nw + 0.06f), 0.12f,
                  0.5f + side * 0.02f, vy);
    int nb = 2 + (int)rng_below(r, 3), both = chance(r, 0.7f);
    for (int i = 0; i < nb; i++) {
        float y = vy + (t.hem - vy) * (i + 0.5f) / (nb + 1);
        dot(s, 0.44f, y, 0.02f);
        if (both)
            dot(s, 0.56f, y, 0.02f);
    }
    if (chance(r, 0.6f)) { /* pockets */
        float y = vy + (t.hem - vy) * 0.55f;
        seg2(s, 0.5f - t.bw + 0.06f, y, 0.38f, y);
    }
    if (chance(r, 0.3f)) { /* a belt */
        float y = vy + 0.1f;
        seg(s, 0.5f - t.bw, y, 0.5f + t.bw, y);
    }
    if (chance(r, 0.25f)) /* quilted */
        for (int k = 1; k < 4; k++) {
            float y = 0.2f + k * (t.hem - 0.2f) / 4;
            seg(s, 0.5f - t.bw, y, 0.5f + t.bw, y);
        }
}

/* ---- dress and trousers ---- */

static void dress(sketch *s, rng *r)
{
    float wy = U(r, 0.3f, 0.45f), ww = U(r, 0.1f, 0.16f), tw = U(r, 0.14f, 0.22f);
    float hw = U(r, 0.3f, 0.6f), hem = U(r, 0.95f, 1.7f);
    path *p = body(s);
    put(p, 0.44f, 0);
    if (chance(r, 0.5f)) { /* straps */
        put(p, 0.5f - tw, 0);
        put(p, 0.5f - tw, 0.12f);
    } else { /* short sleeves */
        put(p, 0.5f - tw, 0.02f);
        put(p, 0.5f - tw - 0.12f, 0.12f);
        put(p, 0.5f - tw - 0.06f, 0.2f);
        put(p, 0.5f - tw + 0.01f, 0.17f);
    }
    put(p, 0.5f - ww, wy);
    put(p, 0.5f - hw, hem);
    mirror_tail(p, 0);
    put(p, 0.5f, U(r, 0.06f, 0.14f));
    if (chance(r, 0.6f)) /* the waist */
        seg(s, 0.5f - ww, wy, 0.5f + ww, wy);
    if (chance(r, 0.3f)) /* folds */
        for (int k = 0; k < 2; k++) {
            float x = U(r, -0.15f, 0.15f);
            seg(s, 0.5f + x * 0.3f, wy + 0.05f, 0.5f + x, hem - 0.05f);
        }
}

static void trouser(sketch *s, rng *r)
{
    float ww = U(r, 0.18f, 0.26f), hw = U(r, 0.2f, 0.32f), crotch = U(r, 0.28f, 0.42f);
    float hem = U(r, 1.4f, 2.2f), gap = U(r, 0.01f, 0.05f), lw = U(r, 0.14f, 0.22f);
    lw = lw < hw - gap ? lw : hw - gap; /* the legs never cross */
    path *p = body(s);
    put(p, 0.5f - ww, 0);
    put(p, 0.5f + ww, 0);
    put(p, 0.5f + hw, hem);
    put(p, 0.5f + hw - lw, hem);
    put(p, 0.5f + gap, crotch);
    put(p, 0.5f - gap, crotch);
    put(p, 0.5f - hw + lw, hem);
    put(p, 0.5f - hw, hem);
    if (chance(r, 0.7f)) /* the waistband */
        seg(s, 0.5f - ww, 0.07f, 0.5f + ww, 0.07f);
    if (chance(r, 0.5f)) /* the fly */
        seg(s, 0.5f, 0.07f, 0.5f, crotch * 0.8f);
}

/* ---- shoes and bag ---- */

/* A flip-flop's sole seen from above (wider at the toes, at the top) and
 * its V strap. */
static void flipflop(sketch *s, float cx, float top, float h, float w)
{
    path *p = body(s);
    for (int k = 0; k < 24; k++) {
        float c = circle[(k + 18) % 24].x, sn = circle[(k + 18) % 24].y; /* from the top */
        float wid = w * (0.5f - 0.12f * sn) * (sn < 0 ? 1.0f : 0.8f);
        put(p, cx + c * wid, top + h / 2 + sn * h / 2);
    }
    line3(s, cx - w * 0.5f, top + h * 0.45f, cx, top + h * 0.18f, cx + w * 0.5f, top + h * 0.45f);
}

/* A sandal from the side: a sole sloping from the heel to the ball of
 * the foot, often on a high heel, and thin straps arching over the foot
 * with open space between them. */
static void sandal_side(sketch *s, rng *r)
{
    float heel = chance(r, 0.6f) ? U(r, 0.25f, 0.55f) : U(r, 0, 0.08f);
    float t = U(r, 0.05f, 0.09f), ball = U(r, 0.45f, 0.65f), y1 = 0.9f;
    path *p = body(s);
    put(p, 0, y1 - heel);
    put(p, ball * 0.5f, y1 - heel * 0.45f);
    put(p, ball, y1);
    put(p, 1, y1 - 0.01f);
    put(p, 1, y1 + t);
    put(p, ball, y1 + t);
    put(p, ball * 0.5f, y1 - heel * 0.45f + t);
    put(p, 0, y1 - heel + t);
    if (heel > 0.2f) { /* the heel */
        path *h = body(s);
        put(h, 0.01f, y1 - heel + t);
        put(h, 0.1f, y1 - heel + t);
        put(h, 0.08f, y1 + t);
        put(h, 0.05f, y1 + t);
    }
    int n = 1 + (int)rng_below(r, 3);
    for (int k = 0; k < n; k++) { /* straps over the toes and the instep */
        float ry = U(r, 0.1f, 0.25f), rx = U(r, 0.06f, 0.14f), at = U(r, 0.1f, 0.6f);
        arc_up(back(s, U(r, 0.8f, 1.4f)), ball + (1 - ball) * at - 0.1f * k, y1 - 0.02f * k, rx, ry);
    }
    if (chance(r, 0.6f)) { /* the ankle strap */
        float ry = U(r, 0.12f, 0.25f), rx = U(r, 0.08f, 0.12f);
        arc_up(back(s, U(r, 0.8f, 1.4f)), 0.12f, y1 - heel, rx, ry);
    }
}

static void sandal(sketch *s, rng *r)
{
    if (!chance(r, 0.45f)) {
        sandal_side(s, r);
        return;
    }
    float w = U(r, 0.32f, 0.45f); /* from above: one or a pair */
    if (chance(r, 0.6f)) {
        flipflop(s, 0.3f, 0, 1, w);
        flipflop(s, 0.75f, 0.05f, 1, w);
    } else {
        flipflop(s, 0.5f, 0, 1, w);
    }
}

static void sneaker(sketch *s, rng *r)
{
    float y0 = U(r, 0, 0.15f), sole = U(r, 0.08f, 0.14f);
    static const pt upper[] = {{0.0f, 0.6f}, {0.02f, 0.45f}, {0.12f, 0.15f}, {0.2f, 0.0f},
                               {0.42f, 0.05f}, {0.55f, 0.3f}, {0.8f, 0.4f}, {0.97f, 0.5f},
                               {1.0f, 0.6f}};
    path *p = body(s);
    for (int i = 0; i < 9; i++) /* the collar is lower by y0 */
        put(p, upper[i].x, upper[i].y + (i >= 2 && i <= 4 ? y0 : 0));
    put(p, 1, 0.6f + sole);
    put(p, 0, 0.6f + sole);
    seg(s, 0, 0.6f, 1, 0.6f);
    int n = 2 + (int)rng_below(r, 3);
    for (int i = 0; i < n; i++) { /* laces */
        float x = 0.42f + i * 0.07f;
        seg(s, x, 0.3f + i * 0.03f, x + 0.06f, 0.35f + i * 0.03f);
    }
    if (chance(r, 0.5f)) /* a stripe */
        line3(s, 0.3f, 0.5f, 0.6f, 0.42f, 0.8f, 0.35f);
}

/* A backpack: a rounded top, a loop to carry it by, a front pocket, the
 * shoulder straps showing at its sides. */
static void backpack(sketch *s, rng *r)
{
    float w = U(r, 0.6f, 0.85f), h = U(r, 0.7f, 1.0f), ry = U(r, 0.12f, 0.3f), top = 0.15f;
    path *p = body(s);
    arc_up(p, 0.5f, top + ry, w / 2, ry);
    put(p, 0.5f + w / 2, top + h);
    put(p, 0.5f - w / 2, top + h);
    float ly = U(r, 0.08f, 0.15f), lx = U(r, 0.08f, 0.14f); /* the loop */
    arc_up(back(s, 1.2f), 0.5f, top + 0.02f, lx, ly);
    path *q = line(s); /* the front pocket */
    float py = top + h * U(r, 0.45f, 0.6f), pw = w * U(r, 0.3f, 0.4f);
    put(q, 0.5f - pw, top + h);
    put(q, 0.5f - pw, py);
    put(q, 0.5f + pw, py);
    put(q, 0.5f + pw, top + h);
    if (chance(r, 0.6f)) /* the straps */
        for (int side = -1; side <= 1; side += 2) {
            path *st = back(s, 1.2f);
            put(st, 0.5f + side * w * 0.4f, top + ry);
            put(st, 0.5f + side * (w / 2 + 0.05f), top + h * 0.5f);
            put(st, 0.5f + side * w * 0.45f, top + h);
        }
}

/* A handbag or a purse: a body wider at the bottom, a handle, a strap or a
 * clasp, perhaps a flap. */
static void bag(sketch *s, rng *r)
{
    if (chance(r, 0.25f)) {
        backpack(s, r);
        return;
    }
    float w = U(r, 0.7f, 1.0f), h = U(r, 0.45f, 0.7f), top = U(r, 0.3f, 0.5f);
    float tw = w * U(r, 0.7f, 1.0f), kind = rng_uniform(r);
    path *p = body(s);
    if (kind < 0.75f) {
        put(p, 0.5f - tw / 2, top);
        put(p, 0.5f + tw / 2, top);
        put(p, 0.5f + w / 2, top + h);
        put(p, 0.5f - w / 2, top + h);
    } else { /* a purse: round below its frame */
        tw = w;
        arc(p, 0.5f, top, w / 2, h, 0, 12);
    }
    if (kind < 0.5f) { /* a handle */
        arc_up(back(s, 1.4f), 0.5f, top, tw * U(r, 0.25f, 0.4f), top * 0.9f);
    } else if (kind < 0.75f) { /* a shoulder strap */
        arc_up(back(s, 1.4f), 0.5f, top, tw * 0.475f, top * 0.95f);
    } else { /* a purse's clasp */
        dot(s, 0.46f, top - 0.02f, 0.035f);
        dot(s, 0.54f, top - 0.02f, 0.035f);
    }
    if (chance(r, 0.5f)) { /* a flap and its clasp */
        float fy = top + h * U(r, 0.3f, 0.5f);
        path *q = line(s);
        put(q, 0.5f - tw / 2, top);
        put(q, 0.5f - tw / 2 + 0.02f, fy);
        put(q, 0.5f, fy + 0.06f);
        put(q, 0.5f + tw / 2 - 0.02f, fy);
        put(q, 0.5f + tw / 2, top);
        dot(s, 0.5f, fy + 0.04f, 0.03f);
    }
}

/* One boot, toe to the right, moved by (dx, dy): a shaft of height H over
 * the foot (ankle boots to knee-high), flat or on a high heel. */
static void one_boot(sketch *s, float dx, float dy, float H, float toe, float heel)
{
    path *p = body(s);
    static const pt foot[] = {{0.47f, 0.55f}, {0.8f, 0.67f}, {0.98f, 0.77f}, {1.0f, 0.9f}};
    put(p, dx + 0.1f, dy + 1 - H);
    put(p, dx + 0.45f, dy + 1 - H);
    for (int i = 0; i < 4; i++)
        put(p, dx + foot[i].x * (i ? toe : 1), dy + foot[i].y);
    put(p, dx + toe, dy + 1);
    put(p, dx + 0.55f, dy + 1);
    put(p, dx + 0.1f, dy + 1 - heel);
    if (heel > 0.1f) { /* the heel */
        path *h = body(s);
        put(h, dx + 0.1f, dy + 1 - heel);
        put(h, dx + 0.2f, dy + 1 - heel * 0.78f);
        put(h, dx + 0.17f, dy + 1);
        put(h, dx + 0.13f, dy + 1);
    }
}

static void boot(sketch *s, rng *r)
{
    float H = chance(r, 0.6f) ? U(r, 0.6f, 0.9f) : U(r, 0.9f, 1.5f), toe = U(r, 0.85f, 1.15f);
    float heel = chance(r, 0.3f) ? U(r, 0.15f, 0.3f) : 0;
    if (chance(r, 0.3f)) /* a pair: the one behind first */
        one_boot(s, U(r, 0.2f, 0.35f), -0.05f, H, toe, heel);
    one_boot(s, 0, 0, H, toe, heel);
    if (heel == 0)
        seg(s, 0.12f, 0.92f, toe, 0.92f);
    if (chance(r, 0.4f)) { /* laces */
        int n = 2 + (int)rng_below(r, 3);
        for (int i = 0; i < n; i++) {
            float y = 1 - H + 0.1f + i * 0.08f;
            seg(s, 0.4f, y, 0.48f, y + 0.04f);
        }
    }
    if (chance(r, 0.4f)) /* the shaft's rim */
        seg(s, 0.1f, 1.06f - H, 0.45f, 1.06f - H);
}

static void (*const sketches[10])(sketch *, rng *) = {
    tshirt, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, boot,
};

/* ---- rendering ---- */

/* The least integer >= v, for v within the canvas' reach (clamped first:
 * a float beyond int's range, or a NaN, must never reach the cast). */
static int iceil(float v)
{
    if (!(v > -4 * CV))
        return -4 * CV;
    if (v > 4 * CV)
        return 4 * CV;
    int i = (int)v;
    return (float)i < v ? i + 1 : i;
}

/* Fills a closed polygon (even-odd rule, sampled at pixel centres). */
static void fill_poly(uint8_t *cv, const pt *p, int n, uint8_t v)
{
    float y0 = p[0].y, y1 = p[0].y;
    for (int i = 1; i < n; i++) {
        y0 = p[i].y < y0 ? p[i].y : y0;
        y1 = p[i].y > y1 ? p[i].y : y1;
    }
    int ya = iceil(y0 - 0.5f), yb = iceil(y1 - 0.5f);
    ya = ya < 0 ? 0 : ya;
    yb = yb > CV ? CV : yb;
    for (int y = ya; y < yb; y++) {
        float yc = y + 0.5f, xs[MAXPTS * 2 + 4];
        int m = 0;
        for (int i = 0, j = n - 1; i < n; j = i++)
            if ((p[i].y <= yc) != (p[j].y <= yc)) {
                float x = p[j].x + (yc - p[j].y) * (p[i].x - p[j].x) / (p[i].y - p[j].y);
                int k = m++;
                for (; k > 0 && xs[k - 1] > x; k--) /* insertion sort */
                    xs[k] = xs[k - 1];
                xs[k] = x;
            }
        for (int k = 0; k + 1 < m; k += 2) {
            int xa = iceil(xs[k] - 0.5f), xb = iceil(xs[k + 1] - 0.5f);
            xa = xa < 0 ? 0 : xa;
            xb = xb > CV ? CV : xb;
            for (int x = xa; x < xb; x++)
                cv[y * CV + x] = v;
        }
    }
}

/* A disc: on each row, the pixels whose centres are within rad of c. */
static void disc(uint8_t *cv, pt c, float rad, uint8_t v)
{
    int ya = iceil(c.y - rad - 0.5f), yb = iceil(c.y + rad - 0.5f);
    ya = ya < 0 ? 0 : ya;
    yb = yb > CV ? CV : yb;
    for (int y = ya; y < yb; y++) {
        float dy = y + 0.5f - c.y, h2 = rad * rad - dy * dy;
        if (h2 < 0)
            continue;
        float h = sqrtf(h2);
        int xa = iceil(c.x - h - 0.5f), xb = iceil(c.x + h - 0.5f);
        xa = xa < 0 ? 0 : xa;
        xb = xb > CV ? CV : xb;
        for (int x = xa; x < xb; x++)
            cv[y * CV + x] = v;
    }
}

/* A line of width w through n points (closed: back to the first), with
 * round joints. */
static void stroke(uint8_t *cv, const pt *p, int n, int closed, float w, uint8_t v)
{
    int segs = closed ? n : n - 1;
    for (int i = 0; i < segs; i++) {
        pt a = p[i], b = p[(i + 1) % n];
        float dx = b.x - a.x, dy = b.y - a.y, len = sqrtf(dx * dx + dy * dy);
        if (len > 0) {
            float nx = -dy / len * w / 2, ny = dx / len * w / 2;
            pt q[4] = {{a.x + nx, a.y + ny}, {b.x + nx, b.y + ny}, {b.x - nx, b.y - ny},
                       {a.x - nx, a.y - ny}};
            fill_poly(cv, q, 4, v);
        }
    }
    for (int i = 0; i < n; i++)
        disc(cv, p[i], w / 2, v);
}

/* The drawing style's levels: the body's fill, its outline, its details. */
typedef struct ink {
    uint8_t fill, edge, detail;
    float w, dw; /* outline and detail widths, canvas pixels */
} ink;

static ink choose_ink(rng *r)
{
    ink k;
    float u = rng_uniform(r);
    if (u < 0.35f) { /* a line drawing */
        k.fill = 0;
        k.edge = k.detail = 255;
    } else if (u < 0.7f) { /* outlined, as emoji are drawn */
        k.fill = (uint8_t)U(r, 60, 200);
        k.edge = k.detail = (uint8_t)U(r, 180, 255);
    } else if (u < 0.85f) { /* a flat fill, darker details */
        k.fill = k.edge = (uint8_t)U(r, 150, 255);
        k.detail = (uint8_t)(k.fill * U(r, 0.2f, 0.6f));
    } else { /* a filled icon, its details cut out */
        k.fill = k.edge = 255;
        k.detail = 0;
    }
    k.w = U(r, 1.0f, 2.6f) * SS;
    k.dw = k.w * U(r, 0.6f, 1.0f);
    return k;
}

static void grow(float *x0, float *y0, float *x1, float *y1, pt q, float rad)
{
    *x0 = q.x - rad < *x0 ? q.x - rad : *x0;
    *x1 = q.x + rad > *x1 ? q.x + rad : *x1;
    *y0 = q.y - rad < *y0 ? q.y - rad : *y0;
    *y1 = q.y + rad > *y1 ? q.y + rad : *y1;
}

/* Scales the sketch into the canvas: its box (outlines, lines behind,
 * dots) with its longest side filling it, less the widest line's width,
 * centred. */
static void frame(sketch *s, float w)
{
    float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f, widest = 1;
    for (int i = 0; i < s->nbody; i++)
        for (int j = 0; j < s->body[i].n; j++)
            grow(&x0, &y0, &x1, &y1, s->body[i].p[j], 0);
    for (int i = 0; i < s->nback; i++) {
        widest = s->backw[i] > widest ? s->backw[i] : widest;
        for (int j = 0; j < s->back[i].n; j++)
            grow(&x0, &y0, &x1, &y1, s->back[i].p[j], 0);
    }
    for (int i = 0; i < s->ndot; i++)
        grow(&x0, &y0, &x1, &y1, s->dot[i], s->dotr[i]);
    float side = x1 - x0 > y1 - y0 ? x1 - x0 : y1 - y0;
    float k = (CV - w * widest - 2) / (side > 0 ? side : 1);
    float ox = CV / 2.0f - (x0 + x1) / 2 * k, oy = CV / 2.0f - (y0 + y1) / 2 * k;
    path *all[3] = {s->body, s->line, s->back};
    int n[3] = {s->nbody, s->nline, s->nback};
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < n[g]; i++)
            for (int j = 0; j < all[g][i].n; j++) {
                all[g][i].p[j].x = ox + all[g][i].p[j].x * k;
                all[g][i].p[j].y = oy + all[g][i].p[j].y * k;
            }
    for (int i = 0; i < s->ndot; i++) {
        s->dot[i].x = ox + s->dot[i].x * k;
        s->dot[i].y = oy + s->dot[i].y * k;
        s->dotr[i] *= k;
    }
}

static void render(sketch *s, const ink *k, uint8_t *cv)
{
    for (int i = 0; i < s->nback; i++)
        stroke(cv, s->back[i].p, s->back[i].n, 0, k->w * s->backw[i], k->edge);
    for (int i = 0; i < s->nbody; i++) {
        fill_poly(cv, s->body[i].p, s->body[i].n, k->fill);
        stroke(cv, s->body[i].p, s->body[i].n, 1, k->w, k->edge);
    }
    for (int i = 0; i < s->nline; i++)
        stroke(cv, s->line[i].p, s->line[i].n, 0, k->dw, k->detail);
    for (int i = 0; i < s->ndot; i++)
        disc(cv, s->dot[i], s->dotr[i] > 1.5f ? s->dotr[i] : 1.5f, k->detail);
}

void draw_stretch(uint8_t *v)
{
    int mx = 0;
    for (int i = 0; i < SIDE * SIDE; i++)
        mx = v[i] > mx ? v[i] : mx;
    if (mx == 0 || mx == 255)
        return;
    /* (v * 255 + mx / 2) / mx as a multiply and shift, m = 2^32 / mx + d
     * with 0 < d <= 1: the quotient is off by under dividend / 2^32 <
     * 2^-16, less than the 1 / mx the fraction needs to reach the next
     * integer, so it is exact (test_augment checks every v and mx) */
    uint64_t m = ((uint64_t)1 << 32) / (uint64_t)mx + 1;
    for (int i = 0; i < SIDE * SIDE; i++)
        v[i] = (uint8_t)(((uint64_t)(v[i] * 255 + mx / 2) * m) >> 32);
}

/* The canvas averaged down SSxSS, and stretched so its brightest is 255. */
static void reduce(const uint8_t *cv, uint8_t *out)
{
    for (int y = 0; y < SIDE; y++) {
        uint16_t col[CV] = {0}; /* SS rows summed, then SS columns */
        for (int i = 0; i < SS; i++)
            for (int x = 0; x < CV; x++)
                col[x] = (uint16_t)(col[x] + cv[(y * SS + i) * CV + x]);
        for (int x = 0; x < SIDE; x++) {
            int sum = 0;
            for (int j = 0; j < SS; j++)
                sum += col[x * SS + j];
            out[y * SIDE + x] = (uint8_t)((sum + SS * SS / 2) / (SS * SS));
        }
    }
    draw_stretch(out);
}

static int known(int label)
{
    return label >= 0 && label <= 9;
}

/* The sketch of label (0-9) drawn from r. */
static void sketch_of(int label, rng *r, sketch *s)
{
    s->nbody = s->nline = s->nback = s->ndot = 0;
    memset(s->asked, 0, sizeof s->asked);
    sketches[label](s, r);
}

void draw_parts(int label, rng *r, int parts[4])
{
    memset(parts, 0, 4 * sizeof *parts);
    if (!known(label))
        return;
    sketch s;
    sketch_of(label, r, &s);
    memcpy(parts, s.asked, sizeof s.asked);
}

void draw_item(int label, rng *r, uint8_t *out)
{
    memset(out, 0, SIDE * SIDE);
    if (!known(label))
        return;
    sketch s;
    sketch_of(label, r, &s);
    ink k = choose_ink(r);
    frame(&s, k.w);
    uint8_t cv[CV * CV];
    memset(cv, 0, sizeof cv);
    render(&s, &k, cv);
    reduce(cv, out);
}
