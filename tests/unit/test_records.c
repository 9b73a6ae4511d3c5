/*
 * tests/unit/test_records.c - records/: the jsonl and csv readers (chunk
 * boundaries at every offset), the jsonl and csv writers (exact bytes),
 * schemas, times, error envelopes, field lookup, and the parquet writer
 * (its layout checked with a small Thrift compact reader below).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>

#include "../../records/envelope.h"
#include "../../records/parquet_enc.h"
#include "../../records/rec_json.h"
#include "../../records/rec_time.h"
#include "../../records/reader.h"
#include "../../records/schema.h"
#include "../../records/thrift.h"
#include "../../records/writer.h"
#include "unit.h"

/* ---- helpers ---- */

/* Reads IN with FORMAT, fed in pieces of CHUNK bytes (0: cut at SPLIT), and
 * returns every result as a line: "R <json>" or "E <msg> |<raw>|". */
static char *read_all(const char *format, const struct rec_reader_opts *o, const char *in, size_t n,
		      size_t chunk, size_t split)
{
	struct rec_reader *r;
	struct rec_result res;
	struct buf out;
	size_t off = 0;
	int rc;

	buf_init(&out);
	if (rec_reader_new(format, o, &r))
		return NULL;
	while (off < n || !r->eof) {
		size_t k = chunk ? chunk : off < split ? split : n - off;

		if (k > n - off)
			k = n - off;
		rec_reader_feed(r, in + off, k);
		off += k;
		if (off == n)
			rec_reader_finish(r);
		while ((rc = rec_reader_next(r, &res)) > 0) {
			if (rc == REC_RESULT_RECORD) {
				buf_puts(&out, "R ");
				rec_json_record(&out, res.rec);
			} else {
				buf_printf(&out, "E %s |%.*s|", res.msg, (int)res.raw_len, res.raw);
			}
			buf_puts(&out, "\n");
		}
	}
	rec_reader_free(r);
	return buf_steal(&out, NULL);
}

static char *read_str(const char *format, const struct rec_reader_opts *o, const char *in)
{
	return read_all(format, o, in, strlen(in), 0, strlen(in));
}

static int out_buf(void *ctx, const void *p, size_t n)
{
	buf_add(ctx, p, n);
	return 0;
}

/* Parses each line of JSONL into records and writes them with FORMAT. */
static char *write_all(const char *format, const char *jsonl, const struct rec_schema *s,
		       const struct rec_writer_opts *o, size_t *len)
{
	struct rec_reader *r;
	struct rec_writer *w;
	struct rec_result res;
	struct buf out;

	buf_init(&out);
	if (rec_reader_new("jsonl", NULL, &r))
		return NULL;
	if (rec_writer_new(format, s, o, out_buf, &out, &w)) {
		rec_reader_free(r);
		return NULL;
	}
	rec_reader_feed(r, jsonl, strlen(jsonl));
	rec_reader_finish(r);
	while (rec_reader_next(r, &res) == REC_RESULT_RECORD)
		rec_writer_write(w, res.rec);
	rec_writer_finish(w);
	rec_writer_free(w);
	rec_reader_free(r);
	return buf_steal(&out, len);
}

/* The schema inferred from the records of JSONL. */
static struct rec_schema *infer(const char *jsonl, const char *time_field)
{
	struct rec_schema *s = rec_schema_new(time_field);
	struct rec_reader *r;
	struct rec_result res;

	rec_reader_new("jsonl", NULL, &r);
	rec_reader_feed(r, jsonl, strlen(jsonl));
	rec_reader_finish(r);
	while (rec_reader_next(r, &res) == REC_RESULT_RECORD)
		rec_schema_infer(s, res.rec);
	rec_reader_free(r);
	return s;
}

#define READS(fmt, o, in, want) do { \
	char *got_ = read_str(fmt, o, in); \
	CHECK(got_ != NULL); \
	int same_ = strcmp(got_, want) == 0; \
	if (!same_) \
		printf("    got:  %s\n    want: %s\n", got_, want); \
	free(got_); \
	CHECK(same_); \
} while (0)

/* ---- jsonl reader ---- */

static void jsonl_int64_exact(void)
{
	READS("jsonl", NULL,
	      "{\"a\":9007199254740993,\"b\":9223372036854775807,\"c\":-9223372036854775808}\n"
	      "{\"d\":9223372036854775808,\"e\":-0,\"f\":1.0,\"g\":1e3,\"h\":0.1}\n",
	      "R {\"a\":9007199254740993,\"b\":9223372036854775807,\"c\":-9223372036854775808}\n"
	      "R {\"d\":9.223372036854776e+18,\"e\":0,\"f\":1.0,\"g\":1000.0,\"h\":0.1}\n");
}

