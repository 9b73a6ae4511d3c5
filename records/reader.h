/*
 * records/reader.h - record readers: bytes in, records out.
 *
 * A reader is fed bytes in chunks of any size (rec_reader_feed()), told when
 * the input ends (rec_reader_finish()), and drained with rec_reader_next()
 * until it answers 0, as zlib's inflate() is fed and drained: a record may
 * span any number of feeds.  It buffers only the pending partial record
 * plus the last feed; a record longer than max_record becomes an error and
 * is skipped.  A record that cannot be read is an error result (message and
 * raw bytes) and reading goes on with the next one.  A UTF-8 byte order
 * mark at the start of the input is skipped.
 *
 * Formats are a table (struct rec_reader_ops): adding one is one file and
 * one row in reader.c.  Not thread-safe; one owner per reader.
 */
#ifndef FLOWFS_READER_H
#define FLOWFS_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define REC_RECORD_MAX (16u << 20)	/* default bound of one record's bytes */

struct rec_reader_opts {
	const char *const *columns;	/* csv: the column names; every row is data */
	size_t ncolumns;		/* 0: the first row is the header */
	bool infer;			/* csv: "12" int64, "1.5" double, "true" bool, "" null */
	size_t max_record;		/* 0: REC_RECORD_MAX */
};

enum rec_result_kind {
	REC_RESULT_RECORD = 1,
	REC_RESULT_ERROR = 2,
};

struct rec_result {
	const struct record *rec;	/* RECORD: valid until the next reader call */
	uint64_t line;			/* line (from 1) where the record starts */
	char msg[200];			/* ERROR: "line 12: not a JSON object" */
	const char *raw;		/* ERROR: the record's bytes (until the next call) */
	size_t raw_len;
};

struct rec_reader;

/* What parse() makes of one record's bytes. */
enum rec_parse {
	REC_PARSE_SKIP,		/* a blank line, or a header */
	REC_PARSE_RECORD,	/* r->rec holds it */
	REC_PARSE_ERROR,	/* res->msg says why (without the "line N: ") */
};

struct rec_reader_ops {
	const char *name;			/* "jsonl", as in the config */
	bool quoted;				/* '"' quotes newlines (csv) */
	int (*open)(struct rec_reader *r);	/* 0/-errno; may set r->priv */
	/* P[0..N): one record's bytes, without its line end. */
	enum rec_parse (*parse)(struct rec_reader *r, const char *p, size_t n, struct rec_result *res);
	void (*close)(struct rec_reader *r);	/* frees r->priv */
};

struct rec_reader {
	const struct rec_reader_ops *ops;
	struct rec_reader_opts opts;
	char *buf;		/* pending input is buf[start..len) */
	size_t start, len, cap;
	size_t scan;		/* pending bytes already searched for a record end */
	uint8_t quote;		/* where the scan stopped: REC_Q_* in reader.c */
	bool bom_checked;	/* a leading UTF-8 byte order mark was looked for */
	uint64_t scan_lines;	/* newlines inside the scanned part */
	bool skipping;		/* dropping the rest of an over-long record */
	bool eof;
	uint64_t line;		/* lines consumed before the pending input */
	struct record rec;
	void *priv;		/* the format's state */
};

const struct rec_reader_ops *rec_reader_find(const char *name);

/* A reader of FORMAT ("jsonl", "csv"); O may be NULL.  O's column names are
 * borrowed: they must outlive the reader.  0, -ENOENT (unknown format),
 * -ENOMEM. */
int rec_reader_new(const char *format, const struct rec_reader_opts *o, struct rec_reader **rp);
void rec_reader_free(struct rec_reader *r);	/* NULL-safe */

/* Appends P[0..N) to the pending input.  0 or -ENOMEM. */
int rec_reader_feed(struct rec_reader *r, const void *p, size_t n);
/* No more input: the last record needs no line end. */
void rec_reader_finish(struct rec_reader *r);

/* The next result in *RES: REC_RESULT_RECORD or REC_RESULT_ERROR; 0 when
 * more input is needed (or, after finish, at the end); -ENOMEM. */
int rec_reader_next(struct rec_reader *r, struct rec_result *res);

/* For formats: the shared error result (printf-style message). */
enum rec_parse rec_reader_error(struct rec_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

extern const struct rec_reader_ops rec_read_jsonl;
extern const struct rec_reader_ops rec_read_csv;

#endif
