/*
 * cache/convert.c - the records stage of packing.
 *
 * A sealed object of a flow with a record format (format = jsonl | csv |
 * auto) is read as records and written as jsonl, csv or parquet (output),
 * one object per distinct rendered key: the flow's template may hold
 * <FIELD:name|fallback>, and with time_field the time tokens render each
 * record's own time, so a chunk that spans an hour splits.  Records keep
 * their order within each key.  A record that cannot be read (or, with
 * schema = strict, does not fit) goes to the errors key as one JSON
 * envelope; the good ones flow on.
 *
 * Two passes over the data file, fed to the reader in 1 MiB blocks: the
 * first widens the flow's kept schema (table schemas, so the columns stay
 * in one order across objects and restarts), the second writes.  Each
 * output is a derived object (kind 'derived', parent = this object, dkey =
 * its key without a sink's prefix), inserted 'staging' with open = 1 when
 * its first record comes: a crash before the end discards it and the
 * object, still 'sealing', is converted again.  At the end one transaction
 * seals the outputs, keeps the schema and the record counts and marks the
 * object 'split': its state follows its outputs' (parent_settle).
 *
 * Runs in the packer thread; c->lock is taken only for the bookkeeping.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../records/envelope.h"
#include "../records/reader.h"
#include "../records/schema.h"
#include "../records/writer.h"
#include "../util/log.h"
#include "internal.h"

#define FEED (1 << 20)
#define OUTS_MAX 256		/* distinct keys of one object */
#define COLUMNS_MAX 256
#define PARTITIONED_ROW_GROUP (8u << 20)	/* bytes of column data a row group */

struct conv_out {
	char key[1024];			/* without a sink's prefix */
	int64_t id;			/* its derived object */
	int fd;				/* its data file */
	struct rec_writer *w;		/* NULL: the errors output (envelopes) */
	uint64_t bytes;			/* the errors output: written so far */
};

struct conv {
	struct cache *c;
	int64_t id;
	struct obj_vars ov;
	char in_fmt[8], out_fmt[8], compress[8];
	const char *time_field;		/* NULL: none */
	enum rec_schema_mode mode;
	struct rec_reader_opts ropts;
	struct rec_writer_opts wopts;
	char *columns[COLUMNS_MAX];
	size_t ncolumns;
	struct rec_schema *schema;
	bool schema_kept;		/* from the spool: strict keeps it as it is */
	struct conv_out *outs[OUTS_MAX + 1];	/* the last one may be the errors output */
	size_t nouts;
	struct conv_out *errs;
	const struct record *cur;	/* the record whose key is rendered */
	uint64_t rin, rout, rerr;
	int64_t arrival_us;		/* the object's time: errors' "time" */
	char path[4096];		/* <PATH>: the output's extension for uploads */
};