static void jsonl_escapes_and_surrogates(void)
{
	struct record r;
	char msg[200];
	const char *in = "{\"s\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00 \\u0001\"}";

	rec_init(&r);
	CHECK(rec_json_parse_object(&r, in, strlen(in), msg, sizeof(msg)) == 0);
	CHECK(r.n == 1 && r.fields[0].v.type == REC_STRING);
	CHECK(r.fields[0].v.s.n == strlen("q\" b\\ s/ \b\f\n\r\t \xc3\xa9 \xf0\x9f\x98\x80 \x01"));
	CHECK(memcmp(r.fields[0].v.s.p, "q\" b\\ s/ \b\f\n\r\t \xc3\xa9 \xf0\x9f\x98\x80 \x01",
		     r.fields[0].v.s.n) == 0);
	rec_free(&r);
	READS("jsonl", NULL, "{\"k\\u00e9y\":\"\\ud83d\\ude00\"}\n{\"a\":\"\\ud83d\"}\n{\"a\":\"\\ude00x\"}\n",
	      "R {\"k\xc3\xa9y\":\"\xf0\x9f\x98\x80\"}\n"
	      "E line 2: invalid JSON at byte 13: lone high surrogate in \\u escape |{\"a\":\"\\ud83d\"}|\n"
	      "E line 3: invalid JSON at byte 13: lone low surrogate in \\u escape |{\"a\":\"\\ude00x\"}|\n");
}

static void jsonl_invalid_utf8(void)
{
	READS("jsonl", NULL, "{\"a\":1}\n\n{\"b\":\"ok\"}\n{\"c\":\"x\xff\"}\n{\"d\":\"\xed\xa0\x80\"}\n{\"e\":2}",
	      "R {\"a\":1}\nR {\"b\":\"ok\"}\n"
	      "E line 4: invalid UTF-8 at byte 8 |{\"c\":\"x\xff\"}|\n"
	      "E line 5: invalid UTF-8 at byte 7 |{\"d\":\"\xed\xa0\x80\"}|\n"
	      "R {\"e\":2}\n");
}

static void jsonl_not_an_object(void)
{
	READS("jsonl", NULL, "[1]\n42\n\"s\"\n{\"a\":}\n{\"a\":1} x\n{\"a\":1,}\n  \r\n{\"ok\":true}\r\n",
	      "E line 1: not a JSON object |[1]|\n"
	      "E line 2: not a JSON object |42|\n"
	      "E line 3: not a JSON object |\"s\"|\n"
	      "E line 4: invalid JSON at byte 6: bad number |{\"a\":}|\n"
	      "E line 5: invalid JSON at byte 9: text after the object |{\"a\":1} x|\n"
	      "E line 6: invalid JSON at byte 8: expected a string |{\"a\":1,}|\n"
	      "R {\"ok\":true}\n");
}

static void jsonl_depth_bomb(void)
{
	size_t n = 200000;
	char *in = malloc(n * 2 + 16), *got;
	size_t k = 0;

	CHECK(in != NULL);
	k += (size_t)snprintf(in, 16, "{\"a\":");
	memset(in + k, '[', n);
	memset(in + k + n, ']', n);
	k += 2 * n;
	memcpy(in + k, "}\n{\"b\":1}\n", 11);
	got = read_all("jsonl", NULL, in, strlen(in), 0, strlen(in));
	free(in);
	CHECK(got && strncmp(got, "E line 1: invalid JSON at byte", 30) == 0);
	CHECK(strstr(got, "nested too deep") && strstr(got, "\nR {\"b\":1}\n"));
	free(got);
	/* 63 levels below the top-level object are fine, 64 are not */
	for (int depth = 63; depth <= 64; depth++) {
		char ok[200], *res;

		k = (size_t)snprintf(ok, sizeof(ok), "{\"a\":");
		memset(ok + k, '[', (size_t)depth);
		k += (size_t)depth;
		ok[k++] = '1';
		memset(ok + k, ']', (size_t)depth);
		k += (size_t)depth;
		memcpy(ok + k, "}", 2);
		res = read_all("jsonl", NULL, ok, strlen(ok), 0, 0);
		CHECK(res && res[0] == (depth == 63 ? 'R' : 'E'));
		CHECK(depth == 64 || strncmp(res + 2, ok, strlen(ok)) == 0);
		free(res);
	}
}

static void jsonl_nested_kept_compact(void)
{
	READS("jsonl", NULL, "{ \"o\" : { \"a\" : [ 1 , \"x y\" , { } ] , \"b\" : null } , \"e\" : [ ] }",
	      "R {\"o\":{\"a\":[1,\"x y\",{}],\"b\":null},\"e\":[]}\n");
}

static void jsonl_every_chunk_boundary(void)
{
	const char *in = "{\"a\":1,\"s\":\"h\xc3\xa9\\u00e9\\ud83d\\ude00\"}\r\n\n{\"b\":[1,{\"c\":2}]}\n"
			 "oops\n{\"d\":-12.5e-1}";
	char *want = read_str("jsonl", NULL, in), *got;
	size_t n = strlen(in);

	CHECK(want && strstr(want, "E line 4: not a JSON object |oops|"));
	for (size_t k = 0; k <= n; k++) {
		got = read_all("jsonl", NULL, in, n, 0, k);
		CHECK(got && strcmp(got, want) == 0);
		free(got);
	}
	got = read_all("jsonl", NULL, in, n, 1, 0);
	CHECK(got && strcmp(got, want) == 0);
	free(got);
	free(want);
}

