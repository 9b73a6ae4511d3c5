/*
 * util/json.c - JSON validation and flat-object lookup (see json.h).
 *
 * A recursive-descent scanner: json_skip() returns the end of the value at P
 * or NULL.  Depth is bounded so hostile input cannot exhaust the stack.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define JSON_DEPTH_MAX 64

static const char *json_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int json_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char *json_skip_string(const char *p, const char *end)
{
	if (p >= end || *p != '"')
		return NULL;
	for (p++; p < end; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		if (c != '\\')
			continue;
		if (++p >= end)
			return NULL;
		if (*p == 'u') {
			if (end - p < 5)
				return NULL;
			for (int i = 1; i <= 4; i++)
				if (json_hex(p[i]) < 0)
					return NULL;
			p += 4;
		} else if (!strchr("\"\\/bfnrt", *p)) {
			return NULL;
		}
	}
	return NULL;
}

static const char *json_digits(const char *p, const char *end)
{
	const char *s = p;

	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p > s ? p : NULL;
}

static const char *json_skip_number(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (!(p = json_digits(p, end)))
		return NULL;
	if (p < end && *p == '.' && !(p = json_digits(p + 1, end)))
		return NULL;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!(p = json_digits(p, end)))
			return NULL;
	}
	return p;
}

static const char *json_skip(const char *p, const char *end, int depth);

/* An object or array at P ('{' or '['). */
static const char *json_skip_container(const char *p, const char *end, int depth)
{
	char close = *p == '{' ? '}' : ']';
	bool obj = *p == '{';

	p = json_ws(p + 1, end);
	if (p < end && *p == close)
		return p + 1;
	for (;;) {
		if (obj) {
			if (!(p = json_skip_string(p, end)))
				return NULL;
			p = json_ws(p, end);
			if (p >= end || *p != ':')
				return NULL;
			p = json_ws(p + 1, end);
		}
		if (!(p = json_skip(p, end, depth + 1)))
			return NULL;
		p = json_ws(p, end);
		if (p < end && *p == ',') {
			p = json_ws(p + 1, end);
			continue;
		}
		return p < end && *p == close ? p + 1 : NULL;
	}
}

static const char *json_skip(const char *p, const char *end, int depth)
{
	if (p >= end || depth > JSON_DEPTH_MAX)
		return NULL;
	switch (*p) {
	case '{':
	case '[':
		return json_skip_container(p, end, depth);
	case '"':
		return json_skip_string(p, end);
	case 't':
		return end - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
	case 'f':
		return end - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
	case 'n':
		return end - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
	}
	return json_skip_number(p, end);
}

bool json_valid(const char *p, size_t n)
{
	const char *end = p + n, *q = json_skip(json_ws(p, end), end, 0);

	return q && json_ws(q, end) == end;
}

bool json_is_object(const char *p, size_t n)
{
	const char *q = json_ws(p, p + n);

	return q < p + n && *q == '{' && json_valid(p, n);
}

int json_get(const char *p, size_t n, const char *key, const char **val, size_t *vlen)
{
	const char *end = p + n, *k, *kend, *v;
	size_t klen = strlen(key);

	p = json_ws(p, end);
	if (p >= end || *p != '{')
		return -EINVAL;
	p = json_ws(p + 1, end);
	if (p < end && *p == '}')
		return -ENOENT;
	for (;;) {
		k = p;
		if (!(p = json_skip_string(p, end)))
			return -EINVAL;
		kend = p;
		p = json_ws(p, end);
		if (p >= end || *p != ':')
			return -EINVAL;
		v = json_ws(p + 1, end);
		if (!(p = json_skip(v, end, 1)))
			return -EINVAL;
		if ((size_t)(kend - k) == klen + 2 && memcmp(k + 1, key, klen) == 0) {
			*val = v;
			*vlen = (size_t)(p - v);
			return 0;
		}
		p = json_ws(p, end);
		if (p < end && *p == ',') {
			p = json_ws(p + 1, end);
			continue;
		}
		return p < end && *p == '}' ? -ENOENT : -EINVAL;
	}
}

/* Appends code point CP as UTF-8 at OUT; returns the bytes written. */
static size_t json_utf8(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static uint32_t json_u4(const char *p)
{
	return (uint32_t)(json_hex(p[0]) << 12 | json_hex(p[1]) << 8 | json_hex(p[2]) << 4 |
			  json_hex(p[3]));
}

int json_string(const char *v, size_t vlen, char *out, size_t *outlen)
{
	const char *end = v + vlen;
	size_t o = 0;

	if (json_skip_string(v, end) != end)
		return -EINVAL;
	for (const char *p = v + 1; p < end - 1; p++) {
		uint32_t cp;

		if (*p != '\\') {
			out[o++] = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'b': out[o++] = '\b'; continue;
		case 'f': out[o++] = '\f'; continue;
		case 'n': out[o++] = '\n'; continue;
		case 'r': out[o++] = '\r'; continue;
		case 't': out[o++] = '\t'; continue;
		case 'u': break;
		default: out[o++] = *p; continue;
		}
		cp = json_u4(p + 1);
		p += 4;
		if (cp >= 0xd800 && cp < 0xdc00 && end - p > 6 && p[1] == '\\' && p[2] == 'u') {
			uint32_t lo = json_u4(p + 3);
			if (lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
		}
		o += json_utf8(cp, out + o);	/* 6 escaped bytes give at most 4 */
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

int json_get_str(const char *p, size_t n, const char *key, char *out, size_t outlen)
{
	const char *v;
	size_t vlen, got;

	char *tmp;
	int rc;

	out[0] = '\0';
	if (json_get(p, n, key, &v, &vlen) != 0 || vlen < 2 || v[0] != '"')
		return -ENOENT;
	if (vlen < outlen)	/* the unescaped text is never longer */
		return json_string(v, vlen, out, &got);
	tmp = malloc(vlen);	/* longer than OUT: its start */
	if (!tmp)
		return -ENOMEM;
	rc = json_string(v, vlen, tmp, &got);
	if (rc == 0)
		snprintf(out, outlen, "%s", tmp);
	free(tmp);
	return rc;
}
