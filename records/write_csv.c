/*
 * records/write_csv.c - the csv writer (RFC 4180): the header row first in
 * every output, then one row a record in schema order; a missing or null
 * value is an empty field; a field with a comma, quote, CR or LF is quoted
 * with its quotes doubled.  Rows end in CRLF, as RFC 4180 says.
 */
#include <string.h>

#include "writer.h"

static void csv_put(struct buf *b, const char *p, size_t n)
{
	size_t run = 0;

	if (!memchr(p, ',', n) && !memchr(p, '"', n) && !memchr(p, '\r', n) && !memchr(p, '\n', n)) {
		buf_add(b, p, n);
		return;
	}
	buf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '"')
			continue;
		buf_add(b, p + run, i + 1 - run);
		buf_add(b, "\"", 1);
		run = i + 1;
	}
	buf_add(b, p + run, n - run);
	buf_add(b, "\"", 1);
}

/* A value as text; null (and NaN, infinities) as an empty field. */
static void csv_value(struct buf *b, const struct rec_value *v)
{
	char num[32];
	const char *p;
	size_t n;

	if (rec_value_text(v, num, &p, &n) && !(v->type == REC_DOUBLE && strcmp(p, "null") == 0))
		csv_put(b, p, n);
}

static int csv_open(struct rec_writer *w)
{
	for (size_t c = 0; c < w->schema->n; c++) {
		if (c)
			buf_add(&w->buf, ",", 1);
		csv_put(&w->buf, w->schema->cols[c].name, w->schema->cols[c].name_len);
	}
	if (w->schema->n)
		buf_add(&w->buf, "\r\n", 2);
	return 0;
}

static int csv_write(struct rec_writer *w, const struct record *r)
{
	for (size_t c = 0; c < w->schema->n; c++) {
		if (c)
			buf_add(&w->buf, ",", 1);
		csv_value(&w->buf, rec_writer_value(r, c, &w->schema->cols[c]));
	}
	buf_add(&w->buf, "\r\n", 2);
	return 0;
}

const struct rec_writer_ops rec_write_csv = {
	.name = "csv",
	.ext = "csv",
	.needs_schema = true,
	.open = csv_open,
	.write = csv_write,
};
