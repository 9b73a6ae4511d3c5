/*
 * records/read_csv.c - the csv reader (RFC 4180).
 *
 * Quoted fields may hold commas, doubled quotes and newlines; rows end in
 * LF or CRLF (reader.c frames them, quotes included).  The first row names
 * the fields unless the caller gave the names.  A row with another number
 * of fields is an error result.  With opts.infer, values that look like
 * int64, doubles, booleans or empty become those; else all are strings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rec_json.h"
#include "reader.h"

struct csv_state {
	char **names;		/* the header's names (malloc'd) or the caller's */
	size_t *name_lens;
	size_t n;
	bool own;		/* names came from the header row */
};

/* One field at P[*i..N) decoded into O: its length in *len, *i past the
 * comma.  False (with *why) for text after a closing quote. */
static bool csv_field(const char *p, size_t n, size_t *i, char *o, size_t *len, const char **why)
{
	size_t k = *i, out = 0;

	if (k < n && p[k] == '"') {
		for (k++;; k++) {
			if (k >= n) {
				*why = "unterminated quoted field";
				return false;
			}
			if (p[k] == '"' && k + 1 < n && p[k + 1] == '"')
				k++;
			else if (p[k] == '"')
				break;
			o[out++] = p[k];
		}
		k++;
		if (k < n && p[k] != ',') {
			*why = "text after a closing quote";
			return false;
		}
	} else {
		while (k < n && p[k] != ',')
			o[out++] = p[k++];
	}
	*len = out;
	*i = k + 1;	/* past the comma, or past the end */
	return true;
}

static bool csv_is_int(const char *p, size_t n)
{
	size_t i = p[0] == '-';

	if (i >= n || (p[i] == '0' && n > i + 1))
		return false;
	for (; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* The inferred value of the field P[0..N) (P is NUL-terminated). */
static void csv_infer(const char *p, size_t n, struct rec_value *v)
{
	char *end;

	if (n == 0) {
		v->type = REC_NULL;
		return;
	}
	if ((n == 4 && memcmp(p, "true", 4) == 0) || (n == 5 && memcmp(p, "false", 5) == 0)) {
		*v = (struct rec_value){ .type = REC_BOOL, .b = n == 4 };
		return;
	}
	errno = 0;
	if (csv_is_int(p, n)) {
		long long i = strtoll(p, &end, 10);

		if (errno == 0) {
			*v = (struct rec_value){ .type = REC_INT, .i = i };
			return;
		}
	}
	if ((p[0] == '-' || (p[0] >= '0' && p[0] <= '9')) && strpbrk(p, ".eE")) {
		double d = strtod(p, &end);

		if (end == p + n) {
			*v = (struct rec_value){ .type = REC_DOUBLE, .d = d };
			return;
		}
	}
	*v = (struct rec_value){ .type = REC_STRING, .s = { p, n } };
}

/* Splits the row P[0..N) into fields in R's arena: their count in *count. */
static enum rec_parse csv_split(struct rec_reader *r, const char *p, size_t n, struct rec_result *res,
				size_t *count)
{
	struct csv_state *st = r->priv;
	char *o = rec_arena_alloc(&r->rec.arena, n + 1);
	const char *why = NULL;
	size_t i = 0, len;

	if (!o)
		return rec_reader_error(res, "out of memory");
	for (*count = 0; i <= n; (*count)++) {
		struct rec_value v = { .type = REC_STRING, .s = { o, 0 } };
		size_t k = *count;

		if (!csv_field(p, n, &i, o, &len, &why))
			return rec_reader_error(res, "%s", why);
		o[len] = '\0';
		v.s.n = len;
		if (r->opts.infer && st->n)
			csv_infer(o, len, &v);
		if (k < st->n && rec_push(&r->rec, st->names[k], st->name_lens[k], &v))
			return rec_reader_error(res, "out of memory");
		if (!st->n && rec_push(&r->rec, o, len, &v))	/* the header row */
			return rec_reader_error(res, "out of memory");
		o += len + 1;
	}
	return REC_PARSE_RECORD;
}

/* Keeps the header row's fields (in r->rec) as the names. */
static enum rec_parse csv_header(struct rec_reader *r, struct rec_result *res)
{
	struct csv_state *st = r->priv;
	size_t n = r->rec.n;

	st->names = calloc(n, sizeof(*st->names));
	st->name_lens = calloc(n, sizeof(*st->name_lens));
	if (!st->names || !st->name_lens)
		return rec_reader_error(res, "out of memory");
	st->own = true;
	for (size_t i = 0; i < n; i++) {
		st->name_lens[i] = r->rec.fields[i].name_len;
		if (!(st->names[i] = rec_memdup(r->rec.fields[i].name, st->name_lens[i])))
			return rec_reader_error(res, "out of memory");
		st->n++;
	}
	return REC_PARSE_SKIP;
}

static enum rec_parse csv_parse(struct rec_reader *r, const char *p, size_t n, struct rec_result *res)
{
	struct csv_state *st = r->priv;
	size_t bad = rec_utf8_prefix(p, n), count = 0;
	enum rec_parse what;

	if (n == 0)
		return REC_PARSE_SKIP;
	if (bad < n)
		return rec_reader_error(res, "invalid UTF-8 at byte %zu", bad + 1);
	if ((what = csv_split(r, p, n, res, &count)) != REC_PARSE_RECORD)
		return what;
	if (!st->n)
		return csv_header(r, res);
	if (count != st->n)
		return rec_reader_error(res, "%zu fields where the header has %zu", count, st->n);
	return REC_PARSE_RECORD;
}

static int csv_open(struct rec_reader *r)
{
	struct csv_state *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	r->priv = st;
	if (!r->opts.ncolumns)
		return 0;
	st->names = (char **)r->opts.columns;
	if (!(st->name_lens = calloc(r->opts.ncolumns, sizeof(*st->name_lens))))
		return -ENOMEM;
	st->n = r->opts.ncolumns;
	for (size_t i = 0; i < st->n; i++)
		st->name_lens[i] = strlen(st->names[i]);
	return 0;
}

static void csv_close(struct rec_reader *r)
{
	struct csv_state *st = r->priv;

	if (!st)
		return;
	if (st->own)
		for (size_t i = 0; i < st->n; i++)
			free(st->names[i]);
	if (st->own || !r->opts.ncolumns)
		free(st->names);
	free(st->name_lens);
	free(st);
}

const struct rec_reader_ops rec_read_csv = {
	.name = "csv",
	.quoted = true,
	.open = csv_open,
	.parse = csv_parse,
	.close = csv_close,
};
