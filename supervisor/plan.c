/* plan.c: plans and outcomes as text, for logs and the dry-run */

#include <errno.h>
#include <stdio.h>

#include "decide.h"

const char *
decide_outcome_name(enum decide_outcome o)
{
	switch (o) {
	case DECIDE_PRIMARY_UNKNOWN:
		return "PRIMARY_UNKNOWN";
	case DECIDE_REREAD:
		return "REREAD";
	case DECIDE_ALLOWLIST_REFUSED:
		return "ALLOWLIST_REFUSED";
	case DECIDE_LABEL_HOLDER:
		return "LABEL_HOLDER";
	case DECIDE_HOLDING:
		return "HOLDING";
	case DECIDE_NO_CANDIDATE:
		return "NO_CANDIDATE";
	case DECIDE_STEADY:
		return "STEADY";
	case DECIDE_RELABEL:
		return "RELABEL";
	case DECIDE_MOVE:
		return "MOVE";
	case DECIDE_BACKOFF:
		return "BACKOFF";
	}
	return "UNKNOWN";
}

const char *
plan_op_name(enum plan_op op)
{
	switch (op) {
	case PLAN_STRIP_LABEL:
		return "STRIP_LABEL";
	case PLAN_SET_LABEL:
		return "SET_LABEL";
	case PLAN_ASSIGN:
		return "ASSIGN";
	case PLAN_ASSIGN_ADDITIONAL:
		return "ASSIGN_ADDITIONAL";
	case PLAN_REREAD_FIPS:
		return "REREAD_FIPS";
	}
	return "UNKNOWN";
}

int
plan_format_step(const struct plan_step *st, char *buf, size_t len)
{
	const char *why;
	int n;

	if (st == NULL || buf == NULL || len == 0) {
		errno = EINVAL;
		return -1;
	}
	why = st->reason != NULL ? st->reason : "";
	n = -1;
	switch (st->op) {
	case PLAN_STRIP_LABEL:
		n = snprintf(buf, len, "strip the active label from %s: %s",
		    st->node, why);
		break;
	case PLAN_SET_LABEL:
		n = snprintf(buf, len, "set the active label on %s: %s",
		    st->node, why);
		break;
	case PLAN_ASSIGN:
		n = snprintf(buf, len,
		    "assign the primary Floating IP to "
		    "server %llu (%s) and wait: %s",
		    (unsigned long long)st->server_id, st->node, why);
		break;
	case PLAN_ASSIGN_ADDITIONAL:
		n = snprintf(buf, len,
		    "assign additional Floating IP %d to "
		    "server %llu (%s) and wait: %s",
		    st->fip, (unsigned long long)st->server_id, st->node, why);
		break;
	case PLAN_REREAD_FIPS:
		n = snprintf(buf, len, "re-read the Floating IPs: %s", why);
		break;
	}
	if (n < 0 || (size_t)n >= len) {
		/* n < 0 is an op outside the enum, or an output error */
		buf[0] = '\0';
		errno = n < 0 ? EINVAL : ERANGE;
		return -1;
	}
	return 0;
}
