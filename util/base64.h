/*
 * util/base64.h - base64 (RFC 4648, standard alphabet, with padding).
 *
 * Used by the http sink to put file parts into JSON events and by flowctl
 * reassemble to take them out again.  No state; thread-safe.
 */
#ifndef FLOWFS_BASE64_H
#define FLOWFS_BASE64_H

#include <stddef.h>

/* Bytes base64_encode() writes for N input bytes, the NUL included. */
#define BASE64_ENC_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/* Encodes N bytes of P into OUT (BASE64_ENC_SIZE(N) bytes); returns the
 * length without the NUL. */
size_t base64_encode(const void *p, size_t n, char *out);

/* Decodes N characters of S into OUT (at least N / 4 * 3 + 3 bytes) and sets
 * *OUTLEN.  Whitespace is skipped.  0, or -EINVAL for anything that is not
 * base64 (bad characters, bad padding, a dangling character). */
int base64_decode(const char *s, size_t n, unsigned char *out, size_t *outlen);

#endif
