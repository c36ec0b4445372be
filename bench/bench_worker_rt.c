/* bench_worker_rt.c: frame round trip through a real, sandboxed worker */
#include <sys/socket.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/workers.h"

/*
 * Not an echo process: the probe worker itself (exec of the release
 * binary as `--worker probe`, its seccomp filter and Landlock domain in
 * place, its own poll loop and dispatch table) answers each PING, as
 * it does for the supervisor's heartbeat.  Median and p99 over N.
 */
#define N 100000
#define WARMUP 2000
#define BIN "build/stable-egressd"

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static pid_t
start_worker(int *sock)
{
	char *argv[] = { "stable-egressd", "--worker", "probe",
		"log_format=json", "log_level=error", "check=0", "port=9",
		"timeout_ms=1000", "interval_ms=1000", NULL };
	char *envp[] = { "STABLE_EGRESSD_WORKER=probe", NULL };
	int sv[2], null;
	pid_t pid;

	if (frame_socketpair(sv) == -1)
		return -1;
	if ((pid = fork()) == 0) {
		dup2(sv[1], WORKER_FD);
		if ((null = open("/dev/null", O_RDWR)) != -1) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execve(BIN, argv, envp);
		_exit(127);
	}
	close(sv[1]);
	*sock = sv[0];
	return pid;
}

int
main(void)
{
	static uint8_t buf[FRAME_MAX];
	static int64_t lat[N];
	union msg_payload p;
	struct msg_ping ping;
	struct frame f;
	int sock, i, status;
	pid_t pid;

	if (access(BIN, X_OK) != 0) {
		fprintf(stderr, "bench_worker_rt: %s not built\n", BIN);
		return 1;
	}
	if ((pid = start_worker(&sock)) == -1)
		return 1;
	/* HELLO first: the worker is sandboxed and in its loop. */
	if (frame_recv(sock, buf, &f) != 0 ||
	    frame_decode(&f, MSG_TO_SUP, &p) != 0 || f.type != MSG_HELLO ||
	    p.hello.status != HELLO_READY) {
		fprintf(stderr, "bench_worker_rt: no HELLO from the worker\n");
		return 1;
	}
	for (i = -WARMUP; i < N; i++) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		ping.nonce = (uint64_t)i + WARMUP + 1;
		if (frame_send(sock, MSG_PING_REQ, 0, &ping) != 0)
			return 1;
		do {
			if (frame_recv(sock, buf, &f) != 0 ||
			    frame_decode(&f, MSG_TO_SUP, &p) != 0)
				return 1;
		} while (f.type != MSG_PING_ANS);
		if (p.ping.nonce != ping.nonce)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (i >= 0)
			lat[i] = (b.tv_sec - a.tv_sec) * 1000000000LL +
			    (b.tv_nsec - a.tv_nsec);
	}
	close(sock);
	waitpid(pid, &status, 0);
	qsort(lat, N, sizeof(lat[0]), cmp64);
	printf("frame round trip through the sandboxed probe worker's loop, "
	       "%d PINGs:\n",
	    N);
	printf("  median %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us  "
	       "(goal p99 < 50 us)  worker exit: %s\n",
	    lat[N / 2] / 1000.0, lat[N * 99 / 100] / 1000.0,
	    lat[N * 999 / 1000] / 1000.0, lat[N - 1] / 1000.0,
	    WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "0 (clean)"
							  : "abnormal");
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
