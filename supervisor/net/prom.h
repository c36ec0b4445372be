/* prom.h: a writer for the Prometheus text exposition format 0.0.4 */
#ifndef PROM_H
#define PROM_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* The Content-Type of what this writer produces. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#define PROM_NAME_MAX 128 /* metric family name, NUL included */
#define PROM_SEEN_MAX 4096 /* bytes of family names remembered */
#define PROM_LABELS_MAX 8 /* label pairs per sample */
#define PROM_HIST_MAX 16 /* histogram bounds, +Inf not counted */
#define PROM_NUM_MAX 32 /* a formatted value, NUL included */

enum prom_type {
	PROM_COUNTER,
	PROM_GAUGE,
	PROM_HISTOGRAM,
	PROM_UNTYPED,
};

/*
 * One exposition being written.  Errors are sticky: after the first
 * one every call fails at once, so a writer may make all its calls and
 * check prom_error() once at the end.
 */
struct prom {
	struct buf *out;
	char family[PROM_NAME_MAX]; /* the family samples go to */
	enum prom_type type;
	char seen[PROM_SEEN_MAX]; /* "\nname\nname\n": families begun */
	size_t seenlen;
	int err; /* first errno, 0 if none */
};

/* Start writing to out, which the caller owns and frees. */
void prom_init(struct prom *, struct buf *out);

/*
 * Begin family name: "# HELP" (help escaped) and "# TYPE", once.  The
 * same name again right away is a no-op, so loops may call it per
 * series; a family begun earlier and left is EINVAL, as the format
 * wants each family in one piece.  0, or -1 with errno.
 */
int prom_family(struct prom *, const char *name, enum prom_type type,
    const char *help);

/*
 * One sample of the current (non-histogram) family with value v and
 * label name, value string pairs ending in NULL; values are escaped.
 * 0, or -1 with errno (EINVAL: no family, bad label name; ERANGE: out
 * is full).
 */
int prom_sample(struct prom *, double v, ...) __attribute__((sentinel));

/* First error as -1 with errno set, or 0. */
int prom_error(const struct prom *);

/*
 * Write v as the format wants it into out[outlen]: integers without
 * exponent or fraction, "+Inf", "-Inf", "NaN", else the shortest
 * "%g" that reads back as v.  0, or -1 (ERANGE) if it does not fit.
 */
int prom_format_value(char *out, size_t outlen, double v);

/* A histogram the caller keeps and observes into. */
struct prom_hist {
	size_t n; /* bounds in le[] */
	double le[PROM_HIST_MAX]; /* ascending upper bounds */
	uint64_t bucket[PROM_HIST_MAX + 1]; /* per bucket; [n] is +Inf */
	double sum;
	uint64_t count;
};

/* Empty histogram with bounds le[0..n), finite and strictly
 * ascending: 0, or -1 with EINVAL. */
int prom_hist_init(struct prom_hist *, const double *le, size_t n);
void prom_hist_observe(struct prom_hist *, double v);

/*
 * The current family's histogram with labels (pairs, NULL-terminated):
 * cumulative _bucket{...,le="..."} lines up to le="+Inf", then _sum and
 * _count.  The family must be PROM_HISTOGRAM.  0, or -1 with errno.
 */
int prom_histogram(struct prom *, const struct prom_hist *, ...)
    __attribute__((sentinel));

#endif /* PROM_H */
