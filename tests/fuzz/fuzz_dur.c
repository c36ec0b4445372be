/* fuzz_dur.c: libFuzzer target for dur_parse() and dur_format() */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/config/dur.h"

/*
 * Whatever parses must format, and the formatted text must parse back to
 * the same milliseconds: durations travel from flags to --check-config
 * output and back into a --config file.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[512], out[DUR_STR_MAX];
	int64_t ms, again;

	if (size >= sizeof(in) || memchr(data, '\0', size) != NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (dur_parse(in, &ms) == -1)
		return 0;
	if (dur_format(ms, out, sizeof(out)) == -1)
		abort();
	if (dur_parse(out, &again) == -1 || again != ms)
		abort();
	return 0;
}
