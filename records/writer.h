/*
 * records/writer.h - record writers: records in, bytes out.
 *
 * A writer streams what it makes to an output callback (0 or -errno), so
 * the caller can write to a spool file, a socket or memory; rec_out_fd()
 * is the callback for a file descriptor.  jsonl and csv write as records
 * come (through a 64 KiB buffer); parquet buffers one row group, bounded by
 * row_group_bytes.  Output is complete only after rec_writer_finish().
 *
 * Formats are a table (struct rec_writer_ops): adding one is one file and
 * one row in writer.c.  Not thread-safe; one owner per writer.
 */
#ifndef FLOWFS_WRITER_H
#define FLOWFS_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "record.h"
#include "schema.h"

typedef int (*rec_out_fn)(void *ctx, const void *p, size_t n);

/* Writes everything to the descriptor *(int *)CTX; retries EINTR. */
int rec_out_fd(void *ctx, const void *p, size_t n);

enum rec_codec {
	REC_CODEC_NONE,
	REC_CODEC_GZIP,
	REC_CODEC_ZSTD,
};

struct rec_writer_opts {
	enum rec_codec codec;		/* parquet: the page codec */
	size_t row_group_bytes;		/* parquet: 0 is 64 MiB of column data */
	size_t page_bytes;		/* parquet: 0 is 1 MiB of values a page */
	size_t dict_max;		/* parquet: 0 is 65536 distinct strings a chunk */
};

struct rec_writer;

struct rec_writer_ops {
	const char *name;		/* "parquet", as in the config */
	const char *ext;		/* "parquet": the object's extension */
	bool needs_schema;		/* columns come from the schema */
	int (*open)(struct rec_writer *w);
	int (*write)(struct rec_writer *w, const struct record *r);
	int (*finish)(struct rec_writer *w);	/* the last bytes (footer) */
	void (*close)(struct rec_writer *w);	/* frees w->priv; NULL-safe */
};

struct rec_writer {
	const struct rec_writer_ops *ops;
	struct rec_writer_opts opts;
	struct rec_schema *schema;	/* owned copy; NULL for jsonl without one */
	rec_out_fn out;
	void *out_ctx;
	struct buf buf;			/* output not yet handed to out */
	uint64_t offset;		/* bytes handed to out so far */
	uint64_t records;		/* records written */
	int err;			/* the first output error, sticky */
	void *priv;
};

const struct rec_writer_ops *rec_writer_find(const char *name);

/* A writer of FORMAT ("jsonl", "csv", "parquet") with SCHEMA (copied;
 * required by csv and parquet, NULL allowed for jsonl) to OUT(CTX).  O may
 * be NULL.  0, -ENOENT (unknown format), -EINVAL (no schema), -ENODATA
 * (parquet with a schema of no columns: readers refuse such a file, so
 * there is nothing to write), -ENOMEM. */
int rec_writer_new(const char *format, const struct rec_schema *schema, const struct rec_writer_opts *o,
		   rec_out_fn out, void *ctx, struct rec_writer **wp);
/* Writes R.  Fields not in the schema are left out; a value its column
 * cannot hold is written as null (csv: as text).  0 or -errno. */
int rec_writer_write(struct rec_writer *w, const struct record *r);
/* Completes the output (csv: the header even with no records; parquet: a
 * valid file with the schema and 0 rows).  0 or -errno. */
int rec_writer_finish(struct rec_writer *w);
void rec_writer_free(struct rec_writer *w);	/* NULL-safe */

/* For formats: hands w->buf to the output when it holds at least MIN
 * bytes.  0 or the output's error. */
int rec_writer_flush(struct rec_writer *w, size_t min);
/* For formats: the value of column C of R (a NULL value when missing),
 * looked up at position C first. */
const struct rec_value *rec_writer_value(const struct record *r, size_t c, const struct rec_column *col);

extern const struct rec_writer_ops rec_write_jsonl;
extern const struct rec_writer_ops rec_write_csv;
extern const struct rec_writer_ops rec_write_parquet;

#endif
