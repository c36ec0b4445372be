/* clock.h: the monotonic clock every deadline is measured on */
#ifndef CLOCK_H
#define CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds of CLOCK_MONOTONIC: immune to wall-clock steps, so
 * grace periods and lease expiry never jump. */
static inline int64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t
clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The wall clock as a Kubernetes MicroTime, "2026-03-01T10:04:58.517204Z"
 * (UTC, exactly six fraction digits: the apiserver takes nothing else),
 * into buf[len]; len of PROTO_TIME_MAX is enough. */
void clock_microtime(char *buf, size_t len);

#endif /* CLOCK_H */
