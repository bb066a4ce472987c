/* test_progress.c: the progress line's text at several widths, the run's
 * fraction done and its ETA (progress.h). */
#include "testutil.h"

#include "progress.h"

static void test_widths(void **state)
{
    (void)state;
    /* Epoch 3 of 40, half of it: (2 + 0.5) / 40 = 6.25% of the run, in 10 s
     * from the start: 150 s left. */
    progress_status s = {3, 40, 469, 938, 0.41234, 181234, 10.0, 0.0};
    char line[512];
    size_t n = progress_line(line, sizeof line, 200, &s);
    assert_string_equal(line, "epoch 3/40 [##......................................]    6%  10.0s "
                              "ETA 2:30  loss 0.4123  181k img/s");
    assert_int_equal(n, strlen(line));
    progress_line(line, sizeof line, 80, &s);
    assert_string_equal(line,
                        "epoch 3/40 [#..................]    6%  10.0s ETA 2:30  loss 0.4123  181k img/s");
    assert_true(strlen(line) <= 79);
    progress_line(line, sizeof line, 40, &s);
    assert_string_equal(line, "epoch 3/40 [...........]    6% ETA 2:30");
    progress_line(line, sizeof line, 20, &s);
    assert_string_equal(line, "epoch 3/40    6% ET");
    for (int w = 1; w <= 200; w++) {
        n = progress_line(line, sizeof line, w, &s);
        assert_true(n <= (size_t)(w - 1));
        assert_int_equal(n, strlen(line));
    }
}

static void test_fraction_and_eta(void **state)
{
    (void)state;
    progress_status s = {1, 4, 0, 100, 0, 0, 0, 0};
    assert_true(progress_fraction(&s) == 0);
    s.epoch = 4, s.step = 100;
    assert_true(progress_fraction(&s) == 1);
    /* Resumed at 50%: 25% more done in 5 s, 25% left: ETA 5 s. */
    progress_status r = {4, 4, 0, 100, 0, 0, 5.0, 0.5};
    r.epoch = 3, r.step = 100;
    char line[128];
    progress_line(line, sizeof line, 200, &r);
    assert_non_null(strstr(line, "ETA 5.0s"));
    char d[32];
    progress_duration(d, sizeof d, 59.94);
    assert_string_equal(d, "59.9s");
    progress_duration(d, sizeof d, 65);
    assert_string_equal(d, "1:05");
    progress_duration(d, sizeof d, 3723);
    assert_string_equal(d, "1:02:03");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_widths),
        cmocka_unit_test(test_fraction_and_eta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
