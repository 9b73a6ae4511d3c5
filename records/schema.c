/*
 * records/schema.c - schema inference, merging and text form (schema.h).
 *
 * A schema is small (tens of columns), so lookups are linear scans that try
 * the same position first: records usually list fields in column order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec_json.h"
#include "rec_time.h"
#include "schema.h"

static const char *const rec_col_names[] = {
	[REC_COL_NULL] = "null",
	[REC_COL_BOOL] = "bool",
	[REC_COL_INT64] = "int64",
	[REC_COL_DOUBLE] = "double",
	[REC_COL_STRING] = "string",
	[REC_COL_TIMESTAMP] = "timestamp",
};

const char *rec_col_type_name(enum rec_col_type t)
{
	return rec_col_names[t];
}

struct rec_schema *rec_schema_new(const char *time_field)
{
	struct rec_schema *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (time_field && !(s->time_field = strdup(time_field))) {
		free(s);
		return NULL;
	}
	return s;
}

void rec_schema_free(struct rec_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->cols[i].name);
	free(s->cols);
	free(s->time_field);
	free(s);
}

struct rec_schema *rec_schema_dup(const struct rec_schema *s)
{
	struct rec_schema *d = rec_schema_new(s->time_field);

	if (d && rec_schema_merge(d, s)) {
		rec_schema_free(d);
		return NULL;
	}
	return d;
}

long rec_schema_find(const struct rec_schema *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->cols[i].name_len == len && memcmp(s->cols[i].name, name, len) == 0)
			return (long)i;
	return -1;
}

enum rec_col_type rec_col_widen(enum rec_col_type a, enum rec_col_type b)
{
	if (a == b || b == REC_COL_NULL)
		return a;
	if (a == REC_COL_NULL)
		return b;
	if ((a == REC_COL_INT64 && b == REC_COL_DOUBLE) || (a == REC_COL_DOUBLE && b == REC_COL_INT64))
		return REC_COL_DOUBLE;
	if (a == REC_COL_TIMESTAMP || b == REC_COL_TIMESTAMP)
		return REC_COL_TIMESTAMP;
	return REC_COL_STRING;
}

enum rec_col_type rec_value_col_type(const struct rec_value *v)
{
	switch (v->type) {
	case REC_NULL:
		return REC_COL_NULL;
	case REC_BOOL:
		return REC_COL_BOOL;
	case REC_INT:
		return REC_COL_INT64;
	case REC_DOUBLE:
		return REC_COL_DOUBLE;
	default:
		return REC_COL_STRING;
	}
}

static bool rec_is_time_field(const struct rec_schema *s, const char *name, size_t len)
{
	return s->time_field && strlen(s->time_field) == len && memcmp(s->time_field, name, len) == 0;
}

int rec_schema_add(struct rec_schema *s, const char *name, size_t len, enum rec_col_type t)
{
	long i = rec_schema_find(s, name, len);

	if (rec_is_time_field(s, name, len))
		t = REC_COL_TIMESTAMP;
	if (i >= 0) {
		s->cols[i].type = rec_col_widen(s->cols[i].type, t);
		return 0;
	}
	if (rec_grow(&s->cols, &s->cap, s->n, sizeof(*s->cols), 8))
		return -ENOMEM;
	if (!(s->cols[s->n].name = rec_memdup(name, len)))
		return -ENOMEM;
	s->cols[s->n].name_len = len;
	s->cols[s->n].type = t;
	s->n++;
	return 0;
}

int rec_schema_infer(struct rec_schema *s, const struct record *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct rec_field *f = &r->fields[i];
		int rc = rec_schema_add(s, f->name, f->name_len, rec_value_col_type(&f->v));

		if (rc)
			return rc;
	}
	return 0;
}

int rec_schema_merge(struct rec_schema *dst, const struct rec_schema *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int rc = rec_schema_add(dst, src->cols[i].name, src->cols[i].name_len, src->cols[i].type);

		if (rc)
			return rc;
	}
	return 0;
}

/* Whether a column of type T holds V as it is. */
static bool rec_col_holds(enum rec_col_type t, const struct rec_value *v)
{
	int64_t us;

	switch (t) {
	case REC_COL_NULL:
		return true;
	case REC_COL_BOOL:
		return v->type == REC_BOOL;
	case REC_COL_INT64:
		return v->type == REC_INT;
	case REC_COL_DOUBLE:
		return v->type == REC_INT || v->type == REC_DOUBLE;
	case REC_COL_STRING:
		return v->type == REC_STRING || v->type == REC_NESTED;
	case REC_COL_TIMESTAMP:
		return v->type == REC_STRING ? rec_time_parse(v->s.p, v->s.n, &us) == 0 :
		       v->type == REC_INT || v->type == REC_DOUBLE;
	}
	return false;
}

