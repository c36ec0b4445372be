/* fuzz_frame.c: libFuzzer target for the frame header and payload decoder */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static union msg_payload p;
	static uint8_t re[FRAME_MAX];
	struct frame f;
	size_t n;

	if (frame_parse(data, size, &f) != 0)
		return 0;
	/* Whatever decodes must encode back to the very same bytes: the
	 * codec has exactly one representation per value. */
	if (frame_decode(&f, MSG_TO_SUP | MSG_TO_WORKER, &p) != 0)
		return 0;
	if (frame_encode(f.type, f.seq, &p, re, &n) != 0 || n != size ||
	    memcmp(re, data, size) != 0)
		__builtin_trap();
	return 0;
}
