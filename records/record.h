/*
 * records/record.h - the record model shared by every reader and writer.
 *
 * A record is an ordered list of fields (name, value).  A value is null,
 * bool, int64 (exact), double, a UTF-8 string, or nested: an object or an
 * array kept as its compact JSON text.  Everything a record points to
 * (names, string bytes) lives in its arena, which is reset with the record:
 * a reader hands out one record at a time and reuses the memory.
 *
 * Not thread-safe; a record has one owner at a time.
 */
#ifndef FLOWFS_RECORD_H
#define FLOWFS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rec_type {
	REC_NULL,
	REC_BOOL,
	REC_INT,
	REC_DOUBLE,
	REC_STRING,	/* UTF-8, s.p[0..s.n), not NUL-terminated */
	REC_NESTED,	/* compact JSON text of an object or array, in s */
};

struct rec_value {
	enum rec_type type;
	union {
		bool b;
		int64_t i;
		double d;
		struct {
			const char *p;
			size_t n;
		} s;
	};
};

struct rec_field {
	const char *name;	/* in the record's arena, NUL-terminated */
	size_t name_len;
	struct rec_value v;
};

struct rec_arena_block;

/* Bump allocator: blocks of at least 64 KiB; reset keeps the first one. */
struct rec_arena {
	struct rec_arena_block *head;	/* newest block first */
};

struct record {
	struct rec_field *fields;	/* malloc'd, capacity kept across resets */
	size_t n;
	size_t cap;
	struct rec_arena arena;
};

void rec_arena_init(struct rec_arena *a);
/* N bytes, aligned for any scalar; NULL when out of memory. */
void *rec_arena_alloc(struct rec_arena *a, size_t n);
/* A NUL-terminated copy of P[0..N) in the arena. */
char *rec_arena_dup(struct rec_arena *a, const void *p, size_t n);
void rec_arena_reset(struct rec_arena *a);
/* A malloc'd NUL-terminated copy of P[0..N) (which may hold NULs), or NULL. */
char *rec_memdup(const void *p, size_t n);
void rec_arena_free(struct rec_arena *a);

void rec_init(struct record *r);
void rec_reset(struct record *r);	/* no fields; arena reset */
void rec_free(struct record *r);	/* keeps r reusable; NULL-safe */

/* Appends a field without copying: NAME and any string bytes of V must live
 * as long as the record (in its arena).  0 or -ENOMEM. */
int rec_push(struct record *r, const char *name, size_t name_len, const struct rec_value *v);
/* Appends a field, copying NAME and V's bytes into the arena. */
int rec_add(struct record *r, const char *name, const struct rec_value *v);
int rec_add_null(struct record *r, const char *name);
int rec_add_bool(struct record *r, const char *name, bool b);
int rec_add_int(struct record *r, const char *name, int64_t i);
int rec_add_double(struct record *r, const char *name, double d);
int rec_add_str(struct record *r, const char *name, const char *s, size_t n);
int rec_add_nested(struct record *r, const char *name, const char *json, size_t n);

/* Makes room for element N of the array *PP of *CAP elements of SIZE
 * bytes (doubling, from FIRST).  0 or -ENOMEM (the array is kept). */
int rec_grow(void *pp, size_t *cap, size_t n, size_t size, size_t first);

/* The text of a non-null value (a string as is, a number or bool as its
 * JSON text, nested as its JSON) in *P / *N; NUM is scratch of 32 bytes
 * that *P may point into.  False for null. */
bool rec_value_text(const struct rec_value *v, char *num, const char **p, size_t *n);

/* The first field named NAME[0..LEN), or NULL. */
const struct rec_field *rec_find(const struct record *r, const char *name, size_t len);

/* The text of field PATH in BUF (NUL-terminated): a string as is, a number
 * or bool as its JSON text, a nested value as its compact JSON.  A dotted
 * path "a.b" descends into nested objects (an exact field "a.b" wins).
 * 0; -ENOENT when missing or null; -ENOSPC when BUF is too small. */
int rec_field_text(const struct record *r, const char *path, char *buf, size_t len);

/* The value of the time field NAME in microseconds since the epoch (UTC):
 * an RFC 3339 string or an epoch number (see rec_time_parse()).
 * 0; -ENOENT when missing or null; -EINVAL when it is not a time. */
int rec_time_field(const struct record *r, const char *name, int64_t *us);

/* The shortest text that reads back as D exactly ("1.5", "3.0", "1e+300"),
 * always with a '.' or an exponent; "null" for NaN and infinities.  BUF
 * holds at least 32 bytes; returns the length. */
size_t rec_double_text(double d, char *buf);

#endif
