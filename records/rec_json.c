/*
 * records/rec_json.c - the record JSON parser and printer (see rec_json.h).
 *
 * One recursive-descent pass over a line that is first checked as UTF-8.
 * Top-level member values are decoded; deeper values are validated and
 * copied without their whitespace into one arena buffer as long as the
 * input (compact text is never longer), so parsing allocates per line a
 * fixed number of times.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec_json.h"

struct rec_jp {
	const char *s;		/* start of the text, for byte positions */
	const char *p;		/* next byte */
	const char *end;
	char *out;		/* compact copy of nested values, in the arena */
	const char *why;	/* what went wrong, when a step fails */
};

size_t rec_utf8_prefix(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t len = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 :
			     c >= 0xf0 && c < 0xf5 ? 4 : 0;
		unsigned char lo = 0x80, hi = 0xbf;

		if (len == 0 || n - i < len)
			return i;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (len > 1 && (s[i + 1] < lo || s[i + 1] > hi))
			return i;
		for (size_t k = 2; k < len; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return i;
		i += len;
	}
	return i;
}

bool rec_utf8_valid(const char *p, size_t n)
{
	return rec_utf8_prefix(p, n) == n;
}

static bool jp_fail(struct rec_jp *jp, const char *why)
{
	jp->why = why;
	return false;
}

static void jp_ws(struct rec_jp *jp)
{
	while (jp->p < jp->end && strchr(" \t\r\n", *jp->p) && *jp->p)
		jp->p++;
}

static int jp_hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static size_t jp_utf8(uint32_t cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* The \uXXXX escape at jp->p (after the 'u'), a surrogate pair included:
 * its code point in *cp, jp->p past it. */
static bool jp_unicode(struct rec_jp *jp, uint32_t *cp)
{
	int hi, lo;

	if (jp->end - jp->p < 4 || (hi = jp_hex4(jp->p)) < 0)
		return jp_fail(jp, "bad \\u escape");
	jp->p += 4;
	if (hi >= 0xdc00 && hi < 0xe000)
		return jp_fail(jp, "lone low surrogate in \\u escape");
	if (hi < 0xd800 || hi >= 0xdc00) {
		*cp = (uint32_t)hi;
		return true;
	}
	if (jp->end - jp->p < 6 || jp->p[0] != '\\' || jp->p[1] != 'u' ||
	    (lo = jp_hex4(jp->p + 2)) < 0xdc00 || lo >= 0xe000)
		return jp_fail(jp, "lone high surrogate in \\u escape");
	jp->p += 6;
	*cp = 0x10000 + ((uint32_t)(hi - 0xd800) << 10) + (uint32_t)(lo - 0xdc00);
	return true;
}

/* One escape after the backslash at jp->p into O (decoded) ; its length. */
static bool jp_escape(struct rec_jp *jp, char *o, size_t *len)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	uint32_t cp;

	if (jp->p >= jp->end)
		return jp_fail(jp, "unterminated string");
	if (*jp->p == 'u') {
		jp->p++;
		if (!jp_unicode(jp, &cp))
			return false;
		*len = jp_utf8(cp, o);
		return true;
	}
	if (!*jp->p || !(e = strchr(from, *jp->p)))
		return jp_fail(jp, "bad string escape");
	jp->p++;
	o[0] = to[e - from];
	*len = 1;
	return true;
}

/* The string at jp->p: decoded into O when O is not NULL (O holds as many
 * bytes as the raw string), else only checked.  Its length in *len. */
static bool jp_string(struct rec_jp *jp, char *o, size_t *len)
{
	char tmp[4];
	size_t n = 0, k;

	if (jp->p >= jp->end || *jp->p != '"')
		return jp_fail(jp, "expected a string");
	for (jp->p++; jp->p < jp->end;) {
		unsigned char c = (unsigned char)*jp->p;

		if (c == '"') {
			jp->p++;
			*len = n;
			return true;
		}
		if (c < 0x20)
			return jp_fail(jp, "control character in string");
		if (c != '\\') {
			if (o)
				o[n] = (char)c;
			n++;
			jp->p++;
			continue;
		}
		jp->p++;
		if (!jp_escape(jp, o ? o + n : tmp, &k))
			return false;
		n += k;
	}
	return jp_fail(jp, "unterminated string");
}

static const char *jp_digits(const char *p, const char *end)
{
	const char *s = p;

	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p > s ? p : NULL;
}

