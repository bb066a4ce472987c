/* progress.h: the text of train's live progress line, made to fit a
 * terminal's width. Formats only; main.c writes it (to standard error, on a
 * terminal), so the library still never prints. */
#ifndef FMNIST_PROGRESS_H
#define FMNIST_PROGRESS_H

#include <stddef.h>

typedef struct progress_status {
    int epoch, epochs;    /* the current epoch (1-based) and how many in all */
    long step, steps;     /* steps done in this epoch, and per epoch */
    double loss;          /* this epoch's training loss so far */
    double rate;          /* images per second */
    double elapsed;       /* seconds since this run began (this process) */
    double done_at_start; /* the fraction of the run done when it began (a resumed run) */
} progress_status;

/* The fraction of the whole run done, in [0, 1]. */
double progress_fraction(const progress_status *s);

/* "7.3s" under a minute, "1:05" under an hour, else "1:02:03". */
void progress_duration(char *buf, size_t cap, double seconds);

/* The progress line for a terminal width columns wide (at least 1), in
 * buf: at most width - 1 characters (a line as wide as the terminal would
 * wrap on some), plain text, no newline. In full:
 *   epoch 3/40 [##########..........]  45%  0:12 ETA 0:15  loss 0.4123  181k img/s
 * The bar takes the room left (10 to 40 columns); on a narrower terminal
 * the rate goes first, then the loss, the elapsed time and the bar; the
 * epoch, percentage and ETA of the whole run stay. Returns its length. */
size_t progress_line(char *buf, size_t cap, int width, const progress_status *s);

#endif
