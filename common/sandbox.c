/* sandbox.c: the mechanism every worker uses to lock itself down */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/close_range.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <sys/capability.h>

#include "sandbox.h"

static int
close_others(const int *keep, size_t nkeep)
{
	unsigned int next = 0;
	int fd, lowest;
	size_t i;

	/* Walk the kept fds in ascending order, closing the gaps. */
	for (;;) {
		lowest = -1;
		for (i = 0; i < nkeep; i++) {
			fd = keep[i];
			if (fd >= (int)next && (lowest == -1 || fd < lowest))
				lowest = fd;
		}
		if (lowest == -1)
			break;
		if ((unsigned int)lowest > next &&
		    syscall(SYS_close_range, next, lowest - 1, 0) == -1)
			return -1;
		next = (unsigned int)lowest + 1;
	}
	return (int)syscall(SYS_close_range, next, ~0U, 0);
}

static int
drop_caps(void)
{
	cap_t caps;
	cap_value_t c;
	int r;

	/* The bounding set can only be shrunk while CAP_SETPCAP is still
	 * effective, so it goes first.  EINVAL past the last known cap. */
	for (c = 0; c <= CAP_LAST_CAP; c++)
		if (CAP_IS_SUPPORTED(c) && cap_drop_bound(c) == -1 &&
		    errno != EPERM && errno != EINVAL)
			return -1;
	if (cap_reset_ambient() == -1 && errno != EINVAL)
		return -1;
	if ((caps = cap_init()) == NULL)
		return -1;
	r = cap_set_proc(caps);
	cap_free(caps);
	return r;
}

/*
 * Newer Landlock than some kernel headers we build on: the ruleset
 * attribute grew handled_access_net (ABI 4) and scoped (ABI 6).  A
 * kernel that knows less accepts the larger struct while the fields
 * it lacks are zero.
 */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

#define LL_RULE_NET_PORT 2
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

int
sandbox_landlock_abi(void)
{
	int abi;

#ifdef SE_TEST_HOOKS
	/* Test builds: play a kernel without Landlock. */
	if (getenv("STABLE_EGRESSD_TEST_NO_LANDLOCK") != NULL)
		return 0;
#endif
	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 1 ? 0 : abi;
}

static uint64_t
landlock_fs_rights(int abi)
{
	uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	/* TRUNCATE (ABI 3) and IOCTL_DEV (ABI 5) are newer than some
	 * kernel headers we build on. */
	if (abi >= 3)
		r |= 1ULL << 14;
	if (abi >= 5)
		r |= 1ULL << 15;
	return r;
}

static int
landlock_add_path(int rfd, const char *path, int exec)
{
	struct landlock_path_beneath_attr pb;
	struct stat st;
	int r;

	if ((pb.parent_fd = open(path, O_PATH | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1; /* absent: nothing */
	if (fstat(pb.parent_fd, &st) == -1) {
		close(pb.parent_fd);
		return -1;
	}
	pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE;
	if (exec)
		pb.allowed_access |= LANDLOCK_ACCESS_FS_EXECUTE;
	if (S_ISDIR(st.st_mode))
		pb.allowed_access |= LANDLOCK_ACCESS_FS_READ_DIR;
	r = (int)syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH,
	    &pb, 0);
	close(pb.parent_fd);
	return r;
}

static int
landlock_add_port(int rfd, uint16_t port)
{
	struct ll_net_port_attr np;

	np.allowed_access = LL_NET_CONNECT_TCP;
	np.port = port;
	return (
	    int)syscall(SYS_landlock_add_rule, rfd, LL_RULE_NET_PORT, &np, 0);
}

/* Returns the ABI applied, 0 when the kernel has no Landlock, -1. */
static int
landlock_apply(const struct sandbox_policy *p)
{
	struct ll_ruleset_attr ra;
	int abi, rfd, r = -1;
	size_t i;

	if ((abi = sandbox_landlock_abi()) == 0)
		return 0;
	memset(&ra, 0, sizeof(ra));
	ra.handled_access_fs = landlock_fs_rights(abi);
	/* Handled and not granted is forbidden: no bind, and connect
	 * only to the ports the worker names.  Opt-in: a domain is
	 * inherited, so the spawner, whose children connect, leaves TCP
	 * alone. */
	if (p->restrict_tcp && abi >= 4)
		ra.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
	/* No signal to, and no abstract socket of, a process outside
	 * this domain (the supervisor, a sibling, anything else). */
	if (p->scoped && abi >= 6)
		ra.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
	rfd = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra), 0);
	if (rfd == -1)
		return -1;
	for (i = 0; p->ro_paths != NULL && p->ro_paths[i] != NULL; i++)
		if (landlock_add_path(rfd, p->ro_paths[i], p->ro_exec) == -1)
			goto out_close;
	for (i = 0; p->restrict_tcp && abi >= 4 && i < p->nports; i++)
		if (landlock_add_port(rfd, p->tcp_ports[i]) == -1)
			goto out_close;
	if (syscall(SYS_landlock_restrict_self, rfd, 0) == 0)
		r = abi;
out_close:
	close(rfd);
	return r;
}

static int
add_rule(scmp_filter_ctx ctx, const struct sandbox_rule *rule)
{
	struct scmp_arg_cmp cmp[2];
	uint32_t act =
	    rule->err ? SCMP_ACT_ERRNO((uint32_t)rule->err) : SCMP_ACT_ALLOW;
	unsigned int i;

	if (rule->ncond > 2)
		return -EINVAL;
	for (i = 0; i < rule->ncond; i++) {
		cmp[i].arg = rule->cond[i].arg;
		cmp[i].op = (enum scmp_compare)rule->cond[i].op;
		cmp[i].datum_a = rule->cond[i].a;
		cmp[i].datum_b = rule->cond[i].b;
	}
	return seccomp_rule_add_array(ctx, act, rule->nr, rule->ncond, cmp);
}

