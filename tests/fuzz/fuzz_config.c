/* fuzz_config.c: libFuzzer target for the --config YAML loader */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/config/cfg.h"

#define PREFIX "stable-egressd: config fuzz.yaml: "

static struct cfg c;
static struct cfg_worker_args wargs;

/* Every string field must still be terminated inside its array. */
static void
check_terminated(void)
{
	size_t i;

	if (memchr(c.floating_ip_name, '\0', sizeof(c.floating_ip_name)) ==
		NULL ||
	    c.n_additional > CFG_ADDITIONAL_MAX ||
	    memchr(c.identity, '\0', sizeof(c.identity)) == NULL ||
	    memchr(c.hcloud_endpoint, '\0', sizeof(c.hcloud_endpoint)) ==
		NULL ||
	    memchr(c.allowlist_text, '\0', sizeof(c.allowlist_text)) == NULL)
		abort();
	for (i = 0; i < c.n_additional; i++)
		if (c.additional[i][0] == '\0' ||
		    strchr(c.additional[i], ',') != NULL)
			abort();
}

/*
 * The loader sees any bytes: it must accept or refuse with one line that
 * names the file, never crash, leak or overrun; what it accepts must
 * print and become worker arguments.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CFG_ERR_MAX];
	FILE *null;

	if (size > CFG_FILE_MAX)
		return 0;
	cfg_defaults(&c);
	err[0] = '\0';
	if (cfg_load_yaml(&c, "fuzz.yaml", (const char *)data, size, err,
		sizeof(err)) == -1) {
		if (strncmp(err, PREFIX, strlen(PREFIX)) != 0 ||
		    strchr(err, '\n') != NULL)
			abort();
		return 0;
	}
	check_terminated();
	if ((null = fopen("/dev/null", "w")) != NULL) {
		cfg_print(&c, null);
		fclose(null);
	}
	if (cfg_worker_args(&c, CFG_WORKER_K8S, &wargs) == -1 ||
	    cfg_worker_args(&c, CFG_WORKER_HCLOUD, &wargs) == -1 ||
	    cfg_worker_args(&c, CFG_WORKER_PROBE, &wargs) == -1)
		abort();
	return 0;
}
