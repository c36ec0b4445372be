/* sandbox.c: the mechanism every worker uses to lock itself down */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

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

static uint64_t
landlock_fs_rights(int abi)
{
	uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	/* TRUNCATE (ABI 3) is newer than some kernel headers we build on. */
	if (abi >= 3)
		r |= 1ULL << 14;
	return r;
}

static int
landlock_add_path(int rfd, const char *path, int abi, int exec)
{
	struct landlock_path_beneath_attr pb;
	struct stat st;
	int r;

	(void)abi;
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

/* Returns the ABI applied, 0 when the kernel has no Landlock, -1. */
static int
landlock_apply(const char *const *paths, int exec)
{
	struct landlock_ruleset_attr ra;
	int abi, rfd, r = -1;
	size_t i;

	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return 0;
	memset(&ra, 0, sizeof(ra));
	ra.handled_access_fs = landlock_fs_rights(abi);
	rfd = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra), 0);
	if (rfd == -1)
		return -1;
	for (i = 0; paths != NULL && paths[i] != NULL; i++)
		if (landlock_add_path(rfd, paths[i], abi, exec) == -1)
			goto out_close;
	if (syscall(SYS_landlock_restrict_self, rfd, 0) == 0)
		r = abi;
out_close:
	close(rfd);
	return r;
}

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
		uint32_t act = p->rules[i].err
		    ? SCMP_ACT_ERRNO((uint32_t)p->rules[i].err)
		    : SCMP_ACT_ALLOW;

		/* A syscall this architecture lacks is simply not added. */
		if (p->rules[i].nr < 0)
			continue;
		if ((r = seccomp_rule_add(ctx, act, p->rules[i].nr, 0)) != 0) {
			snprintf(err, errlen, "seccomp rule %d: %s",
			    p->rules[i].nr, strerror(-r));
			seccomp_release(ctx);
			return -1;
		}
	}
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
	if ((*landlock = landlock_apply(p->ro_paths, p->ro_exec)) == -1) {
		snprintf(err, errlen, "landlock: %s", strerror(errno));
		return -1;
	}
	return sandbox_seccomp(p, err, errlen);
}

int
sandbox_args_filter(int (*rules)(scmp_filter_ctx), char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	int r;

	/* Needed to load a filter without CAP_SYS_ADMIN; sandbox_enter()
	 * sets it again, which is harmless. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errlen, "no_new_privs: %s", strerror(errno));
		return -1;
	}
	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	if ((r = rules(ctx)) == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r != 0) {
		snprintf(err, errlen, "seccomp argument filter: %s",
		    strerror(-r));
		return -1;
	}
	return 0;
}
