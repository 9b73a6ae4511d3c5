/*
 * records/write_parquet.c - the parquet writer: flowfs's own, no Arrow.
 *
 * File layout: "PAR1", then row groups of column chunks, then the
 * FileMetaData footer (Thrift compact, thrift.c), its length (4 bytes LE)
 * and "PAR1".  Every column is OPTIONAL, so nulls are definition levels (RLE
 * / bit-packed hybrid, width 1, with the 4-byte length v1 data pages want).
 * A column chunk is an optional DICTIONARY_PAGE (PLAIN values) and data pages
 * v1 of about page_bytes each: PLAIN, or RLE_DICTIONARY (a bit-width byte
 * then hybrid indices) for a string column whose dictionary pays and stays
 * under dict_max entries and 1 MiB.  Pages are compressed one by one
 * (parquet_enc.c).
 *
 * Memory: one row group is buffered, column by column, in PLAIN form (plus
 * dictionary indices for strings); past row_group_bytes of values it is
 * written out and the buffers are reused.  The footer keeps a few numbers
 * per column chunk.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parquet_enc.h"
#include "rec_time.h"
#include "thrift.h"
#include "writer.h"

#define PQ_ROW_GROUP_BYTES (64u << 20)
#define PQ_PAGE_BYTES (1u << 20)
#define PQ_DICT_MAX 65536
#define PQ_DICT_BYTES (1u << 20)
#define PQ_FLUSH (64 * 1024)

enum pq_type { PQ_BOOLEAN = 0, PQ_INT64 = 2, PQ_DOUBLE = 5, PQ_BYTE_ARRAY = 6 };
enum pq_encoding { PQ_PLAIN = 0, PQ_RLE = 3, PQ_RLE_DICTIONARY = 8 };
enum pq_page_type { PQ_DATA_PAGE = 0, PQ_DICTIONARY_PAGE = 2 };
enum pq_converted { PQ_UTF8 = 0, PQ_TIMESTAMP_MICROS = 10 };

struct pq_dict_ent {
	uint32_t off;		/* of the bytes in dict, after their length */
	uint32_t len;
	uint32_t hash;
};

struct pq_col {
	const struct rec_column *col;	/* in w->schema */
	enum pq_type type;
	struct buf defs;		/* one byte a row: 1 a value, 0 null */
	struct buf vals;		/* PLAIN values; booleans one byte each */
	size_t nvals;
	struct buf dict;		/* strings: PLAIN dictionary values */
	struct pq_dict_ent *ents;
	size_t nents, ents_cap;
	uint32_t *slots;		/* hash table: entry index + 1, 0 free */
	size_t nslots;
	uint32_t *idx;			/* the entry of each value */
	size_t idx_cap;
	bool no_dict;			/* the dictionary outgrew its bounds */
	struct pq_minmax {		/* int64 and double columns */
		bool set;
		int64_t imin, imax;
		double dmin, dmax;	/* NaN left out */
	} mm;
};

struct pq_chunk {			/* what the footer says of a column chunk */
	int64_t data_off, dict_off;
	int64_t comp, uncomp;		/* page headers included */
	int64_t nvalues, nulls;
	bool dict;
	struct pq_minmax mm;
};

struct pq_group {
	struct pq_chunk *chunks;
	int64_t rows, bytes;
};

struct pq_state {
	struct pq_col *cols;
	size_t ncols;
	size_t rows;			/* in the open row group */
	size_t bytes;			/* of values in the open row group */
	struct pq_group *groups;
	size_t ngroups, groups_cap;
	int64_t total_rows;
	struct buf page, comp, hdr;	/* scratch */
};

static enum pq_type pq_type_of(enum rec_col_type t)
{
	switch (t) {
	case REC_COL_BOOL:
		return PQ_BOOLEAN;
	case REC_COL_INT64:
	case REC_COL_TIMESTAMP:
		return PQ_INT64;
	case REC_COL_DOUBLE:
		return PQ_DOUBLE;
	default:
		return PQ_BYTE_ARRAY;
	}
}

static int64_t pq_offset(const struct rec_writer *w)
{
	return (int64_t)(w->offset + w->buf.len);
}

/* ---- buffering values ---- */

static uint32_t pq_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

static void pq_le32(struct buf *b, uint32_t v)
{
	unsigned char le[4] = { v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24 & 0xff };

	buf_add(b, le, 4);
}

