/*
 * cache/template.c - object keys from templates such as
 * "<FLOW>/<DATE>/<STREAM>-<DATETIME>.<FLOWID>.<PART>.log".
 *
 * Tokens: <DATE> YYYY-MM-DD, <DATETIME> YYYYMMDDTHHMMSSZ, <FLOW>, <FLOWID>,
 * <STREAM>, <PART> and <SEQ> (zero-padded to 6 digits), <HOST>, <PATH>, and
 * strftime's %Y %m %d %H %M %S (UTC), and <FIELD:name|fallback>: the text of
 * a record's field (v->field; a dotted name descends into nested objects),
 * the fallback (default "_none") when it is missing.  Values are made safe: a '/' or a
 * control character becomes '_', an empty value "_", "." and ".." become
 * "_" and "__"; only <PATH> keeps its '/' (its segments are checked the same
 * way).  The rendered key must not be empty or start with '/', and has no
 * empty, "." or ".." segment: such a template is refused with -EINVAL.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../util/buf.h"
#include "internal.h"

/* Appends one segment-safe copy of V (KEEP_SLASH: for <PATH>). */
static void put_value(struct buf *b, const char *v, bool keep_slash)
{
	const char *seg = v ? v : "";

	do {
		size_t len = keep_slash ? strcspn(seg, "/") : strlen(seg);

		if (len == 0)
			buf_puts(b, "_");
		else if (len == 1 && seg[0] == '.')
			buf_puts(b, "_");
		else if (len == 2 && seg[0] == '.' && seg[1] == '.')
			buf_puts(b, "__");
		else
			for (size_t i = 0; i < len; i++) {
				unsigned char ch = (unsigned char)seg[i];
				char out = ch < 0x20 || ch == 0x7f || ch == '/' || ch == '\\' ? '_' : (char)ch;
				buf_add(b, &out, 1);
			}
		seg += len;
		if (keep_slash && *seg == '/') {
			buf_puts(b, "/");
			seg++;
			if (!*seg)
				buf_puts(b, "_");
		}
	} while (keep_slash && *seg);
}

#define FIELD_TOKEN "<FIELD:"
#define FIELD_FALLBACK "_none"

/* <FIELD:name|fallback> at *PP: false if it is not one (no closing '>');
 * an empty name sets *BAD. */
static bool field_token(struct buf *b, const char **pp, const struct tmpl_vars *v, bool *bad)
{
	const char *p = *pp + strlen(FIELD_TOKEN), *end = strchr(p, '>');
	const char *bar = memchr(p, '|', end ? (size_t)(end - p) : 0);
	char name[256], val[1024];

	if (!end)
		return false;
	snprintf(name, sizeof(name), "%.*s", (int)((bar ? bar : end) - p), p);
	*bad |= !*name;
	if (v->field && *name && v->field(v->field_ctx, name, val, sizeof(val)) == 0)
		put_value(b, val, false);
	else if (bar)
		put_value(b, (snprintf(val, sizeof(val), "%.*s", (int)(end - bar - 1), bar + 1), val), false);
	else
		buf_puts(b, FIELD_FALLBACK);
	*pp = end + 1;
	return true;
}

bool tmpl_has_fields(const char *tmpl)
{
	return tmpl && strstr(tmpl, FIELD_TOKEN) != NULL;
}

static bool token(struct buf *b, const char **pp, const struct tmpl_vars *v, const struct tm *tm,
		  bool *bad)
{
	static const char *const names[] = { "<DATE>", "<DATETIME>", "<FLOW>", "<FLOWID>", "<STREAM>",
					     "<PART>", "<SEQ>", "<HOST>", "<PATH>" };
	char tmp[64];
	size_t i, n = sizeof(names) / sizeof(names[0]);

	if (strncmp(*pp, FIELD_TOKEN, strlen(FIELD_TOKEN)) == 0)
		return field_token(b, pp, v, bad);
	for (i = 0; i < n; i++)
		if (strncmp(*pp, names[i], strlen(names[i])) == 0)
			break;
	if (i == n)
		return false;
	*pp += strlen(names[i]);
	switch (i) {
	case 0: strftime(tmp, sizeof(tmp), "%Y-%m-%d", tm); buf_puts(b, tmp); break;
	case 1: strftime(tmp, sizeof(tmp), "%Y%m%dT%H%M%SZ", tm); buf_puts(b, tmp); break;
	case 2: put_value(b, v->flow, false); break;
	case 3: put_value(b, v->flowid, false); break;
	case 4: put_value(b, v->stream, false); break;
	case 5: buf_printf(b, "%06llu", (unsigned long long)v->part); break;
	case 6: buf_printf(b, "%06llu", (unsigned long long)v->seq); break;
	case 7: put_value(b, v->host, false); break;
	case 8: put_value(b, v->path, true); break;
	}
	return true;
}

int tmpl_render(const char *tmpl, const struct tmpl_vars *v, char *out, size_t outlen)
{
	time_t t = v->t;
	struct tm tm;
	struct buf b;
	const char *why;
	bool bad = false;
	int rc = 0;

	gmtime_r(&t, &tm);
	buf_init(&b);
	for (const char *p = tmpl; *p; ) {
		if (*p == '<' && token(&b, &p, v, &tm, &bad))
			continue;
		if (*p == '%' && p[1] && strchr("YmdHMS", p[1])) {
			char fmt[3] = { '%', p[1], '\0' }, tmp[16];
			strftime(tmp, sizeof(tmp), fmt, &tm);
			buf_puts(&b, tmp);
			p += 2;
			continue;
		}
		buf_add(&b, p++, 1);
	}
	if (b.oom)
		rc = -ENOMEM;
	else if (bad || !b.p || !sink_key_valid(b.p, false, &why))
		rc = -EINVAL;
	else if (b.len >= outlen)
		rc = -ENAMETOOLONG;
	else
		memcpy(out, b.p, b.len + 1);
	buf_free(&b);
	return rc;
}
