/*
 * tests/unit/test_cfg.c - the config loader (util/cfg.c): every error path
 * names file, line, section and key; values, defaults and inheritance.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cache/cache.h"
#include "../../util/cfg.h"
#include "unit.h"

static char dir[256], ini[300];

static const struct cfg_key dir_keys[] = {
	{ "type", CFG_STR, NULL, CFG_REQUIRED, NULL, 0, 0, "sink type" },
	{ "path", CFG_PATH, NULL, CFG_REQUIRED, NULL, 0, 0, "where" },
	{ "prefix", CFG_STR, "", 0, NULL, 0, 0, "key prefix" },
	{ "secret", CFG_STR, NULL, CFG_SECRET, NULL, 0, 0, "a secret" },
	{ "timeout", CFG_DURATION, "30", CFG_BARE_SECONDS, NULL, 1, 600, "seconds" },
	{ "verify", CFG_BOOL, "yes", 0, NULL, 0, 0, "a bool" },
	{ NULL }
};

static const struct cfg_key bad_default_keys[] = {
	{ "type", CFG_STR, NULL, CFG_REQUIRED, NULL, 0, 0, "sink type" },
	{ "level", CFG_INT, "ten", 0, NULL, 0, 0, "a broken default" },
	{ NULL }
};

static const struct cfg_key *test_sink_keys(const char *type)
{
	if (strcmp(type, "dir") == 0)
		return dir_keys;
	if (strcmp(type, "broken") == 0)
		return bad_default_keys;
	return NULL;
}

static const struct cfg_schema schema = {
	.global = cache_global_keys, .flow = cache_flow_keys, .transform = cache_transform_keys, .sink_keys = test_sink_keys,
};

/* Loads TEXT; returns the error text ("" on success, then *OUT is set). */
static const char *load(const char *text, struct cfg **out)
{
	static char err[1024];
	struct cfg *c = NULL;
	FILE *f = fopen(ini, "w");

	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	if (cfg_load(&c, ini, &schema, err, sizeof(err)) == 0) {
		if (out)
			*out = c;
		else
			cfg_free(c);
		return "";
	}
	return err;
}

/* The error for TEXT is "INI:" followed by WANT. */
static int expect(const char *text, const char *want)
{
	char full[1400];
	const char *got = load(text, NULL);

	snprintf(full, sizeof(full), "%s:%s", ini, want);
	if (strcmp(got, full) == 0)
		return 1;
	printf("# got:  %s\n# want: %s\n", got, full);
	return 0;
}

#define SINK "[sink.a]\ntype = dir\npath = /tmp\n"

static void syntax_errors(void)
{
	CHECK(expect("[flowfs]\nnot a key\n", "2: syntax error: expected key = value"));
	CHECK(expect("[flowfs]\n= 5\n", "2: syntax error: a value without a key"));
	CHECK(expect("[flowfs\n", "1: syntax error: expected [section]"));
	CHECK(expect("[flowfs] x\n", "1: syntax error: expected [section]"));
	CHECK(expect("spool = /x\n", "1: spool: key outside of any [section]"));
	CHECK(expect("[flowfs]\n[flowfs]\n", "2: [flowfs]: duplicate section (first at line 1)"));
	CHECK(expect("[flowfs]\nworkers = 1\nWorkers = 2\n",
		     "3: [flowfs] workers: duplicate key (first at line 2)"));
}

static void section_errors(void)
{
	CHECK(expect("[bogus]\n", "1: [bogus]: unknown section (expected [flowfs], [sink.NAME], [flow.NAME] or [transform.NAME])"));
	CHECK(expect("[sink]\ntype = dir\n", "1: [sink]: unknown section (expected [flowfs], [sink.NAME], [flow.NAME] or [transform.NAME])"));
	CHECK(expect("[transform.a]\ntimeout = 5s\n", "1: [transform.a] command: missing required key"));
	CHECK(expect("[transform.a]\ncommand = cat\n[transform.a]\ncommand = cat\n", "3: [transform.a]: duplicate section (first at line 1)"));
	CHECK(expect("[sink.s]\ntype = dir\npath = /tmp\n[flow.f]\nsinks = s\ntransforms = nope\n",
		     "6: [flow.f] transforms: no transform named 'nope'"));
	CHECK(expect("[flow.]\n", "1: [flow.]: bad name '' (1-48 characters of a-z, 0-9, _ and -)"));
	CHECK(expect("[flow.Web]\n", "1: [flow.Web]: bad name 'Web' (1-48 characters of a-z, 0-9, _ and -)"));
	CHECK(expect("[sink.a b]\ntype = dir\n", "1: [sink.a b]: bad name 'a b' (1-48 characters of a-z, 0-9, _ and -)"));
	CHECK(expect("[sink.a]\npath = /tmp\n", "1: [sink.a] type: missing required key"));
	CHECK(expect("[sink.a]\n\ntype = ftp\n", "3: [sink.a] type: unknown sink type 'ftp'"));
}

