/* progress.c: the live progress line (progress.h). */
#include "progress.h"

#include <stdio.h>
#include <string.h>

double progress_fraction(const progress_status *s)
{
    if (s->epochs < 1 || s->steps < 1)
        return 0;
    double f = ((double)(s->epoch - 1) + (double)s->step / (double)s->steps) / s->epochs;
    return f < 0 ? 0 : f > 1 ? 1 : f;
}

void progress_duration(char *buf, size_t cap, double seconds)
{
    if (!(seconds >= 0))
        seconds = 0;
    long t = (long)(seconds + 0.5);
    if (seconds < 59.95)
        snprintf(buf, cap, "%.1fs", seconds);
    else if (t < 3600)
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

/* The whole run's estimated time left, from this process's own pace. */
static double eta(const progress_status *s)
{
    double f = progress_fraction(s), done = f - s->done_at_start;
    return done > 0 ? s->elapsed * (1 - f) / done : 0;
}

size_t progress_line(char *buf, size_t cap, int width, const progress_status *s)
{
    char head[64], pct[16], el[32], left[32], loss[32], rate[32], bar[48];
    double f = progress_fraction(s);
    snprintf(head, sizeof head, "epoch %d/%d", s->epoch, s->epochs);
    snprintf(pct, sizeof pct, "  %3.0f%%", 100 * f);
    char d[24];
    progress_duration(d, sizeof d, s->elapsed);
    snprintf(el, sizeof el, "  %s", d);
    progress_duration(d, sizeof d, eta(s));
    snprintf(left, sizeof left, " ETA %s", d);
    snprintf(loss, sizeof loss, "  loss %.4f", s->loss);
    if (s->rate >= 1e4)
        snprintf(rate, sizeof rate, "  %.0fk img/s", s->rate / 1000);
    else
        snprintf(rate, sizeof rate, "  %.0f img/s", s->rate);
    /* What stays, and what goes first when the line is too wide. */
    char *drop[4] = {rate, loss, el, NULL};
    int room = width - 1, k = 0, barw = 0;
    for (;;) {
        size_t fixed = strlen(head) + strlen(pct) + strlen(el) + strlen(left) + strlen(loss) +
                       strlen(rate);
        barw = room - (int)fixed - 3; /* " [" and "]" */
        if (barw >= 10 || !drop[k])
            break;
        drop[k++][0] = 0;
    }
    barw = barw > 40 ? 40 : barw;
    if (barw >= 10) {
        int fill = (int)(f * barw);
        bar[0] = ' ', bar[1] = '[';
        for (int i = 0; i < barw; i++)
            bar[2 + i] = i < fill ? '#' : '.';
        bar[2 + barw] = ']', bar[3 + barw] = 0;
    } else {
        bar[0] = 0;
    }
    int n = snprintf(buf, cap, "%s%s%s%s%s%s%s", head, bar, pct, el, left, loss, rate);
    size_t len = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
    if (room >= 0 && len > (size_t)room) { /* narrower than the essentials: cut */
        len = (size_t)room;
        buf[len] = 0;
    }
    return len;
}
