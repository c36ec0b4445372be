/* privdrop.c: switch a process started as root to the configured user */
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/capability.h>

#include "privdrop.h"

int
privdrop(uint32_t uid, uint32_t gid, char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	cap_value_t c;

	/* The bounding set can only shrink while we still hold
	 * CAP_SETPCAP, which the uid switch takes away. */
	for (c = 0; c <= CAP_LAST_CAP; c++)
		if (CAP_IS_SUPPORTED(c) && cap_drop_bound(c) == -1 &&
		    errno != EINVAL) {
			snprintf(err, errlen, "cannot drop capability %d: %s",
			    (int)c, strerror(errno));
			return -1;
		}

	/* Groups first: root's supplementary groups would survive the
	 * switch, and setgroups needs the privilege we are giving up. */
	if (setgroups(0, NULL) == -1 ||
	    setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) == -1 ||
	    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) == -1) {
		snprintf(err, errlen, "cannot switch to uid %u gid %u: %s",
		    (unsigned)uid, (unsigned)gid, strerror(errno));
		return -1;
	}
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid || setuid(0) != -1) {
		snprintf(err, errlen, "uid %u gid %u did not stick",
		    (unsigned)uid, (unsigned)gid);
		return -1;
	}
	return 0;
}