static void jsonl_record_too_long(void)
{
	struct rec_reader_opts o = { .max_record = 64 };
	char in[400];

	memset(in, 'x', sizeof(in));
	memcpy(in, "{\"a\":\"", 6);
	memcpy(in + 300, "\"}\n{\"b\":2}\n", 12);
	char *got = read_all("jsonl", &o, in, strlen(in), 7, 0);

	CHECK(got && strncmp(got, "E line 1: record longer than 64 bytes", 37) == 0);
	CHECK(strstr(got, "|\nR {\"b\":2}\n") != NULL);
	free(got);
	got = read_all("jsonl", &o, in, strlen(in), 0, strlen(in));	/* in one feed */
	CHECK(got && strncmp(got, "E line 1: record longer than 64 bytes", 37) == 0);
	CHECK(strstr(got, "|\nR {\"b\":2}\n") != NULL);
	free(got);
}

/* ---- csv reader ---- */

static void csv_quotes_and_crlf(void)
{
	READS("csv", NULL,
	      "a,b,c\r\n1,\"x,y\",\"he said \"\"hi\"\"\"\r\n\"multi\nline\",,\"\"\r\n",
	      "R {\"a\":\"1\",\"b\":\"x,y\",\"c\":\"he said \\\"hi\\\"\"}\n"
	      "R {\"a\":\"multi\\nline\",\"b\":\"\",\"c\":\"\"}\n");
}

static void csv_newline_split_across_feeds(void)
{
	const char *in = "id,text\n1,\"first\r\nsecond\"\n2,\"a \"\"q\"\" b\"\n3,plain";
	const char *want = "R {\"id\":\"1\",\"text\":\"first\\r\\nsecond\"}\n"
			   "R {\"id\":\"2\",\"text\":\"a \\\"q\\\" b\"}\n"
			   "R {\"id\":\"3\",\"text\":\"plain\"}\n";
	size_t n = strlen(in);

	for (size_t k = 0; k <= n; k++) {
		char *got = read_all("csv", NULL, in, n, 0, k);

		CHECK(got && strcmp(got, want) == 0);
		free(got);
	}
	char *got = read_all("csv", NULL, in, n, 1, 0);

	CHECK(got && strcmp(got, want) == 0);
	free(got);
}

static void csv_wrong_field_count(void)
{
	READS("csv", NULL, "a,b,c\n\"x\ny\",2,3\n1,2\n1,2,3,4\n7,8,9\n1,\"2\"x,3\n1,\"open",
	      "R {\"a\":\"x\\ny\",\"b\":\"2\",\"c\":\"3\"}\n"
	      "E line 4: 2 fields where the header has 3 |1,2|\n"
	      "E line 5: 4 fields where the header has 3 |1,2,3,4|\n"
	      "R {\"a\":\"7\",\"b\":\"8\",\"c\":\"9\"}\n"
	      "E line 7: text after a closing quote |1,\"2\"x,3|\n"
	      "E line 8: unterminated quoted field |1,\"open|\n");
}

static void csv_quote_inside_unquoted_field(void)
{
	/* a quote that does not start a field is a plain character: it must
	 * not swallow the following rows */
	READS("csv", NULL, "a,b\n5 \"inch\",x\n2,\"q\"\"\"\n3,y\n",
	      "R {\"a\":\"5 \\\"inch\\\"\",\"b\":\"x\"}\nR {\"a\":\"2\",\"b\":\"q\\\"\"}\n"
	      "R {\"a\":\"3\",\"b\":\"y\"}\n");
}

static void byte_order_mark_skipped(void)
{
	const char *in = "\xef\xbb\xbf" "a,b\n1,2\n";

	for (size_t k = 0; k <= strlen(in); k++) {
		char *got = read_all("csv", NULL, in, strlen(in), 0, k);

		CHECK_STR(got, "R {\"a\":\"1\",\"b\":\"2\"}\n");
		free(got);
	}
	READS("jsonl", NULL, "\xef\xbb\xbf{\"a\":1}\n\xef\xbb\xbf{}\n",
	      "R {\"a\":1}\nE line 2: not a JSON object |\xef\xbb\xbf{}|\n");
}

static void csv_nul_in_header(void)
{
	static const char in[] = "a\0b,c\n1,2\n";
	char *got = read_all("csv", NULL, in, sizeof(in) - 1, 3, 0);

	CHECK(got && strcmp(got, "R {\"a\\u0000b\":\"1\",\"c\":\"2\"}\n") == 0);
	free(got);
}

static void csv_given_columns(void)
{
	const char *cols[] = { "x", "y" };
	struct rec_reader_opts o = { .columns = cols, .ncolumns = 2 };

	READS("csv", &o, "a,b\n1,2\n", "R {\"x\":\"a\",\"y\":\"b\"}\nR {\"x\":\"1\",\"y\":\"2\"}\n");
}

static void csv_type_inference(void)
{
	struct rec_reader_opts o = { .infer = true };

	READS("csv", &o, "i,n,d,e,t,f,z,s,nul,big\n12,-3,1.5,1e3,true,false,007,abc,,9223372036854775808\n",
	      "R {\"i\":12,\"n\":-3,\"d\":1.5,\"e\":1000.0,\"t\":true,\"f\":false,\"z\":\"007\",\"s\":\"abc\","
	      "\"nul\":null,\"big\":\"9223372036854775808\"}\n");
	READS("csv", NULL, "i,t,e\n12,true,\n", "R {\"i\":\"12\",\"t\":\"true\",\"e\":\"\"}\n");
}

/* ---- writers ---- */

