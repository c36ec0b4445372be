/* fuzz_spawn.c: libFuzzer target for the spawner's frame check */
#include <stddef.h>
#include <stdint.h>

#include "common/frame.h"
#include "spawner/spawner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_spawn m;
	uint16_t type;

	if (size > FRAME_MAX)
		return 0;
	if (spawn_decode(data, size, &type, &m) != 0)
		return 0;
	/* What passes names a real role, and a pid exactly for STOP. */
	if (m.role < 1 || m.role > 3 ||
	    (type != MSG_SPAWN_START_REQ && type != MSG_SPAWN_STOP_REQ) ||
	    (type == MSG_SPAWN_STOP_REQ) != (m.pid != 0))
		__builtin_trap();
	return 0;
}
