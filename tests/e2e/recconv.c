/*
 * tests/e2e/recconv.c - converts records with the records/ module, for
 * t_records.sh to check with independent readers:
 *
 *   recconv IN OUT [--codec none|gzip|zstd] [--time-field F]
 *           [--row-group-bytes N] [--page-bytes N] [--chunk N]
 *           [--columns a,b,c] [--no-infer] [--errors FILE] [--schema TEXT]
 *           < in > out
 *
 * The input is read twice through the streaming reader, fed in --chunk
 * byte pieces (default 1 MiB, as the packer does): once to infer the
 * schema (starting from --schema's, as a flow keeps one), once to write.
 * Bad records go to --errors (default stderr) as
 * error envelopes.  Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../records/envelope.h"
#include "../../records/reader.h"
#include "../../records/schema.h"
#include "../../records/writer.h"
#include "../../util/buf.h"

struct conv {
	const char *in, *out, *time_field, *errors, *schema_text;
	struct rec_reader_opts ropts;
	struct rec_writer_opts wopts;
	size_t chunk;
	char *columns[256];
	struct buf input;
	struct rec_schema *schema;
	int errfd;
};

static int usage(void)
{
	fprintf(stderr, "usage: recconv IN OUT [--codec none|gzip|zstd] [--time-field F] "
			"[--row-group-bytes N] [--page-bytes N] [--chunk N] [--columns a,b] "
			"[--no-infer] [--errors FILE] [--schema TEXT]\n");
	return 1;
}

static void conv_columns(struct conv *c, char *list)
{
	char *save = NULL;

	for (char *p = strtok_r(list, ",", &save); p && c->ropts.ncolumns < 256;
	     p = strtok_r(NULL, ",", &save))
		c->columns[c->ropts.ncolumns++] = p;
	c->ropts.columns = (const char *const *)c->columns;
}

static int conv_args(struct conv *c, int argc, char **argv)
{
	if (argc < 3)
		return -1;
	c->in = argv[1];
	c->out = argv[2];
	c->chunk = 1 << 20;
	c->ropts.infer = true;
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-infer") == 0) {
			c->ropts.infer = false;
			continue;
		}
		if (!v)
			return -1;
		i++;
		if (strcmp(a, "--codec") == 0)
			c->wopts.codec = strcmp(v, "gzip") == 0 ? REC_CODEC_GZIP :
					 strcmp(v, "zstd") == 0 ? REC_CODEC_ZSTD : REC_CODEC_NONE;
		else if (strcmp(a, "--time-field") == 0)
			c->time_field = v;
		else if (strcmp(a, "--row-group-bytes") == 0)
			c->wopts.row_group_bytes = strtoul(v, NULL, 10);
		else if (strcmp(a, "--page-bytes") == 0)
			c->wopts.page_bytes = strtoul(v, NULL, 10);
		else if (strcmp(a, "--chunk") == 0)
			c->chunk = strtoul(v, NULL, 10);
		else if (strcmp(a, "--columns") == 0)
			conv_columns(c, argv[i]);
		else if (strcmp(a, "--errors") == 0)
			c->errors = v;
		else if (strcmp(a, "--schema") == 0)
			c->schema_text = v;
		else
			return -1;
	}
	return c->chunk ? 0 : -1;
}

static int conv_slurp(struct conv *c)
{
	char tmp[65536];
	ssize_t n;

	while ((n = read(0, tmp, sizeof(tmp))) > 0)
		buf_add(&c->input, tmp, (size_t)n);
	return n < 0 || c->input.oom ? -1 : 0;
}

static int64_t conv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void conv_error(struct conv *c, const struct rec_result *res)
{
	struct rec_envelope e = {
		.error = res->msg, .flow = "recconv", .source = "stdin", .line = res->line,
		.time_us = conv_now(), .raw = res->raw, .raw_len = res->raw_len,
	};
	struct buf b;

	buf_init(&b);
	rec_envelope(&b, &e);
	buf_add(&b, "\n", 1);
	if (!b.oom && write(c->errfd, b.p, b.len) < 0)
		perror("recconv: errors");
	buf_free(&b);
}

/* One pass over the input: each record to W, or into the schema when W is
 * NULL. */
static int conv_pass(struct conv *c, struct rec_writer *w)
{
	struct rec_reader *r;
	struct rec_result res;
	size_t off = 0;
	int rc;

	if (rec_reader_new(c->in, &c->ropts, &r))
		return -1;
	do {
		size_t n = c->input.len - off < c->chunk ? c->input.len - off : c->chunk;

		if (n && (rc = rec_reader_feed(r, c->input.p + off, n)))
			break;
		off += n;
		if (off == c->input.len)
			rec_reader_finish(r);
		while ((rc = rec_reader_next(r, &res)) > 0) {
			if (rc == REC_RESULT_ERROR && w)
				conv_error(c, &res);
			else if (rc == REC_RESULT_RECORD && !w)
				rc = rec_schema_infer(c->schema, res.rec);
			else if (rc == REC_RESULT_RECORD)
				rc = rec_writer_write(w, res.rec);
			if (rc < 0)
				break;
		}
	} while (rc == 0 && off < c->input.len);
	rec_reader_free(r);
	return rc;
}

static int conv_run(struct conv *c)
{
	struct rec_writer *w;
	int fd = 1, rc;

	if (c->schema_text)
		rc = rec_schema_parse(c->schema_text, strlen(c->schema_text), c->time_field, &c->schema);
	else
		rc = (c->schema = rec_schema_new(c->time_field)) ? 0 : -ENOMEM;
	if (rc || conv_slurp(c) || conv_pass(c, NULL))
		return -1;
	rc = rec_writer_new(c->out, c->schema, &c->wopts, rec_out_fd, &fd, &w);
	if (rc == -ENODATA) {
		fprintf(stderr, "recconv: no columns: nothing written\n");
		return 0;
	}
	if (rc)
		return -1;
	rc = conv_pass(c, w);
	if (rc == 0)
		rc = rec_writer_finish(w);
	rec_writer_free(w);
	return rc;
}

int main(int argc, char **argv)
{
	struct conv c = { .errfd = 2 };
	int rc;

	buf_init(&c.input);
	if (conv_args(&c, argc, argv))
		return usage();
	if (c.errors && (c.errfd = open(c.errors, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
		perror(c.errors);
		return 1;
	}
	rc = conv_run(&c);
	if (rc)
		fprintf(stderr, "recconv: %s to %s failed (%d)\n", c.in, c.out, rc);
	rec_schema_free(c.schema);
	buf_free(&c.input);
	return rc ? 1 : 0;
}