static const char *rec_value_type_name(const struct rec_value *v)
{
	return v->type == REC_NESTED ? "nested" : rec_col_type_name(rec_value_col_type(v));
}

static int rec_schema_check(const struct rec_schema *s, const struct record *r, char *msg, size_t msglen)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct rec_field *f = &r->fields[i];
		long c = rec_schema_find(s, f->name, f->name_len);

		if (c < 0) {
			snprintf(msg, msglen, "field \"%s\" is not in the schema", f->name);
			return -EINVAL;
		}
		if (f->v.type != REC_NULL && !rec_col_holds(s->cols[c].type, &f->v)) {
			snprintf(msg, msglen, "field \"%s\" is %s where the schema has %s", f->name,
				 rec_value_type_name(&f->v), rec_col_type_name(s->cols[c].type));
			return -EINVAL;
		}
	}
	return 0;
}

int rec_schema_apply(struct rec_schema *s, const struct record *r, enum rec_schema_mode mode,
		     char *msg, size_t msglen)
{
	if (mode == REC_SCHEMA_STRICT)
		return rec_schema_check(s, r, msg, msglen);
	return rec_schema_infer(s, r);
}

void rec_schema_text(const struct rec_schema *s, struct buf *b)
{
	buf_add(b, "{", 1);
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			buf_add(b, ",", 1);
		rec_json_str(b, s->cols[i].name, s->cols[i].name_len);
		buf_add(b, ":\"", 2);
		buf_puts(b, rec_col_type_name(s->cols[i].type));
		buf_add(b, "\"", 1);
	}
	buf_add(b, "}", 1);
}

static int rec_col_type_parse(const struct rec_value *v, enum rec_col_type *t)
{
	if (v->type != REC_STRING)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(rec_col_names) / sizeof(rec_col_names[0]); i++) {
		if (strlen(rec_col_names[i]) == v->s.n && memcmp(rec_col_names[i], v->s.p, v->s.n) == 0) {
			*t = (enum rec_col_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

int rec_schema_parse(const char *p, size_t n, const char *time_field, struct rec_schema **sp)
{
	struct rec_schema *s = rec_schema_new(time_field);
	struct record r;
	char msg[200];
	int rc;

	if (!s)
		return -ENOMEM;
	rec_init(&r);
	if ((rc = rec_json_parse_object(&r, p, n, msg, sizeof(msg))))
		goto out_free_schema;
	for (size_t i = 0; i < r.n; i++) {
		const struct rec_field *f = &r.fields[i];
		enum rec_col_type t;

		rc = -EINVAL;
		if (rec_col_type_parse(&f->v, &t) || rec_schema_find(s, f->name, f->name_len) >= 0)
			goto out_free_schema;
		if ((rc = rec_schema_add(s, f->name, f->name_len, t)))
			goto out_free_schema;
	}
	rec_free(&r);
	*sp = s;
	return 0;

out_free_schema:
	rec_free(&r);
	rec_schema_free(s);
	return rc;
}
