/* main.c: entry point: the supervisor, or a worker mode re-executed by it */
#include <sys/prctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/workers.h"
#include "sup.h"

static const struct {
	const char *name; /* --worker argument and env marker */
	const char *comm; /* /proc/PID/comm */
	int (*main)(int, int, char **);
} modes[] = {
	{ "k8s", "k8s-worker", kube_main },
	{ "hcloud", "hcloud-worker", hc_main },
	{ "probe", "probe-worker", probe_main },
};

/*
 * A worker mode is only for the supervisor's own re-exec: it must find
 * the marker the supervisor sets and a SOCK_SEQPACKET socket on fd 3.
 * A person typing --worker gets one clear line, not a half-started
 * worker reading a terminal.
 */
static int
worker_mode(int argc, char **argv)
{
	const char *marker = getenv("STABLE_EGRESSD_WORKER");
	socklen_t len = sizeof(int);
	int type = 0;
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(argv[2], modes[i].name) != 0)
			continue;
		if (marker == NULL || strcmp(marker, modes[i].name) != 0 ||
		    getsockopt(WORKER_FD, SOL_SOCKET, SO_TYPE, &type, &len) ==
			-1 ||
		    type != SOCK_SEQPACKET) {
			fprintf(stderr,
			    "stable-egressd: --worker %s is "
			    "internal: the supervisor starts it; run "
			    "stable-egressd without --worker\n",
			    argv[2]);
			return 2;
		}
		prctl(PR_SET_NAME, modes[i].comm, 0, 0, 0);
		return modes[i].main(WORKER_FD, argc - 3, argv + 3);
	}
	fprintf(stderr, "stable-egressd: --worker: unknown worker \"%s\"\n",
	    argv[2]);
	return 2;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--worker") == 0) {
		if (argc < 3) {
			fprintf(stderr,
			    "stable-egressd: --worker needs a "
			    "name\n");
			return 2;
		}
		return worker_mode(argc, argv);
	}
	prctl(PR_SET_NAME, "stable-egressd", 0, 0, 0);
	return sup_main(argc, argv);
}
