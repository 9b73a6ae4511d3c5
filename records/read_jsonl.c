/*
 * records/read_jsonl.c - the jsonl reader: one JSON object per line.
 *
 * Blank lines are skipped; anything else that is not one valid JSON object
 * in valid UTF-8 is an error result naming the byte (rec_json.c).
 */
#include <errno.h>
#include <string.h>

#include "rec_json.h"
#include "reader.h"

static bool jsonl_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

static enum rec_parse jsonl_parse(struct rec_reader *r, const char *p, size_t n, struct rec_result *res)
{
	if (jsonl_blank(p, n))
		return REC_PARSE_SKIP;
	if (rec_json_parse_object(&r->rec, p, n, res->msg, sizeof(res->msg)))
		return REC_PARSE_ERROR;
	return REC_PARSE_RECORD;
}

const struct rec_reader_ops rec_read_jsonl = {
	.name = "jsonl",
	.parse = jsonl_parse,
};
