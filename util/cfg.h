/*
 * util/cfg.h - the flowfs INI configuration: key tables, loading, validation.
 *
 * Every key is declared once in a table (struct cfg_key), the way Fluent
 * Bit's config_map does it.  Parsing, validation, `flowfs --help` and the
 * check of man/flowfs.ini.5 all read the same tables.  The tables themselves
 * live with their owners (fs/ for [flowfs] and [flow.*], backend/ for each
 * sink type); cfg_load() receives them in a struct cfg_schema so util/ does
 * not depend on anybody.
 *
 * Sections:
 *   [flowfs]       global keys, plus every flow key as a default for flows
 *   [sink.NAME]    keys of the sink type named by its `type` key
 *   [flow.NAME]    flow keys; unset keys inherit [flowfs], then the default
 *   [transform.NAME] a pipeline step's keys (command, timeout, user)
 *
 * Errors name the file, line, section and key:
 *   "/etc/flowfs.ini:12: [sink.logs] part_size: bad size '12Q' (use K, M, G)"
 *
 * Thread rules: a struct cfg is immutable after cfg_load() returns and may be
 * read from any thread.
 */
#ifndef FLOWFS_CFG_H
#define FLOWFS_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cfg_type {
	CFG_STR,		/* any text */
	CFG_PATH,		/* a path; relative paths are made absolute against the cwd */
	CFG_SIZE,		/* bytes: 123, 4K, 8M, 1G, 2T (binary, case-insensitive, optional B/iB) */
	CFG_DURATION,		/* 30s, 5m, 2h, 1d; a bare number is minutes (CFG_BARE_SECONDS: seconds) */
	CFG_INT,		/* a non-negative decimal integer */
	CFG_BOOL,		/* yes/no, true/false, on/off, 1/0 */
	CFG_ENUM,		/* one of the '|'-separated words in .choices */
	CFG_LIST,		/* comma-separated words, spaces trimmed, none empty */
};

#define CFG_REQUIRED	 0x1	/* must be set (in the section, or inherited) */
#define CFG_SECRET	 0x2	/* never printed: not in .flow, logs, errors */
#define CFG_BARE_SECONDS 0x4	/* CFG_DURATION: a bare number means seconds */

struct cfg_key {
	const char *name;	/* lower case, as in the INI */
	enum cfg_type type;
	const char *def;	/* default, as INI text; NULL: none */
	unsigned flags;		/* CFG_REQUIRED | CFG_SECRET | CFG_BARE_SECONDS */
	const char *choices;	/* CFG_ENUM: "none|gz|xz"; else NULL */
	long long min, max;	/* CFG_INT / CFG_SIZE / CFG_DURATION(seconds) bounds; both 0: none */
	const char *help;	/* one line, for --help and the man page */
};
/* A table ends with an entry whose name is NULL. */

struct cfg_entry {
	const struct cfg_key *key;
	char *value;		/* effective value as text (set, inherited or default); NULL if none */
	int line;		/* line where it was set; 0 if inherited or default */
	bool set;		/* set in this very section */
};

struct cfg_section {
	char *kind;		/* "flowfs", "sink" or "flow" */
	char *name;		/* "logs" for [sink.logs]; "flowfs" for [flowfs] */
	int line;		/* line of the [header]; 0 if absent from the file */
	size_t n;		/* one entry per key of the section's table, in table order */
	struct cfg_entry *entries;
};

struct cfg {
	char *path;			/* absolute path of the file */
	struct cfg_section *global;	/* always present, even if [flowfs] is absent */
	size_t nsinks;
	struct cfg_section **sinks;	/* in file order */
	size_t nflows;
	struct cfg_section **flows;	/* in file order */
	size_t ntransforms;
	struct cfg_section **transforms;	/* in file order */
};

struct cfg_schema {
	const struct cfg_key *global;	/* keys of [flowfs] */
	const struct cfg_key *flow;	/* keys of [flow.NAME], also allowed in [flowfs] */
	const struct cfg_key *transform;	/* keys of [transform.NAME] */
	/* Keys of a sink type, NULL if the type is unknown.  Every table
	 * returned must contain "type" (CFG_STR, required). */
	const struct cfg_key *(*sink_keys)(const char *type);
};

/*
 * cfg_load - read and validate PATH against SCHEMA.
 * Checks: file readable, INI syntax, unknown sections ([foo], [sink.] ...),
 * unknown keys, values of each type, required keys, sink and flow names
 * (1-48 characters of [a-z0-9_-]), sink types, and that every name in a
 * flow's `sinks` list is a configured sink.  Returns 0 and *out (caller frees
 * with cfg_free), or -EINVAL / -errno with ERR holding one line (no trailing
 * newline) naming file, line, section and key.
 */
int cfg_load(struct cfg **out, const char *path, const struct cfg_schema *schema,
	     char *err, size_t errlen);
void cfg_free(struct cfg *c);	/* NULL-safe */

/* Lookups of a validated section.  KEY must be in the section's table. */
const struct cfg_entry *cfg_entry(const struct cfg_section *s, const char *key);
const char *cfg_str(const struct cfg_section *s, const char *key);	/* NULL if unset */
uint64_t cfg_size(const struct cfg_section *s, const char *key);	/* 0 if unset */
uint64_t cfg_seconds(const struct cfg_section *s, const char *key);	/* 0 if unset */
long long cfg_int(const struct cfg_section *s, const char *key);	/* 0 if unset */
bool cfg_bool(const struct cfg_section *s, const char *key);		/* false if unset */
/* Splits a CFG_LIST value: returns a NULL-terminated vector (free with
 * cfg_list_free) and *n; an unset key gives an empty vector. */
char **cfg_list(const struct cfg_section *s, const char *key, size_t *n);
void cfg_list_free(char **v);
const struct cfg_section *cfg_find_sink(const struct cfg *c, const char *name);
const struct cfg_section *cfg_find_flow(const struct cfg *c, const char *name);
const struct cfg_section *cfg_find_transform(const struct cfg *c, const char *name);

/* Rewiring a loaded config (flowctl test): KEY of S becomes VALUE (as if
 * set; not checked).  0, -ENOENT (no such key) or -ENOMEM. */
int cfg_set(struct cfg_section *s, const char *key, const char *value);
/* C keeps only flow FLOW, and its only sink becomes SINK, of the table KEYS
 * with the NULL-terminated key/value pairs KV (defaults for the rest).
 * 0, -ENOENT (no such flow) or -ENOMEM. */
int cfg_isolate(struct cfg *c, const char *flow, const char *sink, const struct cfg_key *keys,
		const char *const *kv);

/* Value parsers, also used for values that do not come from a file. */
int cfg_parse_size(const char *s, uint64_t *out);		/* 0 or -EINVAL */
int cfg_parse_duration(const char *s, bool bare_seconds, uint64_t *out_sec);
int cfg_parse_bool(const char *s, bool *out);
bool cfg_name_valid(const char *name);	/* 1-48 characters of [a-z0-9_-] */

/* Prints one table as "  name  (type, default X)  help" lines to F, for --help. */
void cfg_print_keys(FILE *f, const struct cfg_key *keys);

#endif