static uint32_t pq_get32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* Doubles the hash table and puts every entry back. */
static int pq_dict_rehash(struct pq_col *c)
{
	size_t n = c->nslots ? c->nslots * 2 : 1024;
	uint32_t *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t e = 0; e < c->nents; e++) {
		size_t i = c->ents[e].hash & (n - 1);

		while (s[i])
			i = (i + 1) & (n - 1);
		s[i] = (uint32_t)e + 1;
	}
	free(c->slots);
	c->slots = s;
	c->nslots = n;
	return 0;
}

static int pq_dict_new_entry(struct pq_col *c, const char *p, size_t n, uint32_t h, size_t slot)
{
	if (rec_grow(&c->ents, &c->ents_cap, c->nents, sizeof(*c->ents), 256))
		return -ENOMEM;
	pq_le32(&c->dict, (uint32_t)n);
	c->ents[c->nents] = (struct pq_dict_ent){ (uint32_t)c->dict.len, (uint32_t)n, h };
	buf_add(&c->dict, p, n);
	c->slots[slot] = (uint32_t)++c->nents;
	return c->dict.oom ? -ENOMEM : 0;
}

/* The dictionary index of P[0..N) in *ix, adding it when new. */
static int pq_dict_index(struct pq_col *c, const char *p, size_t n, uint32_t *ix)
{
	uint32_t h = pq_hash(p, n);
	size_t i;
	int rc;

	if (c->nents * 2 >= c->nslots && (rc = pq_dict_rehash(c)))
		return rc;
	for (i = h & (c->nslots - 1); c->slots[i]; i = (i + 1) & (c->nslots - 1)) {
		const struct pq_dict_ent *e = &c->ents[c->slots[i] - 1];

		if (e->hash == h && e->len == n && memcmp(c->dict.p + e->off, p, n) == 0) {
			*ix = c->slots[i] - 1;
			return 0;
		}
	}
	*ix = (uint32_t)c->nents;
	return pq_dict_new_entry(c, p, n, h, i);
}

/* Records the dictionary index of a string value, or gives the dictionary
 * up past its bounds. */
static int pq_dict_add(struct pq_col *c, const char *p, size_t n, size_t dict_max)
{
	uint32_t ix;
	int rc;

	if (c->no_dict)
		return 0;
	if (c->nents >= dict_max || c->dict.len + n > PQ_DICT_BYTES) {
		c->no_dict = true;
		return 0;
	}
	if ((rc = pq_dict_index(c, p, n, &ix)))
		return rc;
	if (rec_grow(&c->idx, &c->idx_cap, c->nvals, sizeof(*c->idx), 1024))
		return -ENOMEM;
	c->idx[c->nvals] = ix;
	return 0;
}

static int pq_add_string(struct pq_col *c, const struct rec_value *v, size_t dict_max, size_t *bytes)
{
	char num[32];
	const char *p;
	size_t n;
	int rc;

	if (!rec_value_text(v, num, &p, &n) || n > UINT32_MAX)
		return 1;	/* null */
	if ((rc = pq_dict_add(c, p, n, dict_max)))
		return rc;
	pq_le32(&c->vals, (uint32_t)n);
	buf_add(&c->vals, p, n);
	*bytes = 4 + n;
	return 0;
}

/* V as an int64 of column type T (int64 or timestamp µs). */
static bool pq_int(enum rec_col_type t, const struct rec_value *v, int64_t *i)
{
	if (t == REC_COL_INT64) {
		*i = v->i;
		return v->type == REC_INT;
	}
	if (v->type == REC_STRING)
		return rec_time_parse(v->s.p, v->s.n, i) == 0;
	if (v->type == REC_INT)
		return rec_time_from_int(v->i, i) == 0;
	return v->type == REC_DOUBLE && rec_time_from_double(v->d, i) == 0;
}

/* V appended to a fixed-size column: 0, or 1 when it is written as null. */
static void pq_minmax_int(struct pq_minmax *m, int64_t i)
{
	if (!m->set || i < m->imin)
		m->imin = i;
	if (!m->set || i > m->imax)
		m->imax = i;
	m->set = true;
}

static void pq_minmax_double(struct pq_minmax *m, double d)
{
	if (d != d)
		return;
	if (!m->set || d < m->dmin)
		m->dmin = d;
	if (!m->set || d > m->dmax)
		m->dmax = d;
	m->set = true;
}

