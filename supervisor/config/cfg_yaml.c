/* cfg_yaml.c: the --config file: a YAML mapping of flag names to values */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "cfg.h"

#define PROG "stable-egressd: "
#define SHOWN_MAX 256 /* the file name as shown in errors */

struct yload {
	yaml_parser_t parser;
	yaml_event_t ev;
	int have_ev; /* ev must be deleted */
	struct cfg *c;
	char file[SHOWN_MAX];
	char *err;
	size_t errlen;
	uint64_t seen; /* bit per flag: duplicate keys */
};

/* The file name comes from the command line: keep it one short line. */
static void
shown_name(char *dst, size_t len, const char *file)
{
	size_t i;

	for (i = 0; file[i] != '\0' && i + 4 < len; i++)
		dst[i] = (unsigned char)file[i] < 0x20 || file[i] == 0x7f
		    ? '?'
		    : file[i];
	if (file[i] != '\0') {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

static unsigned long
line_of(const yaml_event_t *ev)
{
	return (unsigned long)ev->start_mark.line + 1;
}

static int fail(struct yload *y, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One line: "stable-egressd: config FILE: <what>". */
static int
fail(struct yload *y, const char *fmt, ...)
{
	char what[CFG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(what, sizeof(what), fmt, ap) < 0)
		what[0] = '\0';
	va_end(ap);
	cfg_errf(y->err, y->errlen, PROG "config %s: %s", y->file, what);
	return -1;
}

static int
fail_parser(struct yload *y)
{
	const yaml_parser_t *p = &y->parser;
	const char *problem = p->problem != NULL ? p->problem : "parse error";

	/* Reader errors (bad UTF-8, control bytes) have only an offset. */
	if (p->error == YAML_READER_ERROR)
		return fail(y, "malformed YAML at byte %zu: %s",
		    p->problem_offset, problem);
	return fail(y, "malformed YAML at line %zu, column %zu: %s",
	    p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
}

/* The next event into y->ev, the previous one freed. */
static int
next(struct yload *y)
{
	if (y->have_ev) {
		yaml_event_delete(&y->ev);
		y->have_ev = 0;
	}
	if (!yaml_parser_parse(&y->parser, &y->ev))
		return fail_parser(y);
	y->have_ev = 1;
	/* Flag values never need them; refusing keeps one value per key. */
	if (y->ev.type == YAML_ALIAS_EVENT)
		return fail(y, "aliases are not supported (line %lu)",
		    line_of(&y->ev));
	return 0;
}

/* A scalar as a C string: NUL bytes refused, plain nulls are "". */
static int
scalar(struct yload *y, const char **out)
{
	const char *v = (const char *)y->ev.data.scalar.value;
	size_t n = y->ev.data.scalar.length;

	if (memchr(v, '\0', n) != NULL)
		return fail(y, "NUL byte in a value (line %lu)",
		    line_of(&y->ev));
	if (y->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
		strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0))
		v = "";
	*out = v;
	return 0;
}

/* A YAML sequence of scalars as the comma list the flag takes. */
static int
join_sequence(struct yload *y, const char *key, char *list, size_t len)
{
	const char *item;
	size_t o = 0, n;

	list[0] = '\0';
	for (;;) {
		if (next(y) == -1)
			return -1;
		if (y->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return fail(y,
			    "%s: list items must be plain values (line %lu)",
			    key, line_of(&y->ev));
		if (scalar(y, &item) == -1)
			return -1;
		n = strlen(item);
		if (n == 0 || strchr(item, ',') != NULL)
			return fail(y,
			    "%s: list item empty or with a comma "
			    "(line %lu)",
			    key, line_of(&y->ev));
		if (o + n + 2 > len)
			return fail(y, "%s: list too long (line %lu)", key,
			    line_of(&y->ev));
		if (o > 0)
			list[o++] = ',';
		memcpy(list + o, item, n + 1);
		o += n;
	}
}

/* The value of flag i, the event after its key. */
static int
load_value(struct yload *y, int i, const char *key, unsigned long line)
{
	const struct cfg_flag *f = &cfg_flags[i];
	char list[CFG_LIST_MAX], why[CFG_ERR_MAX];
	const char *val = list;

	if (next(y) == -1)
		return -1;
	if (y->ev.type == YAML_MAPPING_START_EVENT)
		return fail(y,
		    "%s: nested mappings are not supported (line %lu)", key,
		    line_of(&y->ev));
	if (y->ev.type == YAML_SEQUENCE_START_EVENT) {
		if (f->type != CFG_T_LIST)
			return fail(y,
			    "%s: takes one value, not a list (line %lu)", key,
			    line_of(&y->ev));
		if (join_sequence(y, key, list, sizeof(list)) == -1)
			return -1;
	} else if (y->ev.type != YAML_SCALAR_EVENT)
		return fail(y, "%s: bad value (line %lu)", key, line);
	else if (scalar(y, &val) == -1)
		return -1;
	if (cfg_flag_apply(y->c, i, val, why, sizeof(why)) == -1)
		return fail(y, "%s: %s (line %lu)", key, why, line);
	return 0;
}

/* One "key: value" pair; y->ev holds the key. */
static int
load_pair(struct yload *y)
{
	char key[CFG_QUOTE_MAX], name[64];
	unsigned long line = line_of(&y->ev);
	const char *k;
	int i = -1;

	if (y->ev.type != YAML_SCALAR_EVENT)
		return fail(y, "keys must be flag names (line %lu)", line);
	k = (const char *)y->ev.data.scalar.value;
	cfg_quote(key, sizeof(key), k);
	if (y->ev.data.scalar.length < sizeof(name) &&
	    memchr(k, '\0', y->ev.data.scalar.length) == NULL)
		i = cfg_flag_find(k);
	if (i == -1)
		return fail(y, "unknown key %s (line %lu)", key, line);
	if (cfg_flags[i].flags & CFG_F_NOFILE)
		return fail(y, "key %s is a command-line flag only (line %lu)",
		    key, line);
	if (y->seen & (UINT64_C(1) << i))
		return fail(y, "duplicate key %s (line %lu)", key, line);
	y->seen |= UINT64_C(1) << i;
	/* The key is freed by the next event: keep the trusted name. */
	(void)snprintf(name, sizeof(name), "%s", cfg_flags[i].name);
	return load_value(y, i, name, line);
}

static int
load_mapping(struct yload *y)
{
	for (;;) {
		if (next(y) == -1)
			return -1;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (load_pair(y) == -1)
			return -1;
	}
}

/* The document root: a mapping, or nothing at all ("---" alone). */
static int
load_document(struct yload *y)
{
	if (next(y) == -1)
		return -1;
	if (y->ev.type == YAML_MAPPING_START_EVENT) {
		if (load_mapping(y) == -1)
			return -1;
	} else if (y->ev.type != YAML_SCALAR_EVENT ||
	    y->ev.data.scalar.length != 0 ||
	    y->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return fail(y,
		    "want a mapping of flag names to values (line %lu)",
		    line_of(&y->ev));
	if (next(y) == -1)
		return -1;
	if (y->ev.type != YAML_DOCUMENT_END_EVENT)
		return fail(y, "unexpected content (line %lu)",
		    line_of(&y->ev));
	return 0;
}

static int
load_stream(struct yload *y)
{
	if (next(y) == -1 || next(y) == -1)
		return -1;
	/* An empty file, or one of comments only, has no document. */
	if (y->ev.type == YAML_STREAM_END_EVENT)
		return 0;
	if (y->ev.type != YAML_DOCUMENT_START_EVENT)
		return fail(y, "unexpected content (line %lu)",
		    line_of(&y->ev));
	if (load_document(y) == -1 || next(y) == -1)
		return -1;
	if (y->ev.type != YAML_STREAM_END_EVENT)
		return fail(y, "only one YAML document is allowed (line %lu)",
		    line_of(&y->ev));
	return 0;
}

int
cfg_load_yaml(struct cfg *c, const char *file, const char *buf, size_t len,
    char *err, size_t errlen)
{
	struct yload y;
	int r;

	memset(&y, 0, sizeof(y));
	y.c = c;
	y.err = err;
	y.errlen = errlen;
	shown_name(y.file, sizeof(y.file), file);
	if (!yaml_parser_initialize(&y.parser)) {
		errno = ENOMEM;
		return fail(&y, "out of memory");
	}
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)buf,
	    len);
	/* No guessing UTF-16 from a BOM: the file is UTF-8 or refused. */
	yaml_parser_set_encoding(&y.parser, YAML_UTF8_ENCODING);
	r = load_stream(&y);
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	return r;
}

/* The whole regular file, at most CFG_FILE_MAX bytes, into *out. */
static int
read_file(int fd, char **out, size_t *outlen)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;
	char *buf;

	if (fstat(fd, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	if ((buf = malloc(CFG_FILE_MAX + 1)) == NULL)
		return -1;
	/* One byte more than allowed tells a file that grew too big. */
	while (got <= CFG_FILE_MAX) {
		n = read(fd, buf + got, CFG_FILE_MAX + 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto out_free_buf;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > CFG_FILE_MAX) {
		errno = EFBIG;
		goto out_free_buf;
	}
	*out = buf;
	*outlen = got;
	return 0;

out_free_buf:
	free(buf);
	return -1;
}

int
cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen)
{
	char shown[SHOWN_MAX], *buf = NULL;
	const char *why;
	size_t len = 0;
	int fd, r = -1;

	shown_name(shown, sizeof(shown), path);
	/* No O_NOFOLLOW: ConfigMap mounts are symlinks. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1 || read_file(fd, &buf, &len) == -1) {
		if (errno == EFBIG)
			why = "larger than 64 KiB";
		else if (errno == EINVAL)
			why = "not a regular file";
		else
			why = strerror(errno);
		cfg_errf(err, errlen, PROG "config %s: %s", shown, why);
		goto out_close;
	}
	r = cfg_load_yaml(c, path, buf, len, err, errlen);
	free(buf);
out_close:
	if (fd != -1)
		close(fd);
	return r;
}
