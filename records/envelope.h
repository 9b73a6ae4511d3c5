/*
 * records/envelope.h - the error envelope: one JSON line that carries a
 * record that could not be read to the flow's error stream:
 *
 *   {"error":"...","flow":"...","source":"app.log","line":12,
 *    "time":"2026-12-01T21:03:00Z","raw":"..."}
 *
 * Raw bytes that are not valid UTF-8 go base64 in "raw_b64" instead.
 * No state; thread-safe.
 */
#ifndef FLOWFS_ENVELOPE_H
#define FLOWFS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"

struct rec_envelope {
	const char *error;	/* why, e.g. "line 12: not a JSON object" */
	const char *flow;
	const char *source;	/* the file or stream name; NULL: left out */
	uint64_t line;		/* 0: left out */
	int64_t time_us;	/* when it was read, µs since the epoch */
	const char *raw;	/* the record's bytes */
	size_t raw_len;
};

/* Appends the envelope of E to B (no newline).  0 or -ENOMEM. */
int rec_envelope(struct buf *b, const struct rec_envelope *e);

#endif
