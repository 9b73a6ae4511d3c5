/*
 * util/buf.h - a growable byte buffer, with JSON helpers.
 *
 * A failed allocation sets b->oom and later appends are ignored, so callers
 * check once at the end.  Not thread-safe; one owner at a time.
 */
#ifndef FLOWFS_BUF_H
#define FLOWFS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *p;	/* NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
	bool oom;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);			/* frees p, keeps b reusable */
char *buf_steal(struct buf *b, size_t *len);	/* caller owns the result (never NULL unless oom) */
/* Room for MORE bytes after len (and the NUL); false (oom) if not. */
bool buf_reserve(struct buf *b, size_t more);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends S as a JSON string with quotes ("null" for NULL). */
void buf_json_str(struct buf *b, const char *s);

#endif