#if defined(__SANITIZE_ADDRESS__)
/*
 * ASan+UBSan builds only (tests): calls the sanitizer runtime makes on
 * its own (thread registry, its signal stack, locks, reports), allowed
 * in every filter that does not list them.  A release build compiles
 * none of this.
 */
static const int sanitizer_calls[] = {
	SCMP_SYS(gettid),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(readlink),
	SCMP_SYS(readlinkat),
	SCMP_SYS(getrlimit),
	SCMP_SYS(mincore),
	SCMP_SYS(personality),
};

static int
add_sanitizer_calls(scmp_filter_ctx ctx, const struct sandbox_policy *p)
{
	size_t i, k;
	int r;

	for (i = 0; i < sizeof(sanitizer_calls) / sizeof(sanitizer_calls[0]);
	     i++) {
		for (k = 0;
		     k < p->nrules && p->rules[k].nr != sanitizer_calls[i]; k++)
			continue;
		if (k < p->nrules)
			continue;
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
			 sanitizer_calls[i], 0)) != 0)
			return r;
	}
	/* It names its mappings (PR_SET_VMA), asks whether it may dump
	 * core (PR_GET_DUMPABLE) and reads /proc/self/maps: none of these
	 * may kill it.  Only where the policy does not list the call. */
	for (k = 0; k < p->nrules && p->rules[k].nr != SCMP_SYS(prctl); k++)
		continue;
	if (k == p->nrules &&
	    ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EINVAL), SCMP_SYS(prctl),
		  1, SCMP_A0(SCMP_CMP_EQ, 0x53564d41 /* PR_SET_VMA */))) != 0 ||
		(r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		     SCMP_A0(SCMP_CMP_EQ, PR_GET_DUMPABLE))) != 0))
		return r;
	for (k = 0; k < p->nrules && p->rules[k].nr != SCMP_SYS(open); k++)
		continue;
	if (k == p->nrules &&
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open),
		 0)) != 0)
		return r;
	return 0;
}
#endif

int
sandbox_seccomp(const struct sandbox_policy *p, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	size_t i;
	int r;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	for (i = 0; i < p->nrules; i++) {
		/* A syscall this architecture lacks is simply not added. */
		if (p->rules[i].nr < 0)
			continue;
		if ((r = add_rule(ctx, &p->rules[i])) != 0) {
			snprintf(err, errlen, "seccomp rule %d: %s",
			    p->rules[i].nr, strerror(-r));
			seccomp_release(ctx);
			return -1;
		}
	}
#if defined(__SANITIZE_ADDRESS__)
	if ((r = add_sanitizer_calls(ctx, p)) != 0) {
		snprintf(err, errlen, "seccomp sanitizer rules: %s",
		    strerror(-r));
		seccomp_release(ctx);
		return -1;
	}
#endif
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r != 0) {
		snprintf(err, errlen, "seccomp_load: %s", strerror(-r));
		return -1;
	}
	return 0;
}

int
sandbox_enter(const struct sandbox_policy *p, int *landlock, char *err,
    size_t errlen)
{
	struct rlimit rl = { 0, 0 };

	if (close_others(p->keep_fds, p->nkeep) == -1) {
		snprintf(err, errlen, "close_range: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1 ||
	    setrlimit(RLIMIT_CORE, &rl) == -1) {
		snprintf(err, errlen, "prctl/setrlimit: %s", strerror(errno));
		return -1;
	}
	if (drop_caps() == -1) {
		snprintf(err, errlen, "dropping capabilities: %s",
		    strerror(errno));
		return -1;
	}
	if ((*landlock = landlock_apply(p)) == -1) {
		snprintf(err, errlen, "landlock: %s", strerror(errno));
		return -1;
	}
	return sandbox_seccomp(p, err, errlen);
}

/* Host part of an http(s) URL: [start, end) in url, port or 0. */
static int
url_host(const char *url, const char **hs, size_t *hl, long *port)
{
	const char *a, *e, *at, *c;
	char *end;

	if ((a = strstr(url, "://")) == NULL)
		return -1;
	*port = strncmp(url, "https", 5) == 0 ? 443 : 80;
	a += 3;
	e = a + strcspn(a, "/?#");
	if ((at = memchr(a, '@', (size_t)(e - a))) != NULL)
		a = at + 1;
	if (*a == '[') {
		if ((c = memchr(a, ']', (size_t)(e - a))) == NULL)
			return -1;
		*hs = a + 1;
		*hl = (size_t)(c - a - 1);
		c++;
	} else {
		for (c = a; c < e && *c != ':'; c++)
			;
		*hs = a;
		*hl = (size_t)(c - a);
	}
	if (c < e && *c == ':') {
		errno = 0;
		*port = strtol(c + 1, &end, 10);
		if (errno != 0 || end != e || *port < 1 || *port > 65535)
			return -1;
	} else if (c != e)
		return -1;
	return *hl == 0 ? -1 : 0;
}

int
sandbox_url_ports(const char *url, uint16_t *ports, size_t max, size_t *n)
{
	unsigned char addr[16];
	char host[256];
	const char *hs;
	size_t hl;
	long port;

	if (url_host(url, &hs, &hl, &port) == -1 || hl >= sizeof(host) ||
	    *n >= max)
		return -1;
	ports[(*n)++] = (uint16_t)port;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1)
		return 0;
	if (*n >= max)
		return -1;
	ports[(*n)++] = 53;
	return 0;
}
