/* clock.h: the one clock fmnist reads, for reports and benchmarks only
 * (results never depend on it). */
#ifndef FMNIST_CLOCK_H
#define FMNIST_CLOCK_H

/* Seconds on the monotonic clock, from an arbitrary start. */
double clock_seconds(void);

#endif