static int pq_add_fixed(struct pq_col *c, const struct rec_value *v, size_t *bytes)
{
	unsigned char le[8];
	uint64_t u;
	int64_t i;
	double d;

	if (c->type == PQ_BOOLEAN) {
		if (v->type != REC_BOOL)
			return 1;
		le[0] = v->b;
		buf_add(&c->vals, le, 1);
		*bytes = 1;
		return 0;
	}
	if (c->type == PQ_DOUBLE) {
		if (v->type != REC_DOUBLE && v->type != REC_INT)
			return 1;
		d = v->type == REC_INT ? (double)v->i : v->d;
		memcpy(&u, &d, 8);
		pq_minmax_double(&c->mm, d);
	} else {
		if (!pq_int(c->col->type, v, &i))
			return 1;
		u = (uint64_t)i;
		pq_minmax_int(&c->mm, i);
	}
	for (int k = 0; k < 8; k++)
		le[k] = (unsigned char)(u >> (8 * k));
	buf_add(&c->vals, le, 8);
	*bytes = 8;
	return 0;
}

static int pq_add(struct pq_col *c, const struct rec_value *v, size_t dict_max, size_t *bytes)
{
	unsigned char def = 1;
	int rc = 1;

	*bytes = 0;
	if (v->type != REC_NULL)
		rc = c->type == PQ_BYTE_ARRAY ? pq_add_string(c, v, dict_max, bytes) :
		     pq_add_fixed(c, v, bytes);
	if (rc < 0)
		return rc;
	def = rc == 0;
	c->nvals += def;
	buf_add(&c->defs, &def, 1);
	*bytes += 1;
	return c->defs.oom || c->vals.oom ? -ENOMEM : 0;
}

/* ---- pages ---- */

/* Compresses P[0..N) and appends the page with its header. */
static int pq_page(struct rec_writer *w, struct pq_chunk *k, enum pq_page_type type, const void *p,
		   size_t n, size_t nvalues, enum pq_encoding enc)
{
	struct pq_state *st = w->priv;
	struct rec_thr t;
	int rc;

	if ((rc = pq_compress(w->opts.codec, p, n, &st->comp)))
		return rc;
	st->hdr.len = 0;
	rec_thr_init(&t, &st->hdr);
	rec_thr_i32(&t, 1, type);
	rec_thr_i32(&t, 2, (int32_t)n);
	rec_thr_i32(&t, 3, (int32_t)st->comp.len);
	rec_thr_struct(&t, type == PQ_DICTIONARY_PAGE ? 7 : 5);
	rec_thr_i32(&t, 1, (int32_t)nvalues);
	rec_thr_i32(&t, 2, enc);
	if (type == PQ_DATA_PAGE) {
		rec_thr_i32(&t, 3, PQ_RLE);
		rec_thr_i32(&t, 4, PQ_RLE);
	}
	rec_thr_end(&t);
	rec_thr_end(&t);
	buf_add(&w->buf, st->hdr.p, st->hdr.len);
	buf_add(&w->buf, st->comp.p, st->comp.len);
	k->uncomp += (int64_t)(st->hdr.len + n);
	k->comp += (int64_t)(st->hdr.len + st->comp.len);
	if (st->hdr.oom)
		return -ENOMEM;
	return rec_writer_flush(w, PQ_FLUSH);
}

/* Rows [r0, r1) of C holding values [v0, v1) at vals[b0, b1). */
struct pq_span {
	size_t r0, r1, v0, v1, b0, b1;
};

static int pq_data_page(struct rec_writer *w, struct pq_col *c, struct pq_chunk *k,
			const struct pq_span *s, int width)
{
	struct buf *pg = &((struct pq_state *)w->priv)->page;
	size_t at;
	unsigned char wb = (unsigned char)width;
	char *len;

	pg->len = 0;
	pq_le32(pg, 0);
	at = pg->len;
	pq_hybrid(pg, (const uint8_t *)c->defs.p + s->r0, NULL, s->r1 - s->r0, 1);
	if (pg->oom)
		return -ENOMEM;
	len = pg->p;
	for (int i = 0; i < 4; i++)
		len[i] = (char)((pg->len - at) >> (8 * i));
	if (k->dict) {
		buf_add(pg, &wb, 1);
		pq_hybrid(pg, NULL, c->idx + s->v0, s->v1 - s->v0, width);
	} else if (s->v1 == s->v0) {
		/* all null: no values (and maybe no vals buffer) */
	} else if (c->type == PQ_BOOLEAN) {
		pq_bool_pack(pg, (const uint8_t *)c->vals.p + s->b0, s->v1 - s->v0);
	} else {
		buf_add(pg, c->vals.p + s->b0, s->b1 - s->b0);
	}
	if (pg->oom)
		return -ENOMEM;
	return pq_page(w, k, PQ_DATA_PAGE, pg->p, pg->len, s->r1 - s->r0,
		       k->dict ? PQ_RLE_DICTIONARY : PQ_PLAIN);
}