static void jsonl_writer_bytes(void)
{
	struct record r;
	struct rec_writer *w;
	struct buf out;

	rec_init(&r);
	buf_init(&out);
	rec_add_str(&r, "s", "q\"\\\n\t\x01\x7f\xc3\xa9", 9);
	rec_add_int(&r, "max", INT64_MAX);
	rec_add_int(&r, "min", INT64_MIN);
	rec_add_double(&r, "d", 0.1);
	rec_add_double(&r, "w", 3.0);
	rec_add_double(&r, "nan", 0.0 / 0.0);
	rec_add_double(&r, "inf", 1.0 / 0.0);
	rec_add_bool(&r, "b", false);
	rec_add_null(&r, "n");
	rec_add_nested(&r, "o", "{\"a\":[1]}", 9);
	CHECK(rec_writer_new("jsonl", NULL, NULL, out_buf, &out, &w) == 0);
	CHECK(rec_writer_write(w, &r) == 0 && rec_writer_write(w, &r) == 0);
	CHECK(rec_writer_finish(w) == 0);
	rec_writer_free(w);
	rec_free(&r);
	const char *line = "{\"s\":\"q\\\"\\\\\\n\\t\\u0001\\u007f\xc3\xa9\",\"max\":9223372036854775807,"
			   "\"min\":-9223372036854775808,\"d\":0.1,\"w\":3.0,\"nan\":null,\"inf\":null,"
			   "\"b\":false,\"n\":null,\"o\":{\"a\":[1]}}\n";
	CHECK(out.len == 2 * strlen(line));
	CHECK(strncmp(out.p, line, strlen(line)) == 0 && strcmp(out.p + strlen(line), line) == 0);
	buf_free(&out);
}

static void csv_writer_bytes(void)
{
	const char *in = "{\"a\":1,\"b\":\"x,y\",\"c\":\"q\\\"\"}\n{\"b\":\"l1\\nl2\",\"d\":2.5}\n"
			 "{\"a\":true,\"c\":{\"k\":\"v\"},\"e\":\"dropped\"}\n{\"a\":null,\"c\":\"cr\\r\"}\n";
	struct rec_schema *s = rec_schema_new(NULL);
	char *got;

	rec_schema_add(s, "a", 1, REC_COL_INT64);
	rec_schema_add(s, "b", 1, REC_COL_STRING);
	rec_schema_add(s, "c", 1, REC_COL_STRING);
	rec_schema_add(s, "d,x", 3, REC_COL_DOUBLE);
	rec_schema_add(s, "d", 1, REC_COL_DOUBLE);
	got = write_all("csv", in, s, NULL, NULL);
	CHECK_STR(got, "a,b,c,\"d,x\",d\r\n1,\"x,y\",\"q\"\"\",,\r\n,\"l1\nl2\",,,2.5\r\n"
		       "true,,\"{\"\"k\"\":\"\"v\"\"}\",,\r\n,,\"cr\r\",,\r\n");
	free(got);
	got = write_all("csv", "", s, NULL, NULL);
	CHECK_STR(got, "a,b,c,\"d,x\",d\r\n");
	free(got);
	rec_schema_free(s);
	got = write_all("csv", "", NULL, NULL, NULL);
	CHECK(got == NULL);
}

/* ---- schemas ---- */

static void schema_inference(void)
{
	struct rec_schema *s = infer("{\"ts\":\"2026-01-01T00:00:00Z\",\"i\":1,\"n\":null,\"m\":1}\n"
				     "{\"i\":2.5,\"m\":\"x\",\"o\":{\"a\":1},\"b\":true,\"n\":7}\n"
				     "{\"z\":null,\"ts\":1700000000,\"b\":false}\n", "ts");
	struct buf b;

	buf_init(&b);
	rec_schema_text(s, &b);
	CHECK_STR(b.p, "{\"ts\":\"timestamp\",\"i\":\"double\",\"n\":\"int64\",\"m\":\"string\","
		       "\"o\":\"string\",\"b\":\"bool\",\"z\":\"null\"}");
	buf_free(&b);
	rec_schema_free(s);
}

static void schema_text_round_trip(void)
{
	const char *t = "{\"ts\":\"timestamp\",\"user\":\"string\",\"q\\\"\":\"int64\",\"b\":\"bool\"}";
	struct rec_schema *s;
	struct buf b;

	buf_init(&b);
	CHECK(rec_schema_parse(t, strlen(t), NULL, &s) == 0);
	CHECK(s->n == 4 && s->cols[2].type == REC_COL_INT64 && strcmp(s->cols[2].name, "q\"") == 0);
	rec_schema_text(s, &b);
	CHECK_STR(b.p, t);
	rec_schema_free(s);
	buf_free(&b);
	CHECK(rec_schema_parse("{\"a\":\"int\"}", 11, NULL, &s) == -EINVAL);
	CHECK(rec_schema_parse("{\"a\":\"bool\",\"a\":\"bool\"}", 23, NULL, &s) == -EINVAL);
	CHECK(rec_schema_parse("[]", 2, NULL, &s) == -EINVAL);
	CHECK(rec_schema_parse("{\"a\":1}", 7, NULL, &s) == -EINVAL);
}

static void schema_merge_keeps_order(void)
{
	struct rec_schema *a = infer("{\"x\":1,\"y\":\"s\"}", NULL);
	struct rec_schema *b = infer("{\"z\":true,\"y\":2,\"x\":1.5}", NULL);
	struct buf t;

	buf_init(&t);
	CHECK(rec_schema_merge(a, b) == 0);
	rec_schema_text(a, &t);
	CHECK_STR(t.p, "{\"x\":\"double\",\"y\":\"string\",\"z\":\"bool\"}");
	buf_free(&t);
	rec_schema_free(a);
	rec_schema_free(b);
}

