/* procstat.c: a process's own resource figures, without /proc */
#include <sys/resource.h>

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"

/* Descriptors above this are not counted: every process here keeps a
 * handful, and a bigger scan would cost each heartbeat. */
#define PROCSTAT_FD_SCAN 1024

/*
 * Taken once at exec, before any sandbox: the last moment /proc and
 * getrlimit may be used.  Written only by the constructor, read-only
 * after.  Memory later is these sizes plus what the heap grew since: a
 * sandboxed process has no other way to learn its footprint, and with
 * the libraries mapped at exec the heap is what changes.
 */
static struct {
	uint64_t start_usec;
	uint32_t max_fds;
	uint64_t vsz, rss; /* bytes, from /proc/self/statm */
	uint64_t heap; /* malloc's memory from the OS */
} at_exec;

static uint64_t
heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (uint64_t)mi.arena + (uint64_t)mi.hblkhd;
}

static void
read_statm(void)
{
	char buf[128], *end;
	unsigned long long pages[2];
	ssize_t n;
	long pg = sysconf(_SC_PAGESIZE);
	int fd;

	if ((fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || pg <= 0)
		return;
	buf[n] = '\0';
	pages[0] = strtoull(buf, &end, 10);
	pages[1] = strtoull(end, NULL, 10);
	at_exec.vsz = pages[0] * (uint64_t)pg;
	at_exec.rss = pages[1] * (uint64_t)pg;
}

__attribute__((constructor)) static void
procstat_at_exec(void)
{
	struct timespec ts;
	struct rlimit rl;

	if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
		at_exec.start_usec =
		    (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		at_exec.max_fds = rl.rlim_cur > UINT32_MAX
		    ? UINT32_MAX
		    : (uint32_t)rl.rlim_cur;
	read_statm();
	at_exec.heap = heap_bytes();
}

/* poll() marks a closed descriptor POLLNVAL and blocks on nothing. */
static uint32_t
open_fds(void)
{
	struct pollfd p[PROCSTAT_FD_SCAN];
	uint32_t n = 0;
	int i, max = PROCSTAT_FD_SCAN;

	if (at_exec.max_fds > 0 && at_exec.max_fds < (uint32_t)max)
		max = (int)at_exec.max_fds;
	for (i = 0; i < max; i++) {
		p[i].fd = i;
		p[i].events = 0;
		p[i].revents = 0;
	}
	if (poll(p, (nfds_t)max, 0) == -1)
		return 0;
	for (i = 0; i < max; i++)
		n += !(p[i].revents & POLLNVAL);
	return n;
}

void
procstat_fill(struct msg_ping_ans *a)
{
	struct timespec cpu;
	uint64_t heap = heap_bytes(), grown;

	/* All threads; the vDSO or clock_gettime, allowed everywhere. */
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0)
		a->cpu_usec = (uint64_t)cpu.tv_sec * 1000000 +
		    (uint64_t)cpu.tv_nsec / 1000;
	grown = heap > at_exec.heap ? heap - at_exec.heap : 0;
	a->rss_bytes = at_exec.rss + grown;
	a->vsz_bytes = at_exec.vsz + grown;
	a->open_fds = open_fds();
	a->max_fds = at_exec.max_fds;
	a->start_usec = at_exec.start_usec;
}
