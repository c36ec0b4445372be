/* fuzz_allowlist.c: libFuzzer target for the --egress-ip-allowlist parser */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/config/allowlist.h"

#define INPUT_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: the list, then optionally "\n" and a Floating IP to test. Checks
 * what must hold whatever the bytes: a refused list allows nothing and its
 * error is one line; an accepted list survives format and parse unchanged.
 */
static void
check_list(const char *list, const char *fip)
{
	static struct allowlist al, again;
	static char err[256], text[ALLOWLIST_MAX * 48], text2[sizeof(text)];

	if (allowlist_parse(&al, list, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || strchr(err, '\n') != NULL)
			abort();
		if (allowlist_contains_fip(&al, fip, 0) ||
		    allowlist_contains_fip(&al, fip, 1))
			abort();
		return;
	}
	(void)allowlist_contains_fip(&al, fip, 0);
	(void)allowlist_contains_fip(&al, fip, 1);
	if (allowlist_format(&al, text, sizeof(text)) != 0)
		abort();
	if (allowlist_parse(&again, text, err, sizeof(err)) != 0 ||
	    again.set != al.set || again.n != al.n ||
	    memcmp(again.e, al.e, al.n * sizeof(al.e[0])) != 0)
		abort();
	if (allowlist_format(&again, text2, sizeof(text2)) != 0 ||
	    strcmp(text, text2) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[INPUT_MAX + 1];
	char *nl;

	if (size > INPUT_MAX)
		size = INPUT_MAX;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl++ = '\0';
	check_list(buf, nl != NULL ? nl : "203.0.113.7");
	/* the Floating IP parser sees the raw bytes too */
	(void)allowlist_contains_fip(NULL, buf, 1);
	check_list("0.0.0.0/0,::/0", buf);
	return 0;
}