static void key_errors(void)
{
	CHECK(expect(SINK "[flow.w]\nsinks = a\ncolour = red\n", "6: [flow.w] colour: unknown key"));
	CHECK(expect("[sink.a]\ntype = dir\n", "1: [sink.a] path: missing required key"));
	CHECK(expect(SINK "[flow.w]\nrotate = 1h\n", "4: [flow.w] sinks: missing required key"));
	CHECK(expect(SINK "[flow.w]\nsinks = a, b\n", "5: [flow.w] sinks: no sink named 'b'"));
	CHECK(expect(SINK "[flowfs]\nsinks = zz\n[flow.w]\n",
		     "5: [flowfs] sinks: no sink named 'zz'"));
	CHECK(expect("[sink.b]\ntype = broken\n", " [sink.b] level: bad built-in default: bad number 'ten'"));
}

static void value_errors(void)
{
	CHECK(expect("[flowfs]\nspool_max = 12Q\n", "2: [flowfs] spool_max: bad size '12Q' (use a number with K, M, G or T)"));
	CHECK(expect("[flowfs]\nspool_max = 99999999999T\n", "2: [flowfs] spool_max: bad size '99999999999T' (use a number with K, M, G or T)"));
	CHECK(expect("[flowfs]\npart_size = 100\n", "2: [flowfs] part_size: '100' is out of range (4096 to 5368709120 bytes)"));
	CHECK(expect("[flowfs]\nretain = 5y\n", "2: [flowfs] retain: bad duration '5y' (use a number with s, m, h or d; a bare number is minutes)"));
	CHECK(expect("[flowfs]\nworkers = -1\n", "2: [flowfs] workers: bad number '-1'"));
	CHECK(expect("[flowfs]\nworkers = 65\n", "2: [flowfs] workers: '65' is out of range (1 to 64)"));
	CHECK(expect("[flowfs]\nlog_level = loud\n", "2: [flowfs] log_level: bad value 'loud' (one of error|warn|info|debug)"));
	CHECK(expect("[flowfs]\nspool =\n", "2: [flowfs] spool: empty path"));
	CHECK(expect("[flowfs]\nsinks = a,,b\n", "2: [flowfs] sinks: empty item in list 'a,,b'"));
	CHECK(expect(SINK "verify = maybe\n", "4: [sink.a] verify: bad boolean 'maybe' (use yes or no)"));
	CHECK(expect(SINK "timeout = 0\n", "4: [sink.a] timeout: '0' is out of range (1 to 600 seconds)"));
	CHECK(expect("[flowfs]\nrotate = 0\n", "2: [flowfs] rotate: '0' is too small (at least 1 seconds)"));
	/* found by tests/fuzz/fuzz_cfg: control characters echoed from the file
	 * must not break the one-line message */
	CHECK(expect("[flowfs]\nsp\rool = x\n", "2: [flowfs] sp?ool: unknown key"));
	CHECK(expect("[flowfs]\nlog_level = lo\x1b[2Jud\n",
		     "2: [flowfs] log_level: bad value 'lo?[2Jud' (one of error|warn|info|debug)"));
}

static void file_errors(void)
{
	struct cfg *c = NULL;
	char err[512];

	CHECK(cfg_load(&c, "/nonexistent/flowfs.ini", &schema, err, sizeof(err)) == -ENOENT);
	CHECK_STR(err, "/nonexistent/flowfs.ini: cannot read: No such file or directory");
	CHECK(cfg_load(&c, dir, &schema, err, sizeof(err)) == -EISDIR);
	CHECK(strstr(err, ": cannot read: Is a directory") != NULL);
}