static void schema_strict_rejects(void)
{
	struct rec_schema *s = infer("{\"ts\":\"2026-01-01T00:00:00Z\",\"n\":1,\"d\":1.5,\"s\":\"x\"}", "ts");
	struct record r;
	char msg[200];

	rec_init(&r);
	rec_add_int(&r, "n", 3);
	rec_add_int(&r, "d", 3);
	rec_add_null(&r, "s");
	rec_add_int(&r, "ts", 1700000000);
	CHECK(rec_schema_apply(s, &r, REC_SCHEMA_STRICT, msg, sizeof(msg)) == 0);
	rec_add_str(&r, "n2", "x", 1);
	CHECK(rec_schema_apply(s, &r, REC_SCHEMA_STRICT, msg, sizeof(msg)) == -EINVAL);
	CHECK_STR(msg, "field \"n2\" is not in the schema");
	rec_reset(&r);
	rec_add_str(&r, "n", "12", 2);
	CHECK(rec_schema_apply(s, &r, REC_SCHEMA_STRICT, msg, sizeof(msg)) == -EINVAL);
	CHECK_STR(msg, "field \"n\" is string where the schema has int64");
	rec_reset(&r);
	rec_add_str(&r, "ts", "yesterday", 9);
	CHECK(rec_schema_apply(s, &r, REC_SCHEMA_STRICT, msg, sizeof(msg)) == -EINVAL);
	CHECK_STR(msg, "field \"ts\" is string where the schema has timestamp");
	CHECK(s->n == 4);
	/* relaxed: the new field is appended, the others keep their place */
	rec_reset(&r);
	rec_add_str(&r, "new", "v", 1);
	rec_add_str(&r, "n", "12", 2);
	CHECK(rec_schema_apply(s, &r, REC_SCHEMA_RELAXED, msg, sizeof(msg)) == 0);
	CHECK(s->n == 5 && strcmp(s->cols[4].name, "new") == 0 && s->cols[1].type == REC_COL_STRING);
	rec_free(&r);
	rec_schema_free(s);
}

/* ---- time ---- */

static int64_t tp(const char *s)
{
	int64_t us = -1;

	return rec_time_parse(s, strlen(s), &us) ? -2 : us;
}

static void time_parsing(void)
{
	char buf[32];

	CHECK(tp("1970-01-01T00:00:00Z") == 0);
	CHECK(tp("2026-12-01T21:03:00Z") == INT64_C(1796158980000000));
	CHECK(tp("2026-12-01T22:03:00+01:00") == INT64_C(1796158980000000));
	CHECK(tp("2026-12-01 20:33:00.5-00:30") == INT64_C(1796158980500000));
	CHECK(tp("2024-02-29t12:00:00.123456789z") == INT64_C(1709208000123456));
	CHECK(tp("1969-12-31T23:59:59.999999Z") == -1);
	CHECK(tp("2023-02-29T00:00:00Z") == -2);
	CHECK(tp("2026-13-01T00:00:00Z") == -2);
	CHECK(tp("2026-12-01T21:03:00") == -2);
	CHECK(tp("2026-12-01T21:03:00+0100") == -2);
	CHECK(tp("2026-12-01T21:03:00.Z") == -2);
	CHECK(tp("1700000000") == INT64_C(1700000000000000));
	CHECK(tp("1700000000123") == INT64_C(1700000000123000));
	CHECK(tp("1700000000123456") == INT64_C(1700000000123456));
	CHECK(tp("1700000000.25") == INT64_C(1700000000250000));
	CHECK(tp("12abc") == -2 && tp("") == -2 && tp("-") == -2);
	CHECK(rec_time_format(INT64_C(1796158980000000), buf) == 20);
	CHECK_STR(buf, "2026-12-01T21:03:00Z");
	rec_time_format(-1, buf);
	CHECK_STR(buf, "1969-12-31T23:59:59.999999Z");
}

static void time_of_a_record(void)
{
	struct record r;
	int64_t us;

	rec_init(&r);
	rec_add_str(&r, "s", "2026-12-01T21:03:00Z", 20);
	rec_add_int(&r, "ms", INT64_C(1796158980000));
	rec_add_double(&r, "d", 1796158980.5);
	rec_add_str(&r, "bad", "soon", 4);
	rec_add_null(&r, "nul");
	rec_add_bool(&r, "b", true);
	CHECK(rec_time_field(&r, "s", &us) == 0 && us == INT64_C(1796158980000000));
	CHECK(rec_time_field(&r, "ms", &us) == 0 && us == INT64_C(1796158980000000));
	CHECK(rec_time_field(&r, "d", &us) == 0 && us == INT64_C(1796158980500000));
	CHECK(rec_time_field(&r, "bad", &us) == -EINVAL);
	CHECK(rec_time_field(&r, "b", &us) == -EINVAL);
	CHECK(rec_time_field(&r, "nul", &us) == -ENOENT);
	CHECK(rec_time_field(&r, "missing", &us) == -ENOENT);
	rec_free(&r);
}

/* ---- envelope and field lookup ---- */