/* The PLAIN size of the value at vals[b]. */
static size_t pq_value_size(const struct pq_col *c, size_t b)
{
	switch (c->type) {
	case PQ_BOOLEAN:
		return 1;
	case PQ_BYTE_ARRAY:
		return 4 + pq_get32(c->vals.p + b);
	default:
		return 8;
	}
}

/* The data pages of C: rows cut every page_bytes of values. */
static int pq_data_pages(struct rec_writer *w, struct pq_col *c, struct pq_chunk *k, size_t rows)
{
	size_t limit = w->opts.page_bytes ? w->opts.page_bytes : PQ_PAGE_BYTES;
	int width = k->dict ? pq_bit_width(c->nents ? (uint32_t)c->nents - 1 : 0) : 0;
	struct pq_span s = { 0 };
	int rc;

	for (size_t r = 0; r < rows; r++) {
		if (c->defs.p[r]) {
			s.b1 += pq_value_size(c, s.b1);
			s.v1++;
		}
		if (s.b1 - s.b0 < limit && r + 1 < rows)
			continue;
		s.r1 = r + 1;
		if ((rc = pq_data_page(w, c, k, &s, width)))
			return rc;
		s = (struct pq_span){ s.r1, s.r1, s.v1, s.v1, s.b1, s.b1 };
	}
	return 0;
}

/* Whether C's dictionary is smaller than its PLAIN values. */
static bool pq_use_dict(const struct pq_col *c)
{
	size_t width = (size_t)pq_bit_width(c->nents ? (uint32_t)c->nents - 1 : 0);

	return c->type == PQ_BYTE_ARRAY && !c->no_dict && c->nents > 0 &&
	       c->dict.len + (c->nvals * width + 7) / 8 < c->vals.len;
}

static void pq_col_reset(struct pq_col *c)
{
	c->defs.len = 0;
	c->vals.len = 0;
	c->nvals = 0;
	c->dict.len = 0;
	c->nents = 0;
	c->no_dict = false;
	c->mm.set = false;
	if (c->slots)
		memset(c->slots, 0, c->nslots * sizeof(*c->slots));
}

static int pq_chunk_write(struct rec_writer *w, struct pq_col *c, struct pq_chunk *k, size_t rows)
{
	int rc;

	k->nvalues = (int64_t)rows;
	k->nulls = (int64_t)(rows - c->nvals);
	k->dict = pq_use_dict(c);
	k->mm = c->mm;
	k->dict_off = -1;
	if (k->dict) {
		k->dict_off = pq_offset(w);
		rc = pq_page(w, k, PQ_DICTIONARY_PAGE, c->dict.p, c->dict.len, c->nents, PQ_PLAIN);
		if (rc)
			return rc;
	}
	k->data_off = pq_offset(w);
	rc = pq_data_pages(w, c, k, rows);
	pq_col_reset(c);
	return rc;
}

/* Writes the open row group out and starts the next one. */
static int pq_group_flush(struct rec_writer *w)
{
	struct pq_state *st = w->priv;
	struct pq_group *g;
	int rc;

	if (st->rows == 0)
		return 0;
	if (rec_grow(&st->groups, &st->groups_cap, st->ngroups, sizeof(*st->groups), 8))
		return -ENOMEM;
	g = &st->groups[st->ngroups];
	if (!(g->chunks = calloc(st->ncols, sizeof(*g->chunks))))
		return -ENOMEM;
	st->ngroups++;
	g->rows = (int64_t)st->rows;
	g->bytes = 0;
	for (size_t c = 0; c < st->ncols; c++) {
		if ((rc = pq_chunk_write(w, &st->cols[c], &g->chunks[c], st->rows)))
			return rc;
		g->bytes += g->chunks[c].uncomp;
	}
	st->total_rows += g->rows;
	st->rows = 0;
	st->bytes = 0;
	return 0;
}

/* ---- the footer ---- */

