/*
 * records/schema.h - schemas: ordered (column name, type) lists.
 *
 * Inference widens as records come: first appearance sets the order;
 * int64 + double gives double; other conflicts between scalars give string;
 * nested values are strings (their JSON); a column seen only as null stays
 * "null" until a value comes.  The time field is always "timestamp".
 * Columns are never reordered, so a schema kept per flow stays stable.
 *
 * The text form is one JSON object line whose member order is the column
 * order: {"ts":"timestamp","user":"string","bytes":"int64"}.
 * Not thread-safe; one owner per schema.
 */
#ifndef FLOWFS_SCHEMA_H
#define FLOWFS_SCHEMA_H

#include <stddef.h>

#include "../util/buf.h"
#include "record.h"

enum rec_col_type {
	REC_COL_NULL,		/* only nulls so far: written as string */
	REC_COL_BOOL,
	REC_COL_INT64,
	REC_COL_DOUBLE,
	REC_COL_STRING,		/* strings, and nested values as JSON text */
	REC_COL_TIMESTAMP,	/* µs since the epoch, UTC */
};

enum rec_schema_mode {
	REC_SCHEMA_RELAXED,	/* new fields become columns, types widen */
	REC_SCHEMA_STRICT,	/* unknown fields and wrong types are rejected */
};

struct rec_column {
	char *name;		/* malloc'd */
	size_t name_len;
	enum rec_col_type type;
};

struct rec_schema {
	struct rec_column *cols;
	size_t n, cap;
	char *time_field;	/* malloc'd; NULL: none */
};

/* TIME_FIELD (may be NULL) is the column that is always a timestamp. */
struct rec_schema *rec_schema_new(const char *time_field);
void rec_schema_free(struct rec_schema *s);	/* NULL-safe */
/* A deep copy, or NULL. */
struct rec_schema *rec_schema_dup(const struct rec_schema *s);

const char *rec_col_type_name(enum rec_col_type t);	/* "int64" */
/* -1 when absent. */
long rec_schema_find(const struct rec_schema *s, const char *name, size_t len);
/* Appends a column, or widens it when it exists.  0 or -ENOMEM. */
int rec_schema_add(struct rec_schema *s, const char *name, size_t len, enum rec_col_type t);

/* The column type a value asks for (REC_COL_NULL for null). */
enum rec_col_type rec_value_col_type(const struct rec_value *v);
/* The type holding both A and B. */
enum rec_col_type rec_col_widen(enum rec_col_type a, enum rec_col_type b);

/* Relaxed inference: R's fields widen S.  0 or -ENOMEM. */
int rec_schema_infer(struct rec_schema *s, const struct record *r);
/* Merges SRC's columns into DST (relaxed), DST's order first. */
int rec_schema_merge(struct rec_schema *dst, const struct rec_schema *src);
/* Applies R to S in MODE.  Relaxed: as rec_schema_infer().  Strict: S is
 * unchanged; -EINVAL with a message in MSG naming the field and the types
 * when R has an unknown field or a value the column cannot hold. */
int rec_schema_apply(struct rec_schema *s, const struct record *r, enum rec_schema_mode mode,
		     char *msg, size_t msglen);

/* Appends S's text form (no newline). */
void rec_schema_text(const struct rec_schema *s, struct buf *b);
/* Parses the text form P[0..N) into a new schema in *SP.  0, -EINVAL (not
 * a schema: unknown type, duplicate column), -ENOMEM. */
int rec_schema_parse(const char *p, size_t n, const char *time_field, struct rec_schema **sp);

#endif