static void envelope_lines(void)
{
	struct rec_envelope e = { .error = "line 12: not a JSON object", .flow = "web", .source = "app.log",
				  .line = 12, .time_us = INT64_C(1796158980000000), .raw = "a\"b\tc", .raw_len = 5 };
	struct buf b;

	buf_init(&b);
	CHECK(rec_envelope(&b, &e) == 0);
	CHECK_STR(b.p, "{\"error\":\"line 12: not a JSON object\",\"flow\":\"web\",\"source\":\"app.log\","
		       "\"line\":12,\"time\":\"2026-12-01T21:03:00Z\",\"raw\":\"a\\\"b\\tc\"}");
	b.len = 0;
	e.raw = "x\xff\xfe";
	e.raw_len = 3;
	e.source = NULL;
	e.line = 0;
	CHECK(rec_envelope(&b, &e) == 0);
	CHECK_STR(b.p, "{\"error\":\"line 12: not a JSON object\",\"flow\":\"web\","
		       "\"time\":\"2026-12-01T21:03:00Z\",\"raw_b64\":\"eP/+\"}");
	buf_free(&b);
}

static void field_text_lookup(void)
{
	const char *in = "{\"user\":\"ann\",\"n\":42,\"d\":0.5,\"b\":true,\"z\":null,\"a.b\":\"exact\","
			 "\"a\":{\"b\":\"inner\",\"c\":{\"d\":[1,2],\"e\":\"\\u00e9\"},\"n\":-1},\"arr\":[1]}";
	struct record r;
	char msg[200], buf[64];

	rec_init(&r);
	CHECK(rec_json_parse_object(&r, in, strlen(in), msg, sizeof(msg)) == 0);
	CHECK(rec_field_text(&r, "user", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "ann");
	CHECK(rec_field_text(&r, "n", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "42");
	CHECK(rec_field_text(&r, "d", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "0.5");
	CHECK(rec_field_text(&r, "b", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "true");
	CHECK(rec_field_text(&r, "a.b", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "exact");
	CHECK(rec_field_text(&r, "a.c.e", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "\xc3\xa9");
	CHECK(rec_field_text(&r, "a.c.d", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "[1,2]");
	CHECK(rec_field_text(&r, "a.n", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "-1");
	CHECK(rec_field_text(&r, "z", buf, sizeof(buf)) == -ENOENT);
	CHECK(rec_field_text(&r, "a.x", buf, sizeof(buf)) == -ENOENT);
	CHECK(rec_field_text(&r, "arr.0", buf, sizeof(buf)) == -ENOENT);
	CHECK(rec_field_text(&r, "user.x", buf, sizeof(buf)) == -ENOENT);
	CHECK(rec_field_text(&r, "nope", buf, sizeof(buf)) == -ENOENT);
	CHECK(rec_field_text(&r, "user", buf, 3) == -ENOSPC);
	rec_free(&r);
}

/* ---- parquet ---- */

static void rle_hybrid_bytes(void)
{
	uint8_t ones[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, alt[9] = { 1, 0, 1, 0, 1, 0, 1, 0, 1 };
	uint32_t idx[3] = { 5, 0, 7 };
	struct buf b;

	buf_init(&b);
	pq_hybrid(&b, ones, NULL, 10, 1);
	CHECK(b.len == 2 && memcmp(b.p, "\x14\x01", 2) == 0);
	b.len = 0;
	pq_hybrid(&b, alt, NULL, 9, 1);	/* two bit-packed groups, the last padded */
	CHECK(b.len == 3 && memcmp(b.p, "\x05\x55\x01", 3) == 0);
	b.len = 0;
	pq_hybrid(&b, NULL, idx, 3, 3);	/* 5,0,7,0,0,0,0,0 in 3 bits: 0xc5 0x01 0x00 */
	CHECK(b.len == 4 && memcmp(b.p, "\x03\xc5\x01\x00", 4) == 0);
	b.len = 0;
	pq_bool_pack(&b, alt, 9);
	CHECK(b.len == 2 && memcmp(b.p, "\x55\x01", 2) == 0);
	CHECK(pq_bit_width(0) == 1 && pq_bit_width(1) == 1 && pq_bit_width(2) == 2 && pq_bit_width(255) == 8);
	buf_free(&b);
}

static void thrift_compact_bytes(void)
{
	struct rec_thr t;
	struct buf b;

	buf_init(&b);
	rec_thr_init(&t, &b);
	rec_thr_i32(&t, 1, 1);		/* 0x15 0x02 */
	rec_thr_i64(&t, 3, -1);		/* delta 2, i64: 0x26 0x01 */
	rec_thr_bool(&t, 4, true);	/* 0x11 */
	rec_thr_binary(&t, 20, "ab", 2);	/* delta 16: long form 0x08 0x28, then 0x02 a b */
	rec_thr_list(&t, 21, REC_THR_I32, 2);	/* 0x19 0x25 */
	rec_thr_elem_i32(&t, -2);	/* 0x03 */
	rec_thr_elem_i32(&t, 64);	/* 0x80 0x01 */
	rec_thr_struct(&t, 22);		/* 0x1c */
	rec_thr_empty(&t, 1);		/* 0x1c 0x00 */
	rec_thr_end(&t);		/* 0x00 */
	rec_thr_end(&t);		/* 0x00 */
	CHECK(b.len == 20);
	CHECK(memcmp(b.p, "\x15\x02\x26\x01\x11\x08\x28\x02" "ab" "\x19\x25\x03\x80\x01\x1c\x1c\x00\x00\x00",
		     20) == 0);
	buf_free(&b);
}

/* A Thrift compact reader just big enough to walk FileMetaData. */
struct tr {
	const unsigned char *p, *end;
	bool bad;
};

static uint64_t tr_varint(struct tr *t)
{
	uint64_t v = 0;

	for (int s = 0; t->p < t->end && s < 64; s += 7) {
		unsigned char c = *t->p++;

		v |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80))
			return v;
	}
	t->bad = true;
	return 0;
}

static int64_t tr_int(struct tr *t)
{
	uint64_t v = tr_varint(t);

	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void tr_skip(struct tr *t, int type);

/* Reads a list header: its element type in *type, its size returned. */
static size_t tr_list(struct tr *t, int *type)
{
	unsigned char h = t->p < t->end ? *t->p++ : 0;
	size_t n = h >> 4;

	*type = h & 15;
	return n == 15 ? (size_t)tr_varint(t) : n;
}

/* Calls FN(ctx, id, type) for each field of a struct; FN consumes the
 * value and returns true, or returns false to have it skipped. */
static void tr_struct(struct tr *t, bool (*fn)(void *, struct tr *, int, int), void *ctx)
{
	int last = 0;

	while (!t->bad && t->p < t->end) {
		unsigned char h = *t->p++;
		int type = h & 15, id;

		if (h == 0)
			return;
		id = h >> 4 ? last + (h >> 4) : (int)tr_int(t);
		last = id;
		if (!fn || !fn(ctx, t, id, type))
			tr_skip(t, type);
	}
	t->bad = true;
}

static void tr_skip(struct tr *t, int type)
{
	int et;
	size_t n;

	switch (type) {
	case 1: case 2:
		return;
	case 3:
		t->p++;
		return;
	case 4: case 5: case 6:
		tr_varint(t);
		return;
	case 7:
		t->p += 8;
		return;
	case 8:
		n = (size_t)tr_varint(t);
		t->p += n;
		return;
	case 9: case 10:
		n = tr_list(t, &et);
		for (size_t i = 0; i < n && !t->bad; i++)
			tr_skip(t, et);
		return;
	case 12:
		tr_struct(t, NULL, NULL);
		return;
	default:
		t->bad = true;
	}
}

struct pq_meta {
	int64_t num_rows, rg_rows;
	int ngroups, nschema, ncols, dict_cols;
	int64_t chunk_start[64], chunk_size[64];	/* all chunks, file order */
	int64_t codec;
};

static bool tr_colmeta(void *ctx, struct tr *t, int id, int type)
{
	struct pq_meta *m = ctx;
	int64_t v;

	if (type != 6 && type != 5)
		return false;
	v = tr_int(t);
	if (m->ncols >= 64)
		return true;
	if (id == 4)
		m->codec = v;
	else if (id == 7)
		m->chunk_size[m->ncols] = v;
	else if (id == 9 && !m->chunk_start[m->ncols])
		m->chunk_start[m->ncols] = v;
	else if (id == 11) {
		m->chunk_start[m->ncols] = v;	/* the dictionary page comes first */
		m->dict_cols++;
	}
	return true;
}

static bool tr_chunk(void *ctx, struct tr *t, int id, int type)
{
	struct pq_meta *m = ctx;

	if (id != 3 || type != 12)
		return false;
	tr_struct(t, tr_colmeta, m);
	m->ncols++;
	return true;
}

static bool tr_group(void *ctx, struct tr *t, int id, int type)
{
	struct pq_meta *m = ctx;
	int et;

	if (id == 3 && type == 6) {
		m->rg_rows += tr_int(t);
		return true;
	}
	if (id != 1 || type != 9)
		return false;
	for (size_t n = tr_list(t, &et), i = 0; i < n && !t->bad; i++)
		tr_struct(t, tr_chunk, m);
	return true;
}

static bool tr_file(void *ctx, struct tr *t, int id, int type)
{
	struct pq_meta *m = ctx;
	int et;
	size_t n;

	if (id == 3 && type == 6) {
		m->num_rows = tr_int(t);
		return true;
	}
	if ((id != 2 && id != 4) || type != 9)
		return false;
	n = tr_list(t, &et);
	for (size_t i = 0; i < n && !t->bad; i++)
		tr_struct(t, id == 4 ? tr_group : NULL, m);
	if (id == 2)
		m->nschema = (int)n;
	else
		m->ngroups = (int)n;
	return true;
}

/* Checks the frame of the file P[0..N) and reads its footer into M; the
 * chunks must tile the file from byte 4 to the footer. */
static bool pq_check(const char *p, size_t n, struct pq_meta *m)
{
	uint32_t flen;
	struct tr t;
	int64_t at = 4;

	memset(m, 0, sizeof(*m));
	if (n < 12 || memcmp(p, "PAR1", 4) || memcmp(p + n - 4, "PAR1", 4))
		return false;
	memcpy(&flen, p + n - 8, 4);
	if (flen > n - 12)
		return false;
	t = (struct tr){ (const unsigned char *)p + n - 8 - flen, (const unsigned char *)p + n - 8, false };
	tr_struct(&t, tr_file, m);
	if (t.bad || t.p != t.end)
		return false;
	for (int c = 0; c < m->ncols; c++) {
		if (m->chunk_start[c] != at)
			return false;
		at += m->chunk_size[c];
	}
	return at == (int64_t)(n - 8 - flen) && m->rg_rows == m->num_rows;
}

/* N records of several types: a low-cardinality string, a unique string,
 * an int with nulls, a double, a bool, a time, a nested value. */
static char *pq_input(int n)
{
	struct buf b;

	buf_init(&b);
	for (int i = 0; i < n; i++) {
		buf_printf(&b, "{\"ts\":%d,\"level\":\"%s\",\"msg\":\"message %d\",\"d\":%d.5,\"ok\":%s,"
			       "\"o\":{\"i\":%d}", 1700000000 + i, i % 3 ? "info" : "warn", i, i,
			   i % 2 ? "true" : "false", i);
		if (i % 4)
			buf_printf(&b, ",\"n\":%d", i);
		buf_puts(&b, "}\n");
	}
	return buf_steal(&b, NULL);
}

static void parquet_layout(void)
{
	char *in = pq_input(3000);
	struct rec_schema *s = infer(in, "ts");
	enum rec_codec codecs[] = { REC_CODEC_NONE, REC_CODEC_GZIP, REC_CODEC_ZSTD };
	struct pq_meta m;
	size_t len;

	CHECK(s->n == 7);
	for (int k = 0; k < 3; k++) {
		struct rec_writer_opts o = { .codec = codecs[k] };
		char *out = write_all("parquet", in, s, &o, &len);

		CHECK(out && pq_check(out, len, &m));
		free(out);
		CHECK(m.num_rows == 3000 && m.ngroups == 1 && m.nschema == 8 && m.ncols == 7);
		CHECK(m.codec == pq_codec_id(codecs[k]));
		CHECK(m.dict_cols == 1);	/* "level"; "msg" is unique */
	}
	free(in);
	rec_schema_free(s);
}

static void parquet_row_groups_and_pages(void)
{
	char *in = pq_input(1000);
	struct rec_schema *s = infer(in, "ts");
	struct rec_writer_opts o = { .row_group_bytes = 8000, .page_bytes = 500, .codec = REC_CODEC_ZSTD };
	struct pq_meta m;
	size_t len;
	char *out = write_all("parquet", in, s, &o, &len);

	CHECK(out && pq_check(out, len, &m));
	CHECK(m.num_rows == 1000 && m.ngroups > 3 && m.ncols == 7 * m.ngroups);
	free(out);
	o.dict_max = 1;	/* "level" has 2 values: the dictionary is given up */
	out = write_all("parquet", in, s, &o, &len);
	CHECK(out && pq_check(out, len, &m) && m.dict_cols == 0);
	free(out);
	free(in);
	rec_schema_free(s);
}

static void parquet_empty(void)
{
	struct rec_schema *s = infer("{\"a\":1,\"b\":\"x\"}", NULL);
	struct pq_meta m;
	size_t len;
	char *out = write_all("parquet", "", s, NULL, &len);

	CHECK(out && pq_check(out, len, &m));
	CHECK(m.num_rows == 0 && m.ngroups == 0 && m.nschema == 3);
	free(out);
	rec_schema_free(s);
	CHECK(write_all("parquet", "", NULL, NULL, &len) == NULL);
	s = rec_schema_new(NULL);
	CHECK(write_all("parquet", "", s, NULL, &len) == NULL);	/* no columns: -ENODATA */
	rec_schema_free(s);
}

static void tables_find(void)
{
	struct rec_reader *r;

	CHECK(rec_reader_find("jsonl") && rec_reader_find("csv") && !rec_reader_find("xml"));
	CHECK(rec_writer_find("parquet") && strcmp(rec_writer_find("parquet")->ext, "parquet") == 0);
	CHECK(rec_reader_new("xml", NULL, &r) == -ENOENT);
}

int main(void)
{
	RUN(jsonl_int64_exact);
	RUN(jsonl_escapes_and_surrogates);
	RUN(jsonl_invalid_utf8);
	RUN(jsonl_not_an_object);
	RUN(jsonl_depth_bomb);
	RUN(jsonl_nested_kept_compact);
	RUN(jsonl_every_chunk_boundary);
	RUN(jsonl_record_too_long);
	RUN(csv_quotes_and_crlf);
	RUN(csv_newline_split_across_feeds);
	RUN(csv_wrong_field_count);
	RUN(csv_quote_inside_unquoted_field);
	RUN(byte_order_mark_skipped);
	RUN(csv_nul_in_header);
	RUN(csv_given_columns);
	RUN(csv_type_inference);
	RUN(jsonl_writer_bytes);
	RUN(csv_writer_bytes);
	RUN(schema_inference);
	RUN(schema_text_round_trip);
	RUN(schema_merge_keeps_order);
	RUN(schema_strict_rejects);
	RUN(time_parsing);
	RUN(time_of_a_record);
	RUN(envelope_lines);
	RUN(field_text_lookup);
	RUN(rle_hybrid_bytes);
	RUN(thrift_compact_bytes);
	RUN(parquet_layout);
	RUN(parquet_row_groups_and_pages);
	RUN(parquet_empty);
	RUN(tables_find);
	return unit_done();
}
