/*
 * records/reader.c - the reader table and the framing every format shares:
 * the pending-input buffer, finding where a record ends (a newline, outside
 * quotes for csv), line numbers, CRLF, and the over-long record bound.
 *
 * The scan for a record end resumes where the last one stopped (with its
 * quote state), so a record fed one byte at a time costs linear time.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"

static const struct rec_reader_ops *const rec_readers[] = {
	&rec_read_jsonl,
	&rec_read_csv,
};

const struct rec_reader_ops *rec_reader_find(const char *name)
{
	for (size_t i = 0; i < sizeof(rec_readers) / sizeof(rec_readers[0]); i++)
		if (strcmp(rec_readers[i]->name, name) == 0)
			return rec_readers[i];
	return NULL;
}

int rec_reader_new(const char *format, const struct rec_reader_opts *o, struct rec_reader **rp)
{
	const struct rec_reader_ops *ops = rec_reader_find(format);
	struct rec_reader *r;
	int rc;

	if (!ops)
		return -ENOENT;
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	r->ops = ops;
	r->cap = 4096;	/* never NULL, so offsets into it are always defined */
	if (!(r->buf = malloc(r->cap))) {
		free(r);
		return -ENOMEM;
	}
	if (o)
		r->opts = *o;
	if (!r->opts.max_record)
		r->opts.max_record = REC_RECORD_MAX;
	rec_init(&r->rec);
	if (ops->open && (rc = ops->open(r))) {
		rec_reader_free(r);
		return rc;
	}
	*rp = r;
	return 0;
}

void rec_reader_free(struct rec_reader *r)
{
	if (!r)
		return;
	if (r->ops->close)
		r->ops->close(r);
	rec_free(&r->rec);
	free(r->buf);
	free(r);
}