/* Scans the number at jp->p; *integral when it has no fraction/exponent. */
static bool jp_number_scan(struct rec_jp *jp, bool *integral)
{
	const char *p = jp->p, *end = jp->end;

	*integral = true;
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (!(p = jp_digits(p, end)))
		return jp_fail(jp, "bad number");
	if (p < end && *p == '.') {
		*integral = false;
		if (!(p = jp_digits(p + 1, end)))
			return jp_fail(jp, "bad number");
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		*integral = false;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!(p = jp_digits(p, end)))
			return jp_fail(jp, "bad number");
	}
	jp->p = p;
	return true;
}

/* Decodes the number at jp->p: int64 when integral and in range. */
static bool jp_number(struct rec_jp *jp, struct rec_value *v)
{
	const char *s = jp->p;
	char tmp[512], *end;
	bool integral;
	size_t n;

	if (!jp_number_scan(jp, &integral))
		return false;
	n = (size_t)(jp->p - s);
	if (n >= sizeof(tmp))
		return jp_fail(jp, "number too long");
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	if (integral) {
		long long i = strtoll(tmp, &end, 10);

		if (errno == 0) {
			v->type = REC_INT;
			v->i = i;
			return true;
		}
	}
	v->type = REC_DOUBLE;
	v->d = strtod(tmp, &end);
	return true;
}

static bool jp_literal(struct rec_jp *jp, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n) != 0)
		return jp_fail(jp, "unexpected character");
	jp->p += n;
	return true;
}

static void jp_emit(struct rec_jp *jp, const char *from)
{
	size_t n = (size_t)(jp->p - from);

	memcpy(jp->out, from, n);
	jp->out += n;
}

static bool jp_compact(struct rec_jp *jp, int depth);

/* The members or elements of the object/array at jp->p, copied compact. */
static bool jp_compact_container(struct rec_jp *jp, int depth)
{
	char close = *jp->p == '{' ? '}' : ']';
	bool object = close == '}', first = true;

	if (depth > REC_JSON_DEPTH)
		return jp_fail(jp, "nested too deep");
	*jp->out++ = *jp->p++;
	for (;;) {
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == close && first)
			break;
		if (!first) {
			if (jp->p < jp->end && *jp->p == close)
				break;
			if (jp->p >= jp->end || *jp->p != ',')
				return jp_fail(jp, object ? "expected ',' or '}'" : "expected ',' or ']'");
			*jp->out++ = *jp->p++;
			jp_ws(jp);
		}
		first = false;
		if (object) {
			const char *k = jp->p;
			size_t len;

			if (!jp_string(jp, NULL, &len))
				return false;
			jp_emit(jp, k);
			jp_ws(jp);
			if (jp->p >= jp->end || *jp->p != ':')
				return jp_fail(jp, "expected ':'");
			*jp->out++ = *jp->p++;
			jp_ws(jp);
		}
		if (!jp_compact(jp, depth + 1))
			return false;
	}
	*jp->out++ = *jp->p++;
	return true;
}

/* Checks the value at jp->p and copies it without whitespace to jp->out. */
static bool jp_compact(struct rec_jp *jp, int depth)
{
	const char *s = jp->p;
	bool integral;
	size_t len;
	bool ok;

	if (jp->p >= jp->end)
		return jp_fail(jp, "expected a value");
	switch (*jp->p) {
	case '{':
	case '[':
		return jp_compact_container(jp, depth);
	case '"':
		ok = jp_string(jp, NULL, &len);
		break;
	case 't':
		ok = jp_literal(jp, "true");
		break;
	case 'f':
		ok = jp_literal(jp, "false");
		break;
	case 'n':
		ok = jp_literal(jp, "null");
		break;
	default:
		ok = jp_number_scan(jp, &integral);
	}
	if (ok)
		jp_emit(jp, s);
	return ok;
}

/* The string at jp->p decoded into a NUL-terminated arena copy. */
static bool jp_string_dup(struct rec_jp *jp, struct rec_arena *a, char **o, size_t *len)
{
	const char *s = jp->p;

	if (!jp_string(jp, NULL, len))
		return false;
	if (!(*o = rec_arena_alloc(a, *len + 1)))
		return jp_fail(jp, "out of memory");
	jp->p = s;
	jp_string(jp, *o, len);
	(*o)[*len] = '\0';
	return true;
}

