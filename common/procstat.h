/* procstat.h: a process's own resource figures, without /proc */
#ifndef PROCSTAT_H
#define PROCSTAT_H

#include "proto.h"

/*
 * Fills the figures of the calling process into a (nonce untouched):
 * CPU time (CLOCK_PROCESS_CPUTIME_ID), open descriptors (a poll() scan),
 * and resident and virtual size as read from /proc at exec plus the
 * heap grown since (mallinfo2); limit and start time are from exec.
 * Works inside every sandbox: no file is opened, no new syscall used.
 */
void procstat_fill(struct msg_ping_ans *a);

#endif /* PROCSTAT_H */
