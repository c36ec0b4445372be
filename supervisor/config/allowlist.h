/* allowlist.h: the --egress-ip-allowlist guard (IPv4 and IPv6 CIDRs) */
#ifndef SUPERVISOR_ALLOWLIST_H
#define SUPERVISOR_ALLOWLIST_H

#include <stddef.h>

/* More entries than this is a configuration error, not a silent cut. */
#define ALLOWLIST_MAX 64
/* Longest entry text accepted: "ffff:...:ffff/128" is 43 characters. */
#define ALLOWLIST_ENTRY_MAX 64

struct allowlist_entry {
	int is_v6;
	unsigned int prefix; /* 0-32 or 0-128 */
	unsigned char addr[16]; /* network, host bits cleared */
};

struct allowlist {
	int set; /* 0: no guard, everything allowed */
	size_t n;
	struct allowlist_entry e[ALLOWLIST_MAX];
};

/*
 * Parses a comma list of CIDRs ("203.0.113.0/24, 2001:db8::/48"); blanks
 * around entries are ignored, an empty or all-blank list means no guard.
 * Host bits are accepted and cleared (as Go's net.ParseCIDR does).
 * Returns 0, or -1 (errno EINVAL) with a one-line message in err naming the
 * bad entry; a list that failed to parse allows nothing (fail closed).
 */
int allowlist_parse(struct allowlist *, const char *comma_list, char *err,
    size_t errlen);

/*
 * Returns 1 when the Floating IP is allowed: no guard set, or IPv4 "a.b.c.d"
 * inside some entry, or the IPv6 network "x:x::/n" entirely inside some
 * entry (entry prefix <= n and same leading bits). Garbage returns 0.
 */
int allowlist_contains_fip(const struct allowlist *, const char *ip, int is_v6);

/*
 * Writes the normalised list ("203.0.113.0/24,2001:db8::/48", "" when no
 * guard) for --check-config. Returns 0, or -1 (errno ERANGE) if it won't fit.
 */
int allowlist_format(const struct allowlist *, char *buf, size_t len);

#endif /* SUPERVISOR_ALLOWLIST_H */
