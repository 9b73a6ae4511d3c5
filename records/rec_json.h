/*
 * records/rec_json.h - JSON for records: a strict parser of one object into
 * a record, UTF-8 validation and JSON output of values.
 *
 * The parser validates everything (RFC 8259 grammar, UTF-8, \u escapes with
 * surrogate pairs) and bounds nesting at REC_JSON_DEPTH, so hostile input
 * cannot exhaust the stack.  Integers that fit int64 stay exact; other
 * numbers become doubles; objects and arrays below the top level are kept as
 * their compact JSON text (REC_NESTED).  No state; thread-safe.
 */
#ifndef FLOWFS_REC_JSON_H
#define FLOWFS_REC_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/buf.h"
#include "record.h"

#define REC_JSON_DEPTH 64

/* Length of the longest valid UTF-8 prefix of P[0..N): N when all valid. */
size_t rec_utf8_prefix(const char *p, size_t n);
bool rec_utf8_valid(const char *p, size_t n);

/* Parses P[0..N), which must be one JSON object (whitespace around it
 * allowed), appending its members to R (allocated in R's arena).
 * 0; -EINVAL with a message in MSG ("not a JSON object", "invalid UTF-8 at
 * byte 17", "invalid JSON at byte 5: ..."; bytes count from 1); -ENOMEM. */
int rec_json_parse_object(struct record *r, const char *p, size_t n, char *msg, size_t msglen);

/* Appends P[0..N) (UTF-8) as a JSON string: quotes, backslash and control
 * characters escaped, everything else passed through. */
void rec_json_str(struct buf *b, const char *p, size_t n);
/* Appends V as JSON: int64 exact, doubles round-trippable, NaN/Inf null. */
void rec_json_value(struct buf *b, const struct rec_value *v);
/* Appends R as one compact JSON object (no newline). */
void rec_json_record(struct buf *b, const struct record *r);

#endif
