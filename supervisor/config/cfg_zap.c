/* cfg_zap.c: controller-runtime's --zap-* logging flags, mapped onto ours */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/str.h"
#include "cfg.h"

/*
 * The reference's Deployment may carry any flag of controller-runtime's
 * zap options (pkg/log/zap/flags.go); an operator who swaps the image
 * must not see exit 2 for one.  Values are checked as zap checks them
 * (case-insensitive) and land on --log-format, --log-level and the ts
 * encoding.  Stack traces do not exist here: that flag is checked and
 * otherwise ignored.
 */

int
cfg_set_zap_encoder(struct cfg *c, const struct cfg_flag *f, const char *val,
    char *why, size_t whylen)
{
	(void)f;
	if (strcasecmp(val, "json") == 0)
		c->log_json = 1;
	else if (strcasecmp(val, "console") == 0)
		c->log_json = 0;
	else
		return cfg_refuse(why, whylen, "encoder", val,
		    "json or console");
	return 0;
}

/* zap's names, or an integer > 0: a custom debug verbosity (debug here). */
int
cfg_set_zap_level(struct cfg *c, const struct cfg_flag *f, const char *val,
    char *why, size_t whylen)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = { { "debug", LOG_DEBUG }, { "info", LOG_INFO },
		{ "warn", LOG_WARN }, { "error", LOG_ERROR },
		{ "panic", LOG_ERROR } };
	int64_t v;
	size_t i;

	(void)f;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(val, names[i].name) == 0) {
			c->log_level = names[i].level;
			return 0;
		}
	if (str_to_i64(val, 1, 127, &v) == 0) {
		c->log_level = LOG_DEBUG;
		return 0;
	}
	return cfg_refuse(why, whylen, "log level", val,
	    "debug, info, error, panic or an integer > 0");
}

int
cfg_set_zap_stacktrace(struct cfg *c, const struct cfg_flag *f, const char *val,
    char *why, size_t whylen)
{
	static const char *const names[] = { "info", "warn", "error", "panic" };
	size_t i;

	(void)f;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(val, names[i]) == 0)
			return str_copy(c->zap_stacktrace_level,
			    sizeof(c->zap_stacktrace_level), names[i]);
	return cfg_refuse(why, whylen, "stacktrace level", val,
	    "info, error or panic");
}

int
cfg_set_zap_time(struct cfg *c, const struct cfg_flag *f, const char *val,
    char *why, size_t whylen)
{
	int t = log_parse_time(val);

	(void)f;
	if (t < 0)
		return cfg_refuse(why, whylen, "time encoding", val,
		    "epoch, millis, nanos, iso8601, rfc3339 or rfc3339nano");
	c->log_time = (enum log_time)t;
	return 0;
}

int
cfg_show_zap_time(const struct cfg *c, const struct cfg_flag *f, char *buf,
    size_t len)
{
	(void)f;
	return str_copy(buf, len,
	    c->log_time == LOG_TS_DEFAULT ? "epoch"
					  : log_time_name(c->log_time));
}

static int
given(const struct cfg *c, const char *name)
{
	int i = cfg_flag_find(name);

	return i >= 0 && (c->given & (UINT64_C(1) << i)) != 0;
}

/* --zap-devel: zap's development defaults (console, debug, ISO 8601)
 * for whatever no flag or key set explicitly. */
void
cfg_zap_finish(struct cfg *c)
{
	if (!c->zap_devel)
		return;
	if (!given(c, "log-format") && !given(c, "zap-encoder"))
		c->log_json = 0;
	if (!given(c, "log-level") && !given(c, "zap-log-level"))
		c->log_level = LOG_DEBUG;
	if (!given(c, "zap-time-encoding"))
		c->log_time = LOG_TS_ISO8601;
}