static void pq_footer_column(struct rec_thr *t, const struct rec_column *col)
{
	rec_thr_elem_struct(t);
	rec_thr_i32(t, 1, pq_type_of(col->type));
	rec_thr_i32(t, 3, 1);	/* OPTIONAL */
	rec_thr_binary(t, 4, col->name, col->name_len);
	if (col->type == REC_COL_TIMESTAMP) {
		rec_thr_i32(t, 6, PQ_TIMESTAMP_MICROS);
		rec_thr_struct(t, 10);		/* LogicalType */
		rec_thr_struct(t, 8);		/* TIMESTAMP */
		rec_thr_bool(t, 1, true);	/* isAdjustedToUTC */
		rec_thr_struct(t, 2);		/* unit */
		rec_thr_empty(t, 2);		/* MICROS */
		rec_thr_end(t);
		rec_thr_end(t);
		rec_thr_end(t);
	} else if (pq_type_of(col->type) == PQ_BYTE_ARRAY) {
		rec_thr_i32(t, 6, PQ_UTF8);
		rec_thr_struct(t, 10);
		rec_thr_empty(t, 1);		/* STRING */
		rec_thr_end(t);
	}
	rec_thr_end(t);
}

static void pq_footer_schema(struct rec_thr *t, const struct rec_schema *s)
{
	rec_thr_list(t, 2, REC_THR_STRUCT, s->n + 1);
	rec_thr_elem_struct(t);
	rec_thr_binary(t, 4, "schema", 6);
	rec_thr_i32(t, 5, (int32_t)s->n);
	rec_thr_end(t);
	for (size_t c = 0; c < s->n; c++)
		pq_footer_column(t, &s->cols[c]);
}

/* 8 bytes little-endian of an int64 or a double (PLAIN). */
static void pq_stat_value(struct rec_thr *t, int id, bool is_double, int64_t i, double d)
{
	unsigned char le[8];
	uint64_t u = (uint64_t)i;

	if (is_double)
		memcpy(&u, &d, 8);
	for (int k = 0; k < 8; k++)
		le[k] = (unsigned char)(u >> (8 * k));
	rec_thr_binary(t, id, le, 8);
}

/* Statistics: null_count, and min_value / max_value of int64, timestamp
 * and double columns (a zero min as -0.0, a zero max as +0.0, as the
 * format asks). */
static void pq_footer_stats(struct rec_thr *t, const struct rec_column *col, const struct pq_chunk *k)
{
	bool is_double = pq_type_of(col->type) == PQ_DOUBLE;
	double dmin = k->mm.dmin == 0 ? -0.0 : k->mm.dmin, dmax = k->mm.dmax == 0 ? 0.0 : k->mm.dmax;

	rec_thr_struct(t, 12);
	rec_thr_i64(t, 3, k->nulls);
	if (k->mm.set) {
		pq_stat_value(t, 5, is_double, k->mm.imax, dmax);
		pq_stat_value(t, 6, is_double, k->mm.imin, dmin);
	}
	rec_thr_end(t);
}

static void pq_footer_chunk(struct rec_thr *t, const struct rec_writer *w, const struct rec_column *col,
			    const struct pq_chunk *k)
{
	rec_thr_elem_struct(t);
	rec_thr_i64(t, 2, k->dict ? k->dict_off : k->data_off);
	rec_thr_struct(t, 3);			/* ColumnMetaData */
	rec_thr_i32(t, 1, pq_type_of(col->type));
	rec_thr_list(t, 2, REC_THR_I32, k->dict ? 3 : 2);
	rec_thr_elem_i32(t, PQ_PLAIN);
	rec_thr_elem_i32(t, PQ_RLE);
	if (k->dict)
		rec_thr_elem_i32(t, PQ_RLE_DICTIONARY);
	rec_thr_list(t, 3, REC_THR_BINARY, 1);
	rec_thr_elem_binary(t, col->name, col->name_len);
	rec_thr_i32(t, 4, pq_codec_id(w->opts.codec));
	rec_thr_i64(t, 5, k->nvalues);
	rec_thr_i64(t, 6, k->uncomp);
	rec_thr_i64(t, 7, k->comp);
	rec_thr_i64(t, 9, k->data_off);
	if (k->dict)
		rec_thr_i64(t, 11, k->dict_off);
	pq_footer_stats(t, col, k);
	rec_thr_end(t);
	rec_thr_end(t);
}

