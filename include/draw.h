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
 * copied from any picture; the development set (tests/fixtures/devset*)
 * only chose how often training sees them (augment.h: drawn=P).
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

#endif
