/*
 * records/envelope.c - error envelopes (see envelope.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../util/base64.h"
#include "envelope.h"
#include "rec_json.h"
#include "rec_time.h"

static void rec_envelope_str(struct buf *b, const char *key, const char *s)
{
	buf_puts(b, ",\"");
	buf_puts(b, key);
	buf_puts(b, "\":");
	rec_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

static int rec_envelope_raw(struct buf *b, const char *raw, size_t n)
{
	char *enc;

	if (rec_utf8_valid(raw, n)) {
		buf_puts(b, ",\"raw\":");
		rec_json_str(b, raw, n);
		return 0;
	}
	if (!(enc = malloc(BASE64_ENC_SIZE(n))))
		return -ENOMEM;
	buf_puts(b, ",\"raw_b64\":\"");
	buf_add(b, enc, base64_encode(raw, n, enc));
	buf_puts(b, "\"");
	free(enc);
	return 0;
}

int rec_envelope(struct buf *b, const struct rec_envelope *e)
{
	char when[32];
	int rc;

	buf_puts(b, "{\"error\":");
	rec_json_str(b, e->error ? e->error : "", e->error ? strlen(e->error) : 0);
	rec_envelope_str(b, "flow", e->flow);
	if (e->source)
		rec_envelope_str(b, "source", e->source);
	if (e->line)
		buf_printf(b, ",\"line\":%" PRIu64, e->line);
	rec_time_format(e->time_us, when);
	rec_envelope_str(b, "time", when);
	if ((rc = rec_envelope_raw(b, e->raw ? e->raw : "", e->raw ? e->raw_len : 0)))
		return rc;
	buf_puts(b, "}");
	return b->oom ? -ENOMEM : 0;
}