int rec_reader_feed(struct rec_reader *r, const void *p, size_t n)
{
	size_t pending = r->len - r->start;

	if (n == 0)
		return 0;
	if (r->start) {
		memmove(r->buf, r->buf + r->start, pending);
		r->len = pending;
		r->start = 0;
	}
	if (r->len + n > r->cap) {
		size_t cap = r->cap;
		char *b;

		while (cap < r->len + n)
			cap *= 2;
		if (!(b = realloc(r->buf, cap)))
			return -ENOMEM;
		r->buf = b;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	return 0;
}

void rec_reader_finish(struct rec_reader *r)
{
	r->eof = true;
}

enum rec_parse rec_reader_error(struct rec_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
	return REC_PARSE_ERROR;
}

/* Where a csv scan is: a quote opens a quoted field only at a field's
 * start, and a quote right after the closing one is an escaped quote. */
enum {
	REC_Q_FIELD_START,	/* after a comma or at the row's start (0: reset) */
	REC_Q_UNQUOTED,		/* in a field that did not start with a quote */
	REC_Q_IN,		/* in a quoted field */
	REC_Q_CLOSED,		/* right after a quote that may close the field */
};

static uint8_t rec_quote_next(uint8_t q, char c)
{
	switch (q) {
	case REC_Q_IN:
		return c == '"' ? REC_Q_CLOSED : REC_Q_IN;
	case REC_Q_CLOSED:
		return c == '"' ? REC_Q_IN : c == ',' ? REC_Q_FIELD_START : REC_Q_UNQUOTED;
	case REC_Q_FIELD_START:
		if (c == '"')
			return REC_Q_IN;
		/* fall through */
	default:
		return c == ',' ? REC_Q_FIELD_START : REC_Q_UNQUOTED;
	}
}

/* Searches the pending input for the end of a record; its length (line end
 * excluded) in *n and true when found. */
static bool rec_reader_scan(struct rec_reader *r, size_t *n)
{
	const char *p = r->buf + r->start;
	size_t pending = r->len - r->start;

	for (; r->scan < pending; r->scan++) {
		char c = p[r->scan];

		if (c == '\n' && r->quote != REC_Q_IN) {
			*n = r->scan;
			return true;
		}
		if (c == '\n')
			r->scan_lines++;
		else if (r->ops->quoted)
			r->quote = rec_quote_next(r->quote, c);
	}
	return false;
}

/* Skips a UTF-8 byte order mark at the very start; false while the input
 * is too short to tell. */
static bool rec_reader_bom(struct rec_reader *r)
{
	size_t pending = r->len - r->start;

	if (r->bom_checked)
		return true;
	if (pending < 3 && !r->eof && memcmp(r->buf + r->start, "\xef\xbb\xbf", pending) == 0)
		return false;
	if (pending >= 3 && memcmp(r->buf + r->start, "\xef\xbb\xbf", 3) == 0)
		r->start += 3;
	r->bom_checked = true;
	return true;
}

/* Consumes the record's N bytes and its line end. */
static void rec_reader_consume(struct rec_reader *r, size_t n, bool line_end)
{
	r->start += n + line_end;
	r->line += r->scan_lines + 1;
	r->scan = 0;
	r->scan_lines = 0;
	r->quote = REC_Q_FIELD_START;
}

/* The error result of the over-long record the scan is in. */
static int rec_reader_long_error(struct rec_reader *r, struct rec_result *res)
{
	res->line = r->line + 1;
	res->raw = r->buf + r->start;
	res->raw_len = r->scan < 256 ? r->scan : 256;
	snprintf(res->msg, sizeof(res->msg), "line %llu: record longer than %zu bytes (first 256 kept)",
		 (unsigned long long)res->line, r->opts.max_record);
	return REC_RESULT_ERROR;
}

/* The pending input passed max_record without an end: an error result,
 * and the rest of the record is dropped as it comes. */
static int rec_reader_too_long(struct rec_reader *r, struct rec_result *res)
{
	rec_reader_long_error(r, res);
	r->line += r->scan_lines;
	r->scan_lines = 0;
	r->start += r->scan;
	r->scan = 0;
	r->skipping = true;
	return REC_RESULT_ERROR;
}

/* The next record's bytes in *P / *N: 1; 0 when more input is needed;
 * REC_RESULT_ERROR when it is too long. */
static int rec_reader_take(struct rec_reader *r, const char **p, size_t *n, struct rec_result *res)
{
	bool found;

	if (!rec_reader_bom(r))
		return 0;
	found = rec_reader_scan(r, n);

	if (!found && !r->eof) {
		if (r->skipping) {	/* drop what was scanned of the long record */
			r->start += r->scan;
			r->scan = 0;
			return 0;
		}
		return r->scan > r->opts.max_record ? rec_reader_too_long(r, res) : 0;
	}
	if (!found) {
		*n = r->len - r->start;
		if (*n == 0 && !r->skipping)
			return 0;
	}
	if (!r->skipping && *n > r->opts.max_record) {	/* it came in one feed */
		rec_reader_long_error(r, res);
		rec_reader_consume(r, *n, found);
		return REC_RESULT_ERROR;
	}
	*p = r->buf + r->start;
	res->line = r->line + 1;
	rec_reader_consume(r, *n, found);
	if (r->skipping) {
		r->skipping = false;
		*n = SIZE_MAX;	/* tells the caller to skip it */
		return 1;
	}
	if (*n > 0 && (*p)[*n - 1] == '\r')
		(*n)--;
	return 1;
}

/* Prefixes the format's message with "line N: ". */
static void rec_reader_line_msg(struct rec_result *res)
{
	char why[sizeof(res->msg)];

	memcpy(why, res->msg, sizeof(why));
	snprintf(res->msg, sizeof(res->msg), "line %llu: %.*s", (unsigned long long)res->line,
		 (int)(sizeof(res->msg) - 32), why);
}

int rec_reader_next(struct rec_reader *r, struct rec_result *res)
{
	for (;;) {
		const char *p = NULL;
		size_t n = 0;
		int rc = rec_reader_take(r, &p, &n, res);
		enum rec_parse what;

		if (rc != 1)
			return rc;
		if (n == SIZE_MAX)
			continue;
		rec_reset(&r->rec);
		what = r->ops->parse(r, p, n, res);
		if (what == REC_PARSE_SKIP)
			continue;
		if (what == REC_PARSE_RECORD) {
			res->rec = &r->rec;
			return REC_RESULT_RECORD;
		}
		rec_reader_line_msg(res);
		res->raw = p;
		res->raw_len = n;
		return REC_RESULT_ERROR;
	}
}
