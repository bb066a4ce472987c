/* draw.h: drawings of clothing made from a few random numbers, for training.
 *
 * Fashion-MNIST shows every item one way: a product photo, from the front
 * or the side. People draw clothes in other views the data set never
 * shows, and no warp of its photos makes them: a pullover with its sleeves
 * spread, a coat with lapels and buttons, a blouse with a collar, sandals
 * seen from above. draw_item draws such an item from a parametric sketch
 * of its class (the body's outline, its seams, collar, buttons, pockets,
 * straps, handles), with random proportions and one of four drawing
 * styles: a line drawing, an outlined fill (as emoji are drawn), a flat
 * fill with darker details, a filled icon with its details cut out.
 *
 * The sketches were written from how clothes are drawn in general, not
 * traced from any picture; the development set (tests/fixtures/devset*)
 * chose which kinds to add and how often training sees them (augment.h:
 * drawn=P), so it flatters a model trained with them somewhat
 * (docs/pictures.md).
 *
 * Like the rest of the augmentation, only integer arithmetic and basic
 * IEEE float operations (+ - * / and sqrt) are used: the same generator
 * state gives the same bits on every CPU. */
#ifndef FMNIST_DRAW_H
#define FMNIST_DRAW_H

#include <stdint.h>

#include "rng.h"

/* Draws an item of class label (0-9: the data set's classes) into out
 * (28x28 bytes) in the data set's convention: a light item on black, its
 * box's longest side filling the frame, centred, the brightest pixel 255.
 * A label outside 0-9 gives a black image. */
void draw_item(int label, rng *r, uint8_t *out);

/* The brightest pixel of a 28x28 image made 255, the others in proportion:
 * v = (v * 255 + max / 2) / max, in integers (nothing when the image is
 * black or already reaches 255). The last step of draw_item and of the
 * augmentation (augment.h). */
void draw_stretch(uint8_t *v);

/* The most parts a sketch may have: outlines, lines over them, lines
 * behind them, dots. draw_parts puts in parts[0..3] how many of each the
 * sketch of (label, r) asks for, drawing from r as draw_item does; a part
 * beyond the most is left out of the drawing, and test_draw checks that no
 * sketch asks for one. */
enum { DRAW_MAX_BODY = 4, DRAW_MAX_LINE = 20, DRAW_MAX_BACK = 6, DRAW_MAX_DOT = 12 };
void draw_parts(int label, rng *r, int parts[4]);

#endif
