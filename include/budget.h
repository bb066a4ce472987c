/* budget.h: bytes that concurrent work may hold at once.
 *
 * A worker takes what a task will need before allocating it and gives it
 * back when done. budget_take waits while others hold some and the sum
 * would pass the limit; a worker that would hold all alone is let through
 * whatever it asks, so one task larger than the limit still runs, by
 * itself. Wake-ups follow the order of the gives, not of the takes: no
 * worker is promised a turn, only the bound.
 *
 * Two budgets taken in a fixed order never deadlock as long as a holder
 * of the second waits for nothing (used so by classify: picture files
 * read, then pixels decoded; a worker waits for pixels while it holds
 * file bytes, never the reverse). */
#ifndef FMNIST_BUDGET_H
#define FMNIST_BUDGET_H

#include <pthread.h>
#include <stdint.h>

typedef struct budget {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    uint64_t limit, held;
} budget;

/* A budget of limit bytes, none held (the default mutex and condition
 * variable, set by their initialiser macros: nothing can fail). */
void budget_init(budget *b, uint64_t limit);
/* Waits until n more bytes fit (or nothing is held), then holds them. */
void budget_take(budget *b, uint64_t n);
/* Gives back n bytes taken before. */
void budget_give(budget *b, uint64_t n);
/* Bytes held now (for tests). */
uint64_t budget_held(budget *b);
void budget_destroy(budget *b);

#endif
