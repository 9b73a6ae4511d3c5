/*
 * records/writer.c - the writer table, the output buffer and the shared
 * writer life cycle (see writer.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "writer.h"

#define REC_WRITER_FLUSH (64 * 1024)

static const struct rec_writer_ops *const rec_writers[] = {
	&rec_write_jsonl,
	&rec_write_csv,
	&rec_write_parquet,
};

const struct rec_writer_ops *rec_writer_find(const char *name)
{
	for (size_t i = 0; i < sizeof(rec_writers) / sizeof(rec_writers[0]); i++)
		if (strcmp(rec_writers[i]->name, name) == 0)
			return rec_writers[i];
	return NULL;
}

int rec_out_fd(void *ctx, const void *p, size_t n)
{
	int fd = *(int *)ctx;

	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p = (const char *)p + k;
		n -= (size_t)k;
	}
	return 0;
}

int rec_writer_new(const char *format, const struct rec_schema *schema, const struct rec_writer_opts *o,
		   rec_out_fn out, void *ctx, struct rec_writer **wp)
{
	const struct rec_writer_ops *ops = rec_writer_find(format);
	struct rec_writer *w;
	int rc;

	if (!ops)
		return -ENOENT;
	if (ops->needs_schema && !schema)
		return -EINVAL;
	if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	w->ops = ops;
	if (o)
		w->opts = *o;
	w->out = out;
	w->out_ctx = ctx;
	buf_init(&w->buf);
	rc = -ENOMEM;
	if (schema && !(w->schema = rec_schema_dup(schema)))
		goto out_free_writer;
	if (ops->open && (rc = ops->open(w)))
		goto out_free_writer;
	*wp = w;
	return 0;

out_free_writer:
	rec_writer_free(w);
	return rc;
}

int rec_writer_flush(struct rec_writer *w, size_t min)
{
	if (w->err)
		return w->err;
	if (w->buf.oom)
		return w->err = -ENOMEM;
	if (w->buf.len < min || w->buf.len == 0)
		return 0;
	if ((w->err = w->out(w->out_ctx, w->buf.p, w->buf.len)))
		return w->err;
	w->offset += w->buf.len;
	w->buf.len = 0;
	return 0;
}

int rec_writer_write(struct rec_writer *w, const struct record *r)
{
	int rc;

	if (w->err)
		return w->err;
	if ((rc = w->ops->write(w, r)))
		return rc;
	w->records++;
	return rec_writer_flush(w, REC_WRITER_FLUSH);
}

int rec_writer_finish(struct rec_writer *w)
{
	int rc;

	if (w->err)
		return w->err;
	if (w->ops->finish && (rc = w->ops->finish(w)))
		return rc;
	return rec_writer_flush(w, 0);
}

void rec_writer_free(struct rec_writer *w)
{
	if (!w)
		return;
	if (w->ops->close)
		w->ops->close(w);
	rec_schema_free(w->schema);
	buf_free(&w->buf);
	free(w);
}

static const struct rec_value rec_null_value = { .type = REC_NULL };

const struct rec_value *rec_writer_value(const struct record *r, size_t c, const struct rec_column *col)
{
	const struct rec_field *f;

	if (c < r->n && r->fields[c].name_len == col->name_len &&
	    memcmp(r->fields[c].name, col->name, col->name_len) == 0)
		return &r->fields[c].v;
	f = rec_find(r, col->name, col->name_len);
	return f ? &f->v : &rec_null_value;
}
