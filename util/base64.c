/*
 * util/base64.c - base64 encoding and decoding (see base64.h).
 *
 * Plain table code, no OpenSSL, so fs/ (flowctl) may use it too.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "base64.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const void *p, size_t n, char *out)
{
	const unsigned char *in = p;
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* The 6-bit value of C, or -1. */
static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static bool b64_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

int base64_decode(const char *s, size_t n, unsigned char *out, size_t *outlen)
{
	uint32_t acc = 0;
	size_t o = 0;
	int bits = 0, pad = 0, chars = 0;

	for (size_t i = 0; i < n; i++) {
		int v;

		if (b64_space(s[i]))
			continue;
		if (s[i] == '=') {
			pad++;
			chars++;
			continue;
		}
		v = b64_value(s[i]);
		if (v < 0 || pad)
			return -EINVAL;	/* a bad character, or data after '=' */
		chars++;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (chars % 4 != 0 || pad > 2 || (pad && bits == 0) || bits >= 6)
		return -EINVAL;
	*outlen = o;
	return 0;
}