static void values_defaults_inheritance(void)
{
	struct cfg *c = NULL;
	char cwd[256];
	size_t n;
	char **v;

	CHECK(*load("; a comment\n[flowfs]\nspool = rel/spool ; trailing\nretain = 2h\n"
		    "maxsize = 1M\nsinks = a\n" SINK "prefix = logs/\ntimeout = 45\n"
		    "[flow.w]\nsinks = a , a\nrotate = 90\n[flow.x]\n", &c) == '\0');
	CHECK(c && c->nsinks == 1 && c->nflows == 2);
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	strncat(cwd, "/rel/spool", sizeof(cwd) - strlen(cwd) - 1);
	CHECK_STR(cfg_str(c->global, "spool"), cwd);
	CHECK(cfg_entry(c->global, "spool")->line == 3);
	CHECK(cfg_size(c->global, "spool_max") == 10ULL << 30);	/* default */
	CHECK(cfg_seconds(c->global, "drain_timeout") == 10);
	CHECK(cfg_seconds(c->flows[0], "rotate") == 90 * 60);	/* bare number: minutes */
	CHECK(cfg_seconds(c->flows[0], "retain") == 2 * 3600);	/* inherited from [flowfs] */
	CHECK(!cfg_entry(c->flows[0], "retain")->set);
	CHECK(cfg_size(c->flows[1], "maxsize") == 1 << 20);
	CHECK(cfg_seconds(c->sinks[0], "timeout") == 45);	/* CFG_BARE_SECONDS */
	CHECK(cfg_bool(c->sinks[0], "verify"));
	CHECK_STR(cfg_str(c->sinks[0], "prefix"), "logs/");
	CHECK(cfg_str(c->sinks[0], "secret") == NULL);
	v = cfg_list(c->flows[1], "sinks", &n);			/* inherited */
	CHECK(v && n == 1 && strcmp(v[0], "a") == 0 && v[1] == NULL);
	cfg_list_free(v);
	v = cfg_list(c->flows[0], "sinks", &n);
	CHECK(v && n == 2 && strcmp(v[1], "a") == 0);
	cfg_list_free(v);
	CHECK(cfg_find_flow(c, "x") == c->flows[1] && cfg_find_sink(c, "a") == c->sinks[0]);
	CHECK(cfg_find_flow(c, "nope") == NULL);
	cfg_free(c);
}

static void parsers(void)
{
	uint64_t v;
	bool b;

	CHECK(cfg_parse_size("0", &v) == 0 && v == 0);
	CHECK(cfg_parse_size("4k", &v) == 0 && v == 4096);
	CHECK(cfg_parse_size("8MiB", &v) == 0 && v == 8 << 20);
	CHECK(cfg_parse_size("2GB", &v) == 0 && v == 2ULL << 30);
	CHECK(cfg_parse_size("1T", &v) == 0 && v == 1ULL << 40);
	CHECK(cfg_parse_size("", &v) == -EINVAL && cfg_parse_size("-1", &v) == -EINVAL);
	CHECK(cfg_parse_size("1 K", &v) == -EINVAL && cfg_parse_size("16777216T", &v) == -EINVAL);
	CHECK(cfg_parse_duration("30s", false, &v) == 0 && v == 30);
	CHECK(cfg_parse_duration("2d", false, &v) == 0 && v == 172800);
	CHECK(cfg_parse_duration("60", false, &v) == 0 && v == 3600);
	CHECK(cfg_parse_duration("60", true, &v) == 0 && v == 60);
	CHECK(cfg_parse_duration("1w", false, &v) == -EINVAL && cfg_parse_duration("m", false, &v) == -EINVAL);
	CHECK(cfg_parse_bool("On", &b) == 0 && b && cfg_parse_bool("0", &b) == 0 && !b);
	CHECK(cfg_parse_bool("maybe", &b) == -EINVAL);
	CHECK(cfg_name_valid("a") && cfg_name_valid("web_2-x"));
	CHECK(!cfg_name_valid("") && !cfg_name_valid("A") && !cfg_name_valid("a.b"));
	CHECK(cfg_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));	/* 48 */
	CHECK(!cfg_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));	/* 49 */
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/flowfs-cfg-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(ini, sizeof(ini), "%s/t.ini", dir);
	RUN(syntax_errors);
	RUN(section_errors);
	RUN(key_errors);
	RUN(value_errors);
	RUN(file_errors);
	RUN(values_defaults_inheritance);
	RUN(parsers);
	unlink(ini);
	rmdir(dir);
	return unit_done();
}
