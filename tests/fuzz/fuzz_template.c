/*
 * tests/fuzz/fuzz_template.c - libFuzzer target for tmpl_render().
 *
 * An input is NUL-separated fields: the template, then the values of
 * <FLOW>, <FLOWID>, <STREAM>, <PATH>, <HOST> and a sink prefix; missing
 * fields are NULL (the prefix: empty).  <SEQ>, <PART>, the time and the
 * size of the output buffer come from a hash of the input.
 *
 * Whatever the renderer accepts must be a key that stays under the sink's
 * prefix: not empty, no leading '/', no empty, "." or ".." segment, no
 * control character - checked here by our own code and by sink_key_valid(),
 * alone and after the prefix, as cache/worker.c joins them.  A rendered key
 * must also fit the buffer it was given (ASan sees the buffer's end).  Any
 * broken promise calls abort().
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../backend/sink.h"
#include "../../cache/internal.h"

enum { F_TMPL, F_FLOW, F_FLOWID, F_STREAM, F_PATH, F_HOST, F_PREFIX, F_N };

static void die(const char *what, const char *key)
{
	fprintf(stderr, "fuzz_template: %s: '%s'\n", what, key);
	abort();
}

/* Our own statement of a safe key, independent of sink_key_valid(). */
static const char *unsafe(const char *key)
{
	const char *seg = key;

	if (!*key)
		return "empty key";
	if (*key == '/')
		return "leading '/'";
	for (const char *c = key; ; c++) {
		if (*c && *c != '/') {
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return "control character";
			continue;
		}
		if (c == seg)
			return "empty segment";
		if ((c - seg == 1 && seg[0] == '.') ||
		    (c - seg == 2 && seg[0] == '.' && seg[1] == '.'))
			return "'.' or '..' segment";
		if (!*c)
			return NULL;
		seg = c + 1;
	}
}

static void check_key(const char *key)
{
	const char *why = unsafe(key), *why2;

	if (why)
		die(why, key);
	if (!sink_key_valid(key, false, &why2))
		die("sink_key_valid refuses a rendered key", key);
}

/* The key as the worker builds it: prefix, then the rendered template. */
static void check_with_prefix(const char *prefix, const char *key)
{
	const char *why;
	char *joined;

	if (!sink_key_valid(prefix, true, &why))
		return;		/* sink_new() refuses such a prefix */
	if (asprintf(&joined, "%s%s", prefix, key) < 0)
		abort();
	check_key(joined);
	free(joined);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *f[F_N] = { 0 };
	struct tmpl_vars v;
	uint64_t h = 1469598103934665603ULL;
	char *in, *p, *out;
	size_t outlen;
	int rc;

	in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	p = in;
	for (int i = 0; i < F_N && p <= in + size; i++) {
		f[i] = p;
		p += strlen(p) + 1;
	}
	v = (struct tmpl_vars){
		.flow = f[F_FLOW], .flowid = f[F_FLOWID], .stream = f[F_STREAM],
		.path = f[F_PATH], .host = f[F_HOST],
		.seq = h >> 40, .part = (h >> 20) & 0xfffff,
		.t = (time_t)(h % (1ULL << 36)),	/* years 1970 to ~4147 */
	};
	outlen = (h & 1) ? 4096 : 1 + (h >> 8) % 200;
	out = malloc(outlen);
	if (!out)
		goto out_in;
	rc = tmpl_render(f[F_TMPL], &v, out, outlen);
	if (rc == 0) {
		if (strlen(out) >= outlen)
			die("key longer than its buffer", out);
		check_key(out);
		check_with_prefix(f[F_PREFIX] ? f[F_PREFIX] : "", out);
	} else if (rc != -EINVAL && rc != -ENAMETOOLONG && rc != -ENOMEM) {
		die("unexpected return", f[F_TMPL]);
	}
	free(out);
out_in:
	free(in);
	return 0;
}
