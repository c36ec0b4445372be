/* msg.h: the field layout of every payload in proto.h */
#ifndef MSG_H
#define MSG_H

#include <stddef.h>
#include <stdint.h>

enum msg_kind {
	MF_U8 = 1,
	MF_U16,
	MF_U32,
	MF_U64,
	MF_STR, /* char[size], encoded u16 len + bytes + NUL */
	MF_STRUCT, /* nested layout */
	MF_ARRAY, /* u8 count + count x sub; count stored at count_off */
};

struct msg_layout;

struct msg_field {
	uint8_t kind;
	uint16_t off; /* offset in the decoded struct */
	uint16_t size; /* STR: buffer size; ARRAY: element size */
	uint16_t max; /* ARRAY: most elements */
	uint16_t count_off; /* ARRAY: offset of its uint8_t count */
	const struct msg_layout *sub;
};

struct msg_layout {
	size_t size; /* sizeof the decoded struct */
	const struct msg_field *fields;
	size_t nfields;
};

struct msg_desc {
	uint16_t type;
	const char *name;
	uint8_t dir;
	uint8_t worker;
	const struct msg_layout *layout;
};

/* The table of every message type, sorted by type; n in *count. */
const struct msg_desc *msg_table(size_t *count);

#endif /* MSG_H */
