/*
 * util/json.h - just enough JSON: validation and flat-object lookup.
 *
 * json_valid() checks that text is exactly one JSON value (RFC 8259
 * grammar; numbers and escapes checked, nesting depth limited).
 * json_get() finds a top-level member of an object and gives its raw value;
 * json_string() unescapes a string value; json_get_str() does both (it
 * allocates only for a value longer than its buffer).  No state;
 * thread-safe.
 */
#ifndef FLOWFS_JSON_H
#define FLOWFS_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* P[0..N) is one JSON value, surrounded by optional whitespace. */
bool json_valid(const char *p, size_t n);
/* P[0..N) is one valid JSON object. */
bool json_is_object(const char *p, size_t n);

/* The raw text of member KEY of the object P[0..N) (a string value keeps its
 * quotes) in *VAL / *VLEN.  0, -ENOENT if absent, -EINVAL if P is not an
 * object. */
int json_get(const char *p, size_t n, const char *key, const char **val, size_t *vlen);

/* Unescapes the JSON string V[0..VLEN) (with its quotes) into OUT as UTF-8
 * and sets *OUTLEN (OUT holds at least VLEN bytes; NUL-terminated).
 * 0 or -EINVAL (not a string). */
int json_string(const char *v, size_t vlen, char *out, size_t *outlen);
/* String member KEY of the object P[0..N), unescaped into OUT (OUTLEN
 * bytes, NUL-terminated, its start when longer; "" unless 0).  0, -ENOENT
 * (absent or not a string), -ENOMEM or -EINVAL. */
int json_get_str(const char *p, size_t n, const char *key, char *out, size_t outlen);

#endif