/* A top-level member's value at jp->p into V; strings in the arena. */
static bool jp_value(struct rec_jp *jp, struct rec_arena *a, struct rec_value *v)
{
	char *o;
	size_t len;

	switch (jp->p < jp->end ? *jp->p : '\0') {
	case '{':
	case '[':
		o = jp->out;
		if (!jp_compact(jp, 2))
			return false;
		*v = (struct rec_value){ .type = REC_NESTED, .s = { o, (size_t)(jp->out - o) } };
		return true;
	case '"':
		if (!jp_string_dup(jp, a, &o, &len))
			return false;
		*v = (struct rec_value){ .type = REC_STRING, .s = { o, len } };
		return true;
	case 't':
		*v = (struct rec_value){ .type = REC_BOOL, .b = true };
		return jp_literal(jp, "true");
	case 'f':
		*v = (struct rec_value){ .type = REC_BOOL, .b = false };
		return jp_literal(jp, "false");
	case 'n':
		*v = (struct rec_value){ .type = REC_NULL };
		return jp_literal(jp, "null");
	default:
		return jp_number(jp, v);
	}
}

/* One "key": value member at jp->p appended to R. */
static bool jp_member(struct rec_jp *jp, struct record *r)
{
	struct rec_value v;
	char *key;
	size_t klen;

	if (!jp_string_dup(jp, &r->arena, &key, &klen))
		return false;
	jp_ws(jp);
	if (jp->p >= jp->end || *jp->p != ':')
		return jp_fail(jp, "expected ':'");
	jp->p++;
	jp_ws(jp);
	if (!jp_value(jp, &r->arena, &v))
		return false;
	if (rec_push(r, key, klen, &v))
		return jp_fail(jp, "out of memory");
	return true;
}

static bool jp_object(struct rec_jp *jp, struct record *r)
{
	jp->p++;
	jp_ws(jp);
	if (jp->p < jp->end && *jp->p == '}') {
		jp->p++;
		return true;
	}
	for (;;) {
		jp_ws(jp);
		if (!jp_member(jp, r))
			return false;
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == '}') {
			jp->p++;
			return true;
		}
		if (jp->p >= jp->end || *jp->p != ',')
			return jp_fail(jp, "expected ',' or '}'");
		jp->p++;
	}
}

int rec_json_parse_object(struct record *r, const char *p, size_t n, char *msg, size_t msglen)
{
	struct rec_jp jp = { .s = p, .p = p, .end = p + n };
	size_t bad = rec_utf8_prefix(p, n);

	if (bad < n) {
		snprintf(msg, msglen, "invalid UTF-8 at byte %zu", bad + 1);
		return -EINVAL;
	}
	jp_ws(&jp);
	if (jp.p >= jp.end || *jp.p != '{') {
		snprintf(msg, msglen, "not a JSON object");
		return -EINVAL;
	}
	if (!(jp.out = rec_arena_alloc(&r->arena, n + 1)))
		return -ENOMEM;
	if (jp_object(&jp, r)) {
		jp_ws(&jp);
		if (jp.p == jp.end)
			return 0;
		jp.why = "text after the object";
	}
	snprintf(msg, msglen, "invalid JSON at byte %zu: %s", (size_t)(jp.p - p) + 1, jp.why);
	return strcmp(jp.why, "out of memory") ? -EINVAL : -ENOMEM;
}

void rec_json_str(struct buf *b, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	buf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		buf_add(b, p + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			buf_add(b, esc, 2);
		} else if (c == '\n' || c == '\t' || c == '\r') {
			esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
			buf_add(b, esc, 2);
		} else {
			buf_add(b, esc, 6);
		}
	}
	buf_add(b, p + run, n - run);
	buf_add(b, "\"", 1);
}

void rec_json_value(struct buf *b, const struct rec_value *v)
{
	char num[32];

	switch (v->type) {
	case REC_NULL:
		buf_add(b, "null", 4);
		break;
	case REC_BOOL:
		buf_puts(b, v->b ? "true" : "false");
		break;
	case REC_INT:
		buf_printf(b, "%" PRId64, v->i);
		break;
	case REC_DOUBLE:
		buf_add(b, num, rec_double_text(v->d, num));
		break;
	case REC_STRING:
		rec_json_str(b, v->s.p, v->s.n);
		break;
	case REC_NESTED:
		buf_add(b, v->s.p, v->s.n);
		break;
	}
}

void rec_json_record(struct buf *b, const struct record *r)
{
	buf_add(b, "{", 1);
	for (size_t i = 0; i < r->n; i++) {
		if (i)
			buf_add(b, ",", 1);
		rec_json_str(b, r->fields[i].name, r->fields[i].name_len);
		buf_add(b, ":", 1);
		rec_json_value(b, &r->fields[i].v);
	}
	buf_add(b, "}", 1);
}
