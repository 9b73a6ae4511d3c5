/*
 * records/write_jsonl.c - the jsonl writer: one compact JSON object a line,
 * the record's fields in its own order (rec_json_record()).
 */
#include "rec_json.h"
#include "writer.h"

static int jsonl_write(struct rec_writer *w, const struct record *r)
{
	rec_json_record(&w->buf, r);
	buf_add(&w->buf, "\n", 1);
	return 0;
}

const struct rec_writer_ops rec_write_jsonl = {
	.name = "jsonl",
	.ext = "jsonl",
	.write = jsonl_write,
};
