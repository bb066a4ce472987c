/* test_budget.c: budget_take holds what fits, lets a worker alone through
 * whatever it asks, and makes a worker wait, until enough is given back,
 * when what it asks would pass the limit. Every take that should go
 * through runs in a thread given 10 s, so a fault fails the test instead
 * of hanging it. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "budget.h"

typedef struct taker {
    budget *b;
    uint64_t n;
    atomic_int done;
    pthread_t th;
} taker;

static void *take_job(void *arg)
{
    taker *t = arg;
    budget_take(t->b, t->n);
    atomic_store(&t->done, 1);
    return NULL;
}

static void start_take(taker *t, budget *b, uint64_t n)
{
    t->b = b, t->n = n;
    atomic_store(&t->done, 0);
    assert_int_equal(pthread_create(&t->th, NULL, take_job, t), 0);
}

/* Whether t's take went through within ms milliseconds (joined if so). */
static int taken_within(taker *t, long ms)
{
    for (long waited = 0; waited < ms && !atomic_load(&t->done); waited += 10) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!atomic_load(&t->done))
        return 0;
    assert_int_equal(pthread_join(t->th, NULL), 0);
    return 1;
}

static void take_now(budget *b, uint64_t n)
{
    static taker t; /* a take that fails leaves its thread waiting on it */
    start_take(&t, b, n);
    if (!taken_within(&t, 10000))
        fail_msg("a take of %llu with %llu of %llu held waited", (unsigned long long)n,
                 (unsigned long long)budget_held(b) , (unsigned long long)b->limit);
}

static void test_takes_within_the_limit(void **state)
{
    (void)state;
    static budget b;
    budget_init(&b, 100);
    take_now(&b, 60);
    take_now(&b, 40); /* exactly the limit */
    assert_int_equal(budget_held(&b), 100);
    take_now(&b, 0); /* nothing more: never waits */
    budget_give(&b, 60);
    budget_give(&b, 40);
    assert_int_equal(budget_held(&b), 0);
    take_now(&b, 1000); /* alone: over the limit, still granted */
    assert_int_equal(budget_held(&b), 1000);
    budget_give(&b, 1000);
    assert_int_equal(budget_held(&b), 0);
    budget_destroy(&b);
}

/* With first and second held, a take of ask that does not fit waits:
 * still waiting 200 ms later, and 200 ms after first is given back (second
 * + ask does not fit either), then through once second is too. */
static void waits_until_it_fits(uint64_t limit, uint64_t first, uint64_t second, uint64_t ask)
{
    static budget b;
    static taker t;
    budget_init(&b, limit);
    take_now(&b, first);
    take_now(&b, second);
    start_take(&t, &b, ask);
    assert_false(taken_within(&t, 200));
    budget_give(&b, first);
    assert_false(taken_within(&t, 200));
    budget_give(&b, second);
    if (!taken_within(&t, 10000))
        fail_msg("a take of %llu still waits with nothing held", (unsigned long long)ask);
    assert_int_equal(budget_held(&b), ask);
    budget_destroy(&b);
}

static void test_a_take_that_does_not_fit_waits(void **state)
{
    (void)state;
    waits_until_it_fits(100, 10, 60, 41); /* one over */
    waits_until_it_fits(100, 0, 150, 1);  /* anything, past an oversized holder */
    waits_until_it_fits(100, 1, 1, 500);  /* oversized: waits to be alone */
}

/* Two waiters, the larger first: a give that frees enough for the smaller
 * only must wake it (a wake-up of one waiter, the larger, would leave it
 * asleep for ever). */
static void test_a_give_wakes_whoever_fits(void **state)
{
    (void)state;
    static budget b;
    static taker large, small;
    budget_init(&b, 100);
    take_now(&b, 95);
    start_take(&large, &b, 50);
    assert_false(taken_within(&large, 100));
    start_take(&small, &b, 10);
    assert_false(taken_within(&small, 100));
    budget_give(&b, 40);
    if (!taken_within(&small, 10000))
        fail_msg("a take of 10 with 55 of 100 held still waits");
    assert_false(taken_within(&large, 100));
    budget_give(&b, 55);
    if (!taken_within(&large, 10000))
        fail_msg("a take of 50 with 10 of 100 held still waits");
    assert_int_equal(budget_held(&b), 60);
    budget_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_takes_within_the_limit),
        cmocka_unit_test(test_a_take_that_does_not_fit_waits),
        cmocka_unit_test(test_a_give_wakes_whoever_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