static void pq_footer_groups(struct rec_thr *t, const struct rec_writer *w)
{
	const struct pq_state *st = w->priv;

	rec_thr_list(t, 4, REC_THR_STRUCT, st->ngroups);
	for (size_t g = 0; g < st->ngroups; g++) {
		rec_thr_elem_struct(t);
		rec_thr_list(t, 1, REC_THR_STRUCT, st->ncols);
		for (size_t c = 0; c < st->ncols; c++)
			pq_footer_chunk(t, w, &w->schema->cols[c], &st->groups[g].chunks[c]);
		rec_thr_i64(t, 2, st->groups[g].bytes);
		rec_thr_i64(t, 3, st->groups[g].rows);
		rec_thr_end(t);
	}
}

static int pq_footer(struct rec_writer *w)
{
	struct pq_state *st = w->priv;
	const char *by = "flowfs " FLOWFS_VERSION;
	struct rec_thr t;
	size_t start = w->buf.len, len;
	unsigned char le[4];

	rec_thr_init(&t, &w->buf);
	rec_thr_i32(&t, 1, 1);
	pq_footer_schema(&t, w->schema);
	rec_thr_i64(&t, 3, st->total_rows);
	pq_footer_groups(&t, w);
	rec_thr_binary(&t, 6, by, strlen(by));
	rec_thr_list(&t, 7, REC_THR_STRUCT, w->schema->n);	/* column_orders */
	for (size_t c = 0; c < w->schema->n; c++) {
		rec_thr_elem_struct(&t);
		rec_thr_empty(&t, 1);	/* TYPE_ORDER: TypeDefinedOrder */
		rec_thr_end(&t);
	}
	rec_thr_end(&t);
	len = w->buf.len - start;
	for (int i = 0; i < 4; i++)
		le[i] = (unsigned char)(len >> (8 * i));
	buf_add(&w->buf, le, 4);
	buf_add(&w->buf, "PAR1", 4);
	return w->buf.oom ? -ENOMEM : 0;
}

/* ---- the writer ---- */

static int pq_open(struct rec_writer *w)
{
	struct pq_state *st;

	if (!w->schema->n)	/* readers refuse a file without a column */
		return -ENODATA;
	if (!(st = calloc(1, sizeof(*st))))
		return -ENOMEM;
	w->priv = st;
	st->ncols = w->schema->n;
	if (st->ncols && !(st->cols = calloc(st->ncols, sizeof(*st->cols))))
		return -ENOMEM;
	for (size_t c = 0; c < st->ncols; c++) {
		st->cols[c].col = &w->schema->cols[c];
		st->cols[c].type = pq_type_of(w->schema->cols[c].type);
	}
	buf_add(&w->buf, "PAR1", 4);
	return 0;
}

static int pq_write(struct rec_writer *w, const struct record *r)
{
	struct pq_state *st = w->priv;
	size_t limit = w->opts.row_group_bytes ? w->opts.row_group_bytes : PQ_ROW_GROUP_BYTES;
	size_t dict_max = w->opts.dict_max ? w->opts.dict_max : PQ_DICT_MAX;
	size_t bytes;
	int rc;

	for (size_t c = 0; c < st->ncols; c++) {
		const struct rec_value *v = rec_writer_value(r, c, &w->schema->cols[c]);

		if ((rc = pq_add(&st->cols[c], v, dict_max, &bytes)))
			return rc;
		st->bytes += bytes;
	}
	st->rows++;
	return st->bytes >= limit ? pq_group_flush(w) : 0;
}

static int pq_finish(struct rec_writer *w)
{
	int rc = pq_group_flush(w);

	return rc ? rc : pq_footer(w);
}

static void pq_col_free(struct pq_col *c)
{
	buf_free(&c->defs);
	buf_free(&c->vals);
	buf_free(&c->dict);
	free(c->ents);
	free(c->slots);
	free(c->idx);
}

static void pq_close(struct rec_writer *w)
{
	struct pq_state *st = w->priv;

	if (!st)
		return;
	for (size_t c = 0; c < st->ncols && st->cols; c++)
		pq_col_free(&st->cols[c]);
	for (size_t g = 0; g < st->ngroups; g++)
		free(st->groups[g].chunks);
	free(st->groups);
	free(st->cols);
	buf_free(&st->page);
	buf_free(&st->comp);
	buf_free(&st->hdr);
	free(st);
}

const struct rec_writer_ops rec_write_parquet = {
	.name = "parquet",
	.ext = "parquet",
	.needs_schema = true,
	.open = pq_open,
	.write = pq_write,
	.finish = pq_finish,
	.close = pq_close,
};
