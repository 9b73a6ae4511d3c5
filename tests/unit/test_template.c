/*
 * tests/unit/test_template.c - the key template renderer (cache/template.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../cache/internal.h"
#include "unit.h"

static struct tmpl_vars vars(void)
{
	struct tmpl_vars v = {
		.flow = "web", .flowid = "fJJSnseETbPF", .stream = "access.log",
		.path = "2026/q4/a.bin", .host = "db1", .seq = 42, .part = 7,
		.t = 1795350896,	/* 2026-11-22T12:34:56Z */
	};
	return v;
}

static void each_token(void)
{
	struct tmpl_vars v = vars();
	char out[512];

	CHECK(tmpl_render("<DATE>", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "2026-11-22");
	CHECK(tmpl_render("<DATETIME>", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "20261122T123456Z");
	CHECK(tmpl_render("<FLOW>/<FLOWID>/<STREAM>/<HOST>", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "web/fJJSnseETbPF/access.log/db1");
	CHECK(tmpl_render("<PART>-<SEQ>", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "000007-000042");
	CHECK(tmpl_render("x/<PATH>", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "x/2026/q4/a.bin");
	CHECK(tmpl_render("%Y/%m/%d/%H%M%S", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "2026/11/22/123456");
	CHECK(tmpl_render("<FLOW>/<DATE>/<STREAM>-<DATETIME>.<FLOWID>.<PART>.log", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "web/2026-11-22/access.log-20261122T123456Z.fJJSnseETbPF.000007.log");
}

static int fields(void *ctx, const char *name, char *out, size_t outlen)
{
	(void)ctx;
	if (strcmp(name, "user") == 0)
		return snprintf(out, outlen, "alice") < 0;
	if (strcmp(name, "geo.city") == 0)
		return snprintf(out, outlen, "a/b\n..") < 0;	/* made safe */
	return -ENOENT;
}

/* <FIELD:name|fallback>: the record's value, made safe; the fallback (or
 * "_none") when missing, never an error; an empty name is refused. */
static void field_tokens(void)
{
	struct tmpl_vars v = vars();
	char out[512];

	v.field = fields;
	CHECK(tmpl_render("u=<FIELD:user>/c=<FIELD:geo.city>/x=<FIELD:nope|none>/y=<FIELD:nope>", &v,
			  out, sizeof(out)) == 0);
	CHECK_STR(out, "u=alice/c=a_b_../x=none/y=_none");
	v.field = NULL;
	CHECK(tmpl_render("u=<FIELD:user|anon>", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "u=anon");
	CHECK(tmpl_render("u=<FIELD:>/x", &v, out, sizeof(out)) == -EINVAL);
	CHECK(tmpl_render("u=<FIELD:|fb>/x", &v, out, sizeof(out)) == -EINVAL);
	CHECK(tmpl_has_fields("a/<FIELD:x>") && !tmpl_has_fields("a/<FLOW>"));
}

static void unknown_tokens_are_literal(void)
{
	struct tmpl_vars v = vars();
	char out[512];

	CHECK(tmpl_render("<NOPE>%q<FLOW", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "<NOPE>%q<FLOW");
}

static void values_made_safe(void)
{
	struct tmpl_vars v = vars();
	char out[512];

	v.flow = "..";
	v.stream = "a/b";
	v.host = "";
	CHECK(tmpl_render("<FLOW>/<STREAM>/<HOST>", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "__/a_b/_");
	v.stream = "ev\nil\x01";
	CHECK(tmpl_render("<STREAM>", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "ev_il_");
	v.stream = ".";
	CHECK(tmpl_render("<STREAM>", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "_");
	v.path = "../../etc/passwd";
	CHECK(tmpl_render("<PATH>", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "__/__/etc/passwd");
	v.path = "a//b/";
	CHECK(tmpl_render("<PATH>", &v, out, sizeof(out)) == 0);
	CHECK_STR(out, "a/_/b/_");
}

static void bad_templates_refused(void)
{
	struct tmpl_vars v = vars();
	char out[512];

	CHECK(tmpl_render("", &v, out, sizeof(out)) == -EINVAL);
	CHECK(tmpl_render("/<PATH>", &v, out, sizeof(out)) == -EINVAL);
	CHECK(tmpl_render("a//<PATH>", &v, out, sizeof(out)) == -EINVAL);
	CHECK(tmpl_render("../<PATH>", &v, out, sizeof(out)) == -EINVAL);
	CHECK(tmpl_render("a/./<PATH>", &v, out, sizeof(out)) == -EINVAL);
	CHECK(tmpl_render("a\tb", &v, out, sizeof(out)) == -EINVAL);
	CHECK(tmpl_render("<PATH>", &v, out, 4) == -ENAMETOOLONG);
}

int main(void)
{
	RUN(each_token);
	RUN(field_tokens);
	RUN(unknown_tokens_are_literal);
	RUN(values_made_safe);
	RUN(bad_templates_refused);
	return unit_done();
}
