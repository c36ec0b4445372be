/* privdrop.h: switch a process started as root to the configured user */
#ifndef PRIVDROP_H
#define PRIVDROP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Clear the supplementary groups, then set real, effective and saved
 * gid and uid, and check that root cannot be regained.  Called by the
 * supervisor and the spawner before they enter their sandboxes (the
 * workers inherit the spawner's ids).  Returns 0, or -1 with one line
 * in err.
 */
int privdrop(uint32_t uid, uint32_t gid, char *err, size_t errlen);

#endif /* PRIVDROP_H */