static void conv_columns(struct conv *cv, const char *list)
{
	const char *p = list;

	while (p && *p && cv->ncolumns < COLUMNS_MAX) {
		size_t n = strcspn(p, ",");
		const char *a = p, *e = p + n;

		while (a < e && (*a == ' ' || *a == '\t'))
			a++;
		while (e > a && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		cv->columns[cv->ncolumns++] = strndup(a, (size_t)(e - a));
		p += n + (p[n] == ',');
	}
}

/* The record format of an upload named REL under FORMAT = auto. */
static const char *auto_format(const char *rel, bool chunk)
{
	const char *dot = strrchr(rel, '.');

	if (chunk)
		return "jsonl";
	if (dot && (strcmp(dot, ".jsonl") == 0 || strcmp(dot, ".ndjson") == 0 || strcmp(dot, ".json") == 0))
		return "jsonl";
	if (dot && strcmp(dot, ".csv") == 0)
		return "csv";
	return "bytes";
}

bool convert_wanted(const struct flow *f, const char *rel, bool chunk)
{
	const char *fmt = cfg_str(f->sec, "format");

	return strcmp(strcmp(fmt, "auto") == 0 ? auto_format(rel, chunk) : fmt, "bytes") != 0;
}

bool obj_converts(struct cache *c, int64_t id)
{
	struct obj_vars ov;

	return object_vars(c, id, &ov) == 0 && !ov.derived && convert_wanted(ov.f, ov.rel, ov.chunk);
}

/* <PATH> of an upload whose format changes: the output's extension in
 * place of the input's ("day.csv" -> "day.parquet"). */
static void conv_path(struct conv *cv)
{
	const struct rec_writer_ops *ops = rec_writer_find(cv->out_fmt);
	char *slash, *dot;
	size_t n;

	snprintf(cv->path, sizeof(cv->path), "%s", cv->ov.rel);
	cv->ov.v.path = cv->path;
	if (cv->ov.chunk || !ops || strcmp(cv->in_fmt, cv->out_fmt) == 0)
		return;
	slash = strrchr(cv->path, '/');
	dot = strrchr(cv->path, '.');
	n = strlen(cv->path);
	if (dot && (!slash || dot > slash + 1) && dot > cv->path)
		n = (size_t)(dot - cv->path);
	snprintf(cv->path + n, sizeof(cv->path) - n, ".%s", ops->ext);
}

static int conv_field(void *ctx, const char *name, char *out, size_t outlen)
{
	struct conv *cv = ctx;

	return cv->cur ? rec_field_text(cv->cur, name, out, outlen) : -ENOENT;
}

/* What converting object ID takes from its flow; lock held. */
static int conv_plan(struct conv *cv, struct cache *c, int64_t id)
{
	const struct cfg_section *sec;
	const char *fmt, *out, *comp;

	cv->c = c;
	cv->id = id;
	if (object_vars(c, id, &cv->ov) != 0)
		return -ENOENT;
	sec = cv->ov.f->sec;
	fmt = cfg_str(sec, "format");
	snprintf(cv->in_fmt, sizeof(cv->in_fmt), "%s",
		 strcmp(fmt, "auto") == 0 ? auto_format(cv->ov.rel, cv->ov.chunk) : fmt);
	out = cfg_str(sec, "output");
	snprintf(cv->out_fmt, sizeof(cv->out_fmt), "%s", *out ? out : cv->in_fmt);
	comp = cv->ov.chunk ? cv->ov.f->compress : cv->ov.f->upload_compress;
	/* parquet: compress is the page codec, the file itself is not compressed */
	snprintf(cv->compress, sizeof(cv->compress), "%s", strcmp(cv->out_fmt, "parquet") == 0 ? "none" : comp);
	cv->wopts.codec = strcmp(comp, "gz") == 0 ? REC_CODEC_GZIP :
			  strcmp(comp, "zst") == 0 ? REC_CODEC_ZSTD : REC_CODEC_NONE;
	/* one Parquet row group is buffered per output: with many keys, smaller ones */
	if (tmpl_has_fields(cfg_str(sec, cv->ov.chunk ? "filename" : "uploads")))
		cv->wopts.row_group_bytes = PARTITIONED_ROW_GROUP;
	cv->time_field = *cfg_str(sec, "time_field") ? cfg_str(sec, "time_field") : NULL;
	cv->mode = strcmp(cfg_str(sec, "schema"), "strict") == 0 ? REC_SCHEMA_STRICT : REC_SCHEMA_RELAXED;
	cv->ropts.infer = true;
	conv_columns(cv, cfg_str(sec, "columns"));
	if (strcmp(cv->in_fmt, "csv") == 0 && cv->ncolumns) {	/* csv: the names; every row is data */
		cv->ropts.columns = (const char *const *)cv->columns;
		cv->ropts.ncolumns = cv->ncolumns;
	}
	cv->arrival_us = (int64_t)cv->ov.v.t * 1000000;
	cv->ov.v.field = conv_field;
	cv->ov.v.field_ctx = cv;
	conv_path(cv);
	return 0;
}

/* The flow's kept schema, or a new one (with the columns key's order). */
static int conv_schema(struct conv *cv)
{
	struct cache *c = cv->c;
	sqlite3_stmt *st;
	int rc = 1;

	pthread_mutex_lock(&c->lock);
	st = db_stmt(c, "SELECT text FROM schemas WHERE flow = ?", "t", cv->ov.f->id);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		rc = rec_schema_parse((const char *)sqlite3_column_text(st, 0),
				      (size_t)sqlite3_column_bytes(st, 0), cv->time_field, &cv->schema);
	if (st)
		sqlite3_reset(st);
	pthread_mutex_unlock(&c->lock);
	if (rc == 0) {
		cv->schema_kept = true;
		return 0;
	}
	cv->schema = rec_schema_new(cv->time_field);
	if (!cv->schema)
		return -ENOMEM;
	for (size_t i = 0; i < cv->ncolumns; i++)
		rec_schema_add(cv->schema, cv->columns[i], strlen(cv->columns[i]), REC_COL_NULL);
	return 0;
}

/* The first pass over record R: the schema learns its fields' types.  With
 * columns, only theirs (the columns are the output's, in order); strict
 * keeps a schema the spool holds as it is. */
static int conv_learn(struct conv *cv, const struct record *r)
{
	if (cv->mode == REC_SCHEMA_STRICT && cv->schema_kept)
		return 0;
	if (!cv->ncolumns)
		return rec_schema_infer(cv->schema, r);
	for (size_t i = 0; i < r->n; i++) {
		const struct rec_field *fl = &r->fields[i];

		if (rec_schema_find(cv->schema, fl->name, fl->name_len) >= 0 &&
		    rec_schema_add(cv->schema, fl->name, fl->name_len, rec_value_col_type(&fl->v)) != 0)
			return -ENOMEM;
	}
	return 0;
}

/* A new output for KEY: its derived object, 'staging' and open until the
 * end; ERRORS: the envelopes' output. */
static int out_new(struct conv *cv, const char *key, bool errors, struct conv_out **op)
{
	struct cache *c = cv->c;
	struct conv_out *o = calloc(1, sizeof(*o));
	double now = now_real();
	char path[4096];
	int rc;

	if (!o)
		return -ENOMEM;
	snprintf(o->key, sizeof(o->key), "%s", key);
	o->fd = -1;
	pthread_mutex_lock(&c->lock);
	rc = db_exec(c, "INSERT INTO objects(flow, dir, name, kind, state, open, listed, mode, uid, gid, "
		     "mtime, ctime, created, stream, part, seq, parent, dkey, compress) SELECT flow, dir, "
		     "name, 'derived', 'staging', 1, 0, mode, uid, gid, ?2, ?2, created, stream, part, seq, "
		     "id, ?3, ?4 FROM objects WHERE id = ?1", "idtt", cv->id, now, key,
		     errors && strcmp(cv->out_fmt, "parquet") == 0 ? "none" : cv->compress);
	o->id = rc == 0 ? sqlite3_last_insert_rowid(c->db) : 0;
	pthread_mutex_unlock(&c->lock);
	if (rc)
		goto out_free;
	cache_data_path(c, o->id, path, sizeof(path));
	o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (o->fd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (!errors)
		rc = rec_writer_new(cv->out_fmt, cv->schema, &cv->wopts, rec_out_fd, &o->fd, &o->w);
	if (rc)
		goto out_free;
	*op = o;
	return 0;
out_free:
	if (o->fd >= 0)
		close(o->fd);
	if (o->id) {
		pthread_mutex_lock(&c->lock);
		db_exec(c, "DELETE FROM objects WHERE id = ?", "i", o->id);
		cache_unlink_data(c, o->id, DATA_ALL);
		pthread_mutex_unlock(&c->lock);
	}
	free(o);
	return rc;
}

/* The output for the current record's key (rendered from it). */
static int out_for(struct conv *cv, struct conv_out **op, char *why, size_t whylen)
{
	char key[1024], err[512];
	int64_t us;
	int rc;

	if (cv->time_field && rec_time_field(cv->cur, cv->time_field, &us) == 0)
		cv->ov.v.t = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
	else
		cv->ov.v.t = (time_t)(cv->arrival_us / 1000000);
	rc = object_key(&cv->ov, key, sizeof(key), err, sizeof(err));
	if (rc) {
		snprintf(why, whylen, "%s", err);
		return rc;
	}
	for (size_t i = 0; i < cv->nouts; i++)
		if (cv->outs[i]->w && strcmp(cv->outs[i]->key, key) == 0)
			return (*op = cv->outs[i]), 0;
	if (cv->nouts >= OUTS_MAX) {
		snprintf(why, whylen, "more than %d keys in one object", OUTS_MAX);
		return -E2BIG;
	}
	rc = out_new(cv, key, false, op);
	if (rc == 0)
		cv->outs[cv->nouts++] = *op;
	return rc;
}

/* An envelope for a record that cannot be delivered, to the errors key. */
static int conv_error(struct conv *cv, const char *msg, uint64_t line, const char *raw, size_t n)
{
	struct rec_envelope e = {
		.error = msg, .flow = cv->ov.f->name, .source = cv->ov.rel, .line = line,
		.time_us = cv->arrival_us, .raw = raw, .raw_len = n,
	};
	struct buf b;
	int rc;

	cv->rerr++;
	if (!cv->errs) {
		char key[1024];
		const struct record *cur = cv->cur;

		cv->cur = NULL;	/* the errors key renders no record's fields */
		cv->ov.v.t = (time_t)(cv->arrival_us / 1000000);
		rc = tmpl_render(cfg_str(cv->ov.f->sec, "errors"), &cv->ov.v, key, sizeof(key));
		cv->cur = cur;
		if (rc) {
			log_err("packer", "%s/%s: the errors template gives no valid key",
				cv->ov.f->name, cv->ov.rel);
			return -EINVAL;
		}
		rc = out_new(cv, key, true, &cv->errs);
		if (rc)
			return rc;
		cv->outs[cv->nouts++] = cv->errs;
	}
	buf_init(&b);
	rc = rec_envelope(&b, &e);
	buf_add(&b, "\n", 1);
	if (rc == 0 && b.oom)
		rc = -ENOMEM;
	if (rc == 0)
		rc = rec_out_fd(&cv->errs->fd, b.p, b.len);
	cv->errs->bytes += b.len;
	buf_free(&b);
	return rc;
}

/* One record of the second pass: to the output of its key, or to errors. */
static int conv_write(struct conv *cv, const struct rec_result *res)
{
	struct conv_out *o;
	char why[600];
	int rc;

	cv->cur = res->rec;
	if (cv->mode == REC_SCHEMA_STRICT &&
	    rec_schema_apply(cv->schema, res->rec, REC_SCHEMA_STRICT, why, sizeof(why)) != 0)
		return conv_error(cv, why, res->line, NULL, 0);
	rc = out_for(cv, &o, why, sizeof(why));
	if (rc == -E2BIG || rc == -EINVAL)
		return conv_error(cv, why, res->line, NULL, 0);
	if (rc)
		return rc;
	rc = rec_writer_write(o->w, res->rec);
	cv->rout += rc == 0;
	return rc;
}

/* A pass over the data file FD: widening the schema (WRITE false) or
 * writing the outputs. */
static int conv_pass(struct conv *cv, int fd, bool write)
{
	struct rec_reader *r;
	struct rec_result res;
	char *buf = malloc(FEED);
	off_t off = 0;
	ssize_t n = 1;
	int rc;

	rc = buf ? rec_reader_new(cv->in_fmt, &cv->ropts, &r) : -ENOMEM;
	if (rc) {
		free(buf);
		return rc;
	}
	while (rc == 0 && n > 0) {
		n = pread(fd, buf, FEED, off);
		if (n < 0) {
			rc = -errno;
			break;
		}
		off += n;
		rc = n ? rec_reader_feed(r, buf, (size_t)n) : (rec_reader_finish(r), 0);
		while (rc == 0 && (rc = rec_reader_next(r, &res)) > 0) {
			if (!write) {
				cv->rin += rc == REC_RESULT_RECORD;
				rc = rc == REC_RESULT_RECORD ? conv_learn(cv, res.rec) : 0;
			} else if (rc == REC_RESULT_ERROR) {
				cv->rin++;
				rc = conv_error(cv, res.msg, res.line, res.raw, res.raw_len);
			} else {
				rc = conv_write(cv, &res);
			}
		}
	}
	rec_reader_free(r);
	free(buf);
	return rc;
}

/* Every output complete and on disk; their sizes in *TOTAL. */
static int conv_finish(struct conv *cv, uint64_t *total)
{
	int rc = 0;

	*total = 0;
	for (size_t i = 0; i < cv->nouts && rc == 0; i++) {
		struct conv_out *o = cv->outs[i];
		struct stat st;

		if (o->w)
			rc = rec_writer_finish(o->w);
		if (rc == 0 && (fsync(o->fd) < 0 || fstat(o->fd, &st) < 0))
			rc = -errno;
		if (rc == 0)
			*total += (uint64_t)st.st_size;
	}
	return rc;
}

/* The end, all or nothing: outputs sealed, schema and counts kept, the
 * object 'split'.  Lock held. */
static int conv_commit(struct conv *cv)
{
	struct cache *c = cv->c;
	double now = now_real();
	struct buf sb;
	int rc = db_begin(c);

	buf_init(&sb);
	for (size_t i = 0; i < cv->nouts && rc == 0; i++) {
		struct stat st;

		rc = fstat(cv->outs[i]->fd, &st) < 0 ? -errno :
		     db_exec(c, "UPDATE objects SET state = 'sealing', open = 0, size = ?, sealed = ? "
			     "WHERE id = ?", "idi", (int64_t)st.st_size, now, cv->outs[i]->id);
	}
	rec_schema_text(cv->schema, &sb);
	if (rc == 0 && sb.len)
		rc = db_exec(c, "INSERT OR REPLACE INTO schemas(flow, text) VALUES (?, ?)", "tt",
			     cv->ov.f->id, sb.p);
	if (rc == 0)
		rc = db_exec(c, "INSERT INTO record_counts(flow, source, rin, rout, rerr) VALUES (?1, ?2, ?3, "
			     "?4, ?5) ON CONFLICT(flow, source) DO UPDATE SET rin = rin + ?3, "
			     "rout = rout + ?4, rerr = rerr + ?5", "ttiii", cv->ov.f->id,
			     cv->ov.chunk ? cv->ov.rel : "", (int64_t)cv->rin, (int64_t)cv->rout,
			     (int64_t)cv->rerr);
	if (rc == 0)
		rc = db_exec(c, "UPDATE objects SET state = 'split' WHERE id = ? AND state = 'sealing'",
			     "i", cv->id);
	if (rc == 0 && db_int(c, "SELECT count(*) FROM objects WHERE id = ? AND state = 'split'", "i",
			      cv->id) != 1)
		rc = -ECANCELED;	/* cancelled meanwhile */
	buf_free(&sb);
	return db_end(c, rc);
}

/* What a conversion that did not finish leaves: its outputs go. */
static void conv_drop(struct conv *cv)
{
	struct cache *c = cv->c;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < cv->nouts; i++) {
		db_exec(c, "DELETE FROM objects WHERE id = ? AND state = 'staging'", "i", cv->outs[i]->id);
		cache_unlink_data(c, cv->outs[i]->id, DATA_ALL);
	}
	pthread_mutex_unlock(&c->lock);
}

static void conv_free(struct conv *cv)
{
	for (size_t i = 0; i < cv->nouts; i++) {
		rec_writer_free(cv->outs[i]->w);
		if (cv->outs[i]->fd >= 0)
			close(cv->outs[i]->fd);
		free(cv->outs[i]);
	}
	for (size_t i = 0; i < cv->ncolumns; i++)
		free(cv->columns[i]);
	rec_schema_free(cv->schema);
}

int convert_object(struct cache *c, int64_t id)
{
	struct conv *cv = calloc(1, sizeof(*cv));
	char path[4096];
	uint64_t total = 0;
	int fd = -1, rc;

	if (!cv)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	rc = conv_plan(cv, c, id);
	cache_source_path(c, id, path, sizeof(path));	/* what its steps made of it */
	pthread_mutex_unlock(&c->lock);
	if (rc == 0)
		rc = conv_schema(cv);
	if (rc == 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		rc = -errno;
	if (rc == 0)
		rc = conv_pass(cv, fd, false);
	if (rc == 0)
		rc = conv_pass(cv, fd, true);
	if (rc == 0)
		rc = conv_finish(cv, &total);
	pthread_mutex_lock(&c->lock);
	if (rc == 0)
		rc = RESERVE_RETRY(c, conv_commit(cv));
	if (rc == 0) {
		c->used += total;
		/* its outputs hold its records now; an upload stays listed */
		cache_unlink_data(c, id, cv->ov.chunk ? DATA_ALL : DATA_PACKED);
		for (size_t i = 0; i < cv->nouts; i++)
			packer_enqueue(c, cv->outs[i]->id);
		log_info("packer", "%s/%s: %llu records in, %llu out, %llu to errors; %zu objects",
			 cv->ov.f->name, cv->ov.rel, (unsigned long long)cv->rin,
			 (unsigned long long)cv->rout, (unsigned long long)cv->rerr, cv->nouts);
		parent_settle(c, id);
	}
	pthread_mutex_unlock(&c->lock);
	if (rc)
		conv_drop(cv);
	if (fd >= 0)
		close(fd);
	conv_free(cv);
	free(cv);
	return rc;
}
