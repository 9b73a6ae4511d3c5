/*
 * tests/fuzz/fuzz_records.c - libFuzzer target for the record readers and
 * writers (records/).
 *
 * The first byte picks the reader (jsonl or csv, with or without type
 * inference) and the feed size (1 to 64 bytes), so records are cut at every
 * kind of boundary.  Every record read is printed as JSON and must parse
 * back to the same text (rec_json_parse_object() of rec_json_record()),
 * and its fields are looked up as partition keys and times would be; an
 * error result must say "line N: ..." and carry bytes of the input.  The
 * records then go through the jsonl, csv and parquet writers with the
 * schema inferred from them, and the parquet file must end in "PAR1".
 * ASan, UBSan and libFuzzer's -timeout watch the rest; a broken promise
 * calls abort().  Single-threaded, like libFuzzer's default run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../records/rec_json.h"
#include "../../records/reader.h"
#include "../../records/schema.h"
#include "../../records/writer.h"

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_records: %s: %s\n", what, detail);
	abort();
}

static int out_buf(void *ctx, const void *p, size_t n)
{
	buf_add(ctx, p, n);
	return 0;
}

/* Every field (and a dotted path into it) looked up as text and as a time. */
static void lookups(const struct record *r)
{
	char path[300], text[64];
	int64_t us;

	for (size_t i = 0; i < r->n && i < 8; i++) {
		snprintf(path, sizeof(path), "%.200s.k.0", r->fields[i].name);
		rec_field_text(r, r->fields[i].name, text, sizeof(text));
		rec_field_text(r, path, text, sizeof(text));
		rec_time_field(r, r->fields[i].name, &us);
	}
}

/* R printed as JSON must read back as the same text. */
static void round_trip(const struct record *r)
{
	struct buf a, b;
	struct record back;
	char msg[200];

	buf_init(&a);
	buf_init(&b);
	rec_init(&back);
	rec_json_record(&a, r);
	if (a.oom || rec_json_parse_object(&back, a.p, a.len, msg, sizeof(msg)))
		die("a record's JSON does not parse", a.oom ? "oom" : msg);
	rec_json_record(&b, &back);
	if (a.len != b.len || memcmp(a.p, b.p, a.len))
		die("a record's JSON reads back otherwise", a.p);
	lookups(r);
	rec_free(&back);
	buf_free(&a);
	buf_free(&b);
}

static void check_error(const struct rec_result *res, const uint8_t *data, size_t size)
{
	if (strncmp(res->msg, "line ", 5) != 0)
		die("an error does not name its line", res->msg);
	if (res->raw_len > size)
		die("an error's raw bytes are longer than the input", res->msg);
}

/* One pass: each record into the schema (W NULL) or to the writers. */
static void pass(const char *format, const struct rec_reader_opts *o, const uint8_t *data, size_t size,
		 size_t chunk, struct rec_schema *s, struct rec_writer **w, size_t nw)
{
	struct rec_reader *r;
	struct rec_result res;
	size_t off = 0;
	int rc;

	if (rec_reader_new(format, o, &r))
		die("rec_reader_new", format);
	do {
		size_t n = size - off < chunk ? size - off : chunk;

		rec_reader_feed(r, data + off, n);
		off += n;
		if (off == size)
			rec_reader_finish(r);
		while ((rc = rec_reader_next(r, &res)) > 0) {
			if (rc == REC_RESULT_ERROR) {
				check_error(&res, data, size);
				continue;
			}
			if (!nw) {
				round_trip(res.rec);
				rec_schema_infer(s, res.rec);
			}
			for (size_t i = 0; i < nw; i++)
				if (w[i])
					rec_writer_write(w[i], res.rec);
		}
	} while (off < size);
	rec_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const writers[] = { "jsonl", "csv", "parquet" };
	struct rec_writer_opts wo = { .codec = REC_CODEC_ZSTD, .row_group_bytes = 4096, .page_bytes = 512 };
	struct rec_reader_opts o = { 0 };
	struct rec_writer *w[3] = { NULL, NULL, NULL };
	struct rec_schema *s;
	struct buf out[3];
	const char *format;
	size_t chunk;

	if (size < 1 || !(s = rec_schema_new("ts")))
		return 0;
	format = data[0] & 1 ? "csv" : "jsonl";
	o.infer = data[0] & 2;
	chunk = (size_t)(data[0] >> 2) + 1;
	pass(format, &o, data + 1, size - 1, chunk, s, NULL, 0);
	for (int i = 0; i < 3; i++) {
		buf_init(&out[i]);
		rec_writer_new(writers[i], s, &wo, out_buf, &out[i], &w[i]);
	}
	pass(format, &o, data + 1, size - 1, chunk, s, w, 3);
	for (int i = 0; i < 3; i++) {
		if (w[i] && rec_writer_finish(w[i]) == 0 && i == 2 &&
		    (out[i].len < 12 || memcmp(out[i].p + out[i].len - 4, "PAR1", 4)))
			die("a parquet file does not end in PAR1", "");
		rec_writer_free(w[i]);
		buf_free(&out[i]);
	}
	rec_schema_free(s);
	return 0;
}
