/*
 * tests/fuzz/fuzz_cfg.c - libFuzzer target for cfg_load().
 *
 * Each input is written to one temporary file and loaded with the schema
 * flowfs itself uses (cache_global_keys, cache_flow_keys, sink_keys), as in
 * fs/main.c.  The loader must never crash, leak or hang (ASan, UBSan and
 * libFuzzer's -timeout watch that); on success every lookup of every key
 * must work, and on error ERR must be one non-empty line.  A broken
 * promise calls abort().
 *
 * Single-threaded, like libFuzzer's default run.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../backend/sink.h"
#include "../../cache/cache.h"
#include "../../cache/internal.h"
#include "../../util/cfg.h"

static const struct cfg_schema schema = {
	.global = cache_global_keys,
	.flow = cache_flow_keys, .transform = cache_transform_keys,
	.sink_keys = sink_keys,
};

static char path[64];

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_cfg: %s: %s\n", what, detail);
	abort();
}

static void write_input(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("cannot write", path);
	if (size && fwrite(data, 1, size, f) != size)
		die("short write", path);
	fclose(f);
}

/* The templates of a flow (or [flowfs]) render, as cache_new() checks them,
 * to a key that stays under the sink: or are refused. */
static void check_templates(const struct cfg_section *s)
{
	static const char *const keys[] = { "uploads", "filename" };
	struct tmpl_vars v = { .flow = "flow", .flowid = "id", .stream = "stream",
			       .path = "dir/file", .host = "host", .t = 0 };
	char out[1024];
	const char *why;

	for (size_t k = 0; k < 2; k++) {
		const char *t = cfg_entry(s, keys[k]) ? cfg_str(s, keys[k]) : NULL;

		if (t && tmpl_render(t, &v, out, sizeof(out)) == 0 &&
		    (!out[0] || out[0] == '/' || strstr(out, "//") || !sink_key_valid(out, false, &why)))
			die("template renders an unsafe key", out);
	}
}

/* Every lookup of a loaded section, the way fs/ and cache/ read them. */
static void read_section(const struct cfg_section *s)
{
	const char *why;

	for (size_t i = 0; i < s->n; i++) {
		const struct cfg_entry *e = &s->entries[i];
		const char *name = e->key->name;
		size_t n;
		char **v;

		if (cfg_entry(s, name) != e)
			die("cfg_entry does not find", name);
		(void)cfg_str(s, name);
		(void)cfg_size(s, name);
		(void)cfg_seconds(s, name);
		(void)cfg_int(s, name);
		(void)cfg_bool(s, name);
		v = cfg_list(s, name, &n);
		if (!v)
			die("cfg_list failed", name);
		for (size_t k = 0; k < n; k++)
			if (!v[k] || !v[k][0])
				die("cfg_list gave an empty item", name);
		cfg_list_free(v);
	}
	check_templates(s);
	if (strcmp(s->kind, "sink") == 0 && cfg_str(s, "prefix"))
		(void)sink_key_valid(cfg_str(s, "prefix"), true, &why);
}

static void remove_input(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/fuzz_cfg.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp", "failed");
	close(fd);
	atexit(remove_input);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg *c = NULL;
	char err[1024];	/* as in fs/main.c */
	int rc;

	write_input(data, size);
	memset(err, 'X', sizeof(err));
	rc = cfg_load(&c, path, &schema, err, sizeof(err));
	if (rc != 0) {
		if (rc > 0 || !memchr(err, '\0', sizeof(err)))
			die("bad return or unterminated message", "");
		if (!err[0])
			die("error without a message", "");
		if (strchr(err, '\n') || strchr(err, '\r'))
			die("message of more than one line", err);
		return 0;
	}
	if (!c || !c->global || !c->path)
		die("success without a config", "");
	read_section(c->global);
	for (size_t i = 0; i < c->nsinks; i++)
		read_section(c->sinks[i]);
	for (size_t i = 0; i < c->nflows; i++) {
		read_section(c->flows[i]);
		if (cfg_find_flow(c, c->flows[i]->name) == NULL)
			die("flow not found by name", c->flows[i]->name);
	}
	cfg_free(c);
	return 0;
}
