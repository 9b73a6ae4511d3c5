/*
 * util/cfg.c - loading and validating the INI configuration.
 *
 * Two passes over the file: our own line scanner finds every [section] and
 * key with its line number (iniparser keeps none) and catches what
 * iniparser would silently accept (duplicates, keys before any section,
 * lines that are neither); then iniparser reads the values.  Each section
 * is checked against its key table from the struct cfg_schema: unknown
 * keys, values of each type, bounds, required keys, names, sink types and
 * the sinks a flow names.  The first problem stops the load, with a
 * message naming file, line, section and key.
 *
 * Runs once in main() before any thread; the result is read-only after.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iniparser.h>

#include "cfg.h"

struct scan_key {
	char *name;		/* lower case */
	int line;
};

struct scan_sec {
	char *raw;		/* as written between the brackets */
	int line;
	size_t nkeys;
	struct scan_key *keys;
};

struct scan {
	size_t n;
	struct scan_sec *secs;
};

struct loader {
	const char *path;
	const struct cfg_schema *schema;
	char *err;
	size_t errlen;
};

static int fail(struct loader *l, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct loader *l, int line, const char *fmt, ...)
{
	va_list ap;
	int n = line > 0 ? snprintf(l->err, l->errlen, "%s:%d: ", l->path, line)
			 : snprintf(l->err, l->errlen, "%s: ", l->path);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < l->errlen)
		vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	/* Names and values are echoed from the file: keep the message one line. */
	for (char *p = l->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -EINVAL;
}

/* ---- value parsers ---- */

static int parse_u64(const char *s, char **end, uint64_t *out)
{
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, end, 10);
	if (errno)
		return -EINVAL;
	*out = v;
	return 0;
}

int cfg_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "kmgt";
	uint64_t v, mult = 1;
	char *end;

	if (parse_u64(s, &end, &v))
		return -EINVAL;
	if (*end) {
		const char *u = strchr(units, tolower((unsigned char)*end));
		if (!u)
			return -EINVAL;
		mult = 1ULL << (10 * (u - units + 1));
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
	}
	if (*end || (v && mult > UINT64_MAX / v))
		return -EINVAL;
	*out = v * mult;
	return 0;
}

int cfg_parse_duration(const char *s, bool bare_seconds, uint64_t *out_sec)
{
	uint64_t v, mult = bare_seconds ? 1 : 60;
	char *end;

	if (parse_u64(s, &end, &v))
		return -EINVAL;
	if (*end) {
		switch (*end) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: return -EINVAL;
		}
		end++;
	}
	if (*end || (v && mult > UINT64_MAX / v))
		return -EINVAL;
	*out_sec = v * mult;
	return 0;
}

int cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

bool cfg_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 48)
		return false;
	for (; *name; name++)
		if (!islower((unsigned char)*name) && !isdigit((unsigned char)*name) &&
		    *name != '_' && *name != '-')
			return false;
	return true;
}

static bool enum_has(const char *choices, const char *v)
{
	size_t n = strlen(v);

	for (const char *c = choices; *c; ) {
		size_t len = strcspn(c, "|");
		if (len == n && strncmp(c, v, n) == 0)
			return true;
		c += len + (c[len] == '|');
	}
	return false;
}

static bool out_of_bounds(const struct cfg_key *k, uint64_t v)
{
	return (k->min || k->max) && ((long long)v < k->min || (k->max && (long long)v > k->max));
}

/* Checks V for key K; on error writes the reason to MSG. */
static int check_value(const struct cfg_key *k, const char *v, char *msg, size_t len)
{
	uint64_t n = 0;
	bool b;

	switch (k->type) {
	case CFG_STR:
		return 0;
	case CFG_PATH:
		if (*v)
			return 0;
		snprintf(msg, len, "empty path");
		return -EINVAL;
	case CFG_SIZE:
		if (cfg_parse_size(v, &n)) {
			snprintf(msg, len, "bad size '%s' (use a number with K, M, G or T)", v);
			return -EINVAL;
		}
		break;
	case CFG_DURATION:
		if (cfg_parse_duration(v, k->flags & CFG_BARE_SECONDS, &n)) {
			snprintf(msg, len, "bad duration '%s' (use a number with s, m, h or d; "
				 "a bare number is %s)", v, k->flags & CFG_BARE_SECONDS ? "seconds" : "minutes");
			return -EINVAL;
		}
		break;
	case CFG_INT: {
		char *end;
		if (parse_u64(v, &end, &n) || *end || n > LLONG_MAX) {
			snprintf(msg, len, "bad number '%s'", v);
			return -EINVAL;
		}
		break;
	}
	case CFG_BOOL:
		if (cfg_parse_bool(v, &b) == 0)
			return 0;
		snprintf(msg, len, "bad boolean '%s' (use yes or no)", v);
		return -EINVAL;
	case CFG_ENUM:
		if (enum_has(k->choices, v))
			return 0;
		snprintf(msg, len, "bad value '%s' (one of %s)", v, k->choices);
		return -EINVAL;
	case CFG_LIST:
		for (const char *s = v; ; ) {
			size_t item = strcspn(s, ",");
			const char *a = s, *e = s + item;
			while (a < e && isspace((unsigned char)*a))
				a++;
			while (e > a && isspace((unsigned char)e[-1]))
				e--;
			if (a == e) {
				snprintf(msg, len, "empty item in list '%s'", v);
				return -EINVAL;
			}
			if (!s[item])
				return 0;
			s += item + 1;
		}
	}
	if (out_of_bounds(k, n)) {
		if (k->max)
			snprintf(msg, len, "'%s' is out of range (%lld to %lld%s)", v, k->min, k->max,
				 k->type == CFG_INT ? "" : k->type == CFG_SIZE ? " bytes" : " seconds");
		else
			snprintf(msg, len, "'%s' is too small (at least %lld%s)", v, k->min,
				 k->type == CFG_INT ? "" : k->type == CFG_SIZE ? " bytes" : " seconds");
		return -EINVAL;
	}
	return 0;
}

/* ---- the line scanner ---- */

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static void scan_free(struct scan *sc)
{
	for (size_t i = 0; i < sc->n; i++) {
		for (size_t k = 0; k < sc->secs[i].nkeys; k++)
			free(sc->secs[i].keys[k].name);
		free(sc->secs[i].keys);
		free(sc->secs[i].raw);
	}
	free(sc->secs);
	sc->secs = NULL;
	sc->n = 0;
}

static int scan_section(struct loader *l, struct scan *sc, char *s, int line)
{
	char *end = strchr(s, ']');
	struct scan_sec *v;

	if (!end || *trim(end + 1))
		return fail(l, line, "syntax error: expected [section]");
	*end = '\0';
	s = trim(s + 1);
	for (size_t i = 0; i < sc->n; i++)
		if (strcasecmp(sc->secs[i].raw, s) == 0)
			return fail(l, line, "[%s]: duplicate section (first at line %d)", s,
				    sc->secs[i].line);
	v = realloc(sc->secs, (sc->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	sc->secs = v;
	v = &sc->secs[sc->n++];
	memset(v, 0, sizeof(*v));
	v->raw = strdup(s);
	v->line = line;
	return v->raw ? 0 : -ENOMEM;
}

static int scan_key(struct loader *l, struct scan *sc, char *s, int line)
{
	char *eq = strchr(s, '=');
	struct scan_sec *sec;
	struct scan_key *k;

	if (!eq)
		return fail(l, line, "syntax error: expected key = value");
	*eq = '\0';
	s = trim(s);
	if (!*s)
		return fail(l, line, "syntax error: a value without a key");
	if (sc->n == 0)
		return fail(l, line, "%s: key outside of any [section]", s);
	sec = &sc->secs[sc->n - 1];
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (size_t i = 0; i < sec->nkeys; i++)
		if (strcmp(sec->keys[i].name, s) == 0)
			return fail(l, line, "[%s] %s: duplicate key (first at line %d)", sec->raw, s,
				    sec->keys[i].line);
	k = realloc(sec->keys, (sec->nkeys + 1) * sizeof(*k));
	if (!k)
		return -ENOMEM;
	sec->keys = k;
	k[sec->nkeys].name = strdup(s);
	k[sec->nkeys].line = line;
	return k[sec->nkeys++].name ? 0 : -ENOMEM;
}

static int scan_file(struct loader *l, FILE *f, struct scan *sc)
{
	char *buf = NULL;
	size_t cap = 0;
	int line = 0, rc = 0;

	while (rc == 0 && getline(&buf, &cap, f) >= 0) {
		char *s = trim(buf);

		line++;
		if (!*s || *s == ';' || *s == '#')
			continue;
		rc = *s == '[' ? scan_section(l, sc, s, line) : scan_key(l, sc, s, line);
	}
	free(buf);
	return rc;
}

/* ---- sections ---- */

static struct cfg_section *section_new(const char *kind, const char *name, int line,
				       const struct cfg_key *t1, const struct cfg_key *t2)
{
	struct cfg_section *s = calloc(1, sizeof(*s));
	size_t n = 0, i = 0;

	if (!s)
		return NULL;
	for (const struct cfg_key *k = t1; k && k->name; k++)
		n++;
	for (const struct cfg_key *k = t2; k && k->name; k++)
		n++;
	s->kind = strdup(kind);
	s->name = strdup(name);
	s->line = line;
	s->entries = calloc(n + 1, sizeof(*s->entries));
	if (!s->kind || !s->name || !s->entries)
		return s;	/* the caller sees the NULLs as ENOMEM */
	for (const struct cfg_key *k = t1; k && k->name; k++)
		s->entries[i++].key = k;
	for (const struct cfg_key *k = t2; k && k->name; k++)
		s->entries[i++].key = k;
	s->n = n;
	return s;
}

static void section_free(struct cfg_section *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->entries[i].value);
	free(s->entries);
	free(s->kind);
	free(s->name);
	free(s);
}

static struct cfg_entry *entry_mut(struct cfg_section *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->entries[i].key->name, key) == 0)
			return &s->entries[i];
	return NULL;
}

/* Relative paths are made absolute against the daemon's starting directory. */
static char *abs_path(const char *v)
{
	char cwd[PATH_MAX], *out;

	if (v[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(v);
	if (strncmp(v, "./", 2) == 0)
		v += 2;
	if (asprintf(&out, "%s/%s", cwd, v) < 0)
		return NULL;
	return out;
}

static const char *sec_label(const struct cfg_section *s, char *buf, size_t len)
{
	if (strcmp(s->kind, "flowfs") == 0)
		snprintf(buf, len, "flowfs");
	else
		snprintf(buf, len, "%s.%s", s->kind, s->name);
	return buf;
}

/* Stores the values of scanned section SS into S, checking each. */
static int fill_section(struct loader *l, dictionary *d, const struct scan_sec *ss,
			struct cfg_section *s)
{
	char label[128], ikey[600], msg[512];

	sec_label(s, label, sizeof(label));
	for (size_t i = 0; i < ss->nkeys; i++) {
		struct cfg_entry *e = entry_mut(s, ss->keys[i].name);
		const char *v;

		if (!e)
			return fail(l, ss->keys[i].line, "[%s] %s: unknown key", label, ss->keys[i].name);
		snprintf(ikey, sizeof(ikey), "%s:%s", ss->raw, ss->keys[i].name);
		for (char *p = ikey; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		v = iniparser_getstring(d, ikey, "");
		if (check_value(e->key, v, msg, sizeof(msg)))
			return fail(l, ss->keys[i].line, "[%s] %s: %s", label, e->key->name, msg);
		free(e->value);
		e->value = e->key->type == CFG_PATH ? abs_path(v) : strdup(v);
		if (!e->value)
			return -ENOMEM;
		e->line = ss->keys[i].line;
		e->set = true;
	}
	return 0;
}

/* Fills what the section did not set: from [flowfs] (flows), else defaults;
 * then checks required keys and that defaults are valid. */
static int finish_section(struct loader *l, struct cfg_section *s, const struct cfg_section *g)
{
	char label[128], msg[512];

	sec_label(s, label, sizeof(label));
	for (size_t i = 0; i < s->n; i++) {
		struct cfg_entry *e = &s->entries[i];
		const struct cfg_entry *ge = g && g != s ? cfg_entry(g, e->key->name) : NULL;

		if (e->set)
			continue;
		if (ge && ge->set) {
			e->value = strdup(ge->value);
		} else if (e->key->def) {
			if (check_value(e->key, e->key->def, msg, sizeof(msg)))
				return fail(l, 0, "[%s] %s: bad built-in default: %s", label, e->key->name, msg);
			e->value = e->key->type == CFG_PATH ? abs_path(e->key->def) : strdup(e->key->def);
		}
		if ((ge && ge->set) || e->key->def) {
			if (!e->value)
				return -ENOMEM;
			continue;
		}
		if ((e->key->flags & CFG_REQUIRED) && s != g)
			return fail(l, s->line, "[%s] %s: missing required key", label, e->key->name);
	}
	return 0;
}

/* Every name in S's list KEY ("sinks", "transforms") is a configured
 * section: FIND finds it, WHAT says what it is. */
static int check_named(struct loader *l, struct cfg *c, struct cfg_section *s, const char *key,
		       const struct cfg_section *(*find)(const struct cfg *, const char *),
		       const char *what)
{
	const struct cfg_entry *e = cfg_entry(s, key);
	char label[128];
	size_t n;
	char **v;
	int rc = 0;

	if (!e || !e->value)
		return 0;
	v = cfg_list(s, key, &n);
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++)
		if (!find(c, v[i]))
			rc = fail(l, e->line ? e->line : s->line, "[%s] %s: no %s named '%s'%s",
				  sec_label(s, label, sizeof(label)), key, what, v[i],
				  e->set ? "" : " (inherited from [flowfs])");
	cfg_list_free(v);
	return rc;
}

static int check_sinks_named(struct loader *l, struct cfg *c, struct cfg_section *s)
{
	int rc = check_named(l, c, s, "sinks", cfg_find_sink, "sink");

	return rc ? rc : check_named(l, c, s, "transforms", cfg_find_transform, "transform");
}

static int add_section(struct cfg_section ***v, size_t *n, struct cfg_section *s)
{
	struct cfg_section **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv) {
		section_free(s);
		return -ENOMEM;
	}
	*v = nv;
	nv[(*n)++] = s;
	return 0;
}

/* One scanned section into C: which kind, name checks, values. */
static int load_section(struct loader *l, dictionary *d, const struct scan_sec *ss, struct cfg *c)
{
	const char *dot = strchr(ss->raw, '.');
	const char *name = dot ? dot + 1 : "";
	size_t kindlen = dot ? (size_t)(dot - ss->raw) : strlen(ss->raw);
	struct cfg_section *s;
	char ikey[600];
	int rc;

	if (strcasecmp(ss->raw, "flowfs") == 0) {
		c->global->line = ss->line;
		return fill_section(l, d, ss, c->global);
	}
	if (!dot || !((kindlen == 4 && (strncmp(ss->raw, "sink", 4) == 0 ||
					strncmp(ss->raw, "flow", 4) == 0)) ||
		      (kindlen == 9 && strncmp(ss->raw, "transform", 9) == 0 && l->schema->transform)))
		return fail(l, ss->line, "[%s]: unknown section (expected [flowfs], [sink.NAME], "
			    "[flow.NAME] or [transform.NAME])", ss->raw);
	if (!cfg_name_valid(name))
		return fail(l, ss->line, "[%s]: bad name '%s' (1-48 characters of a-z, 0-9, _ and -)",
			    ss->raw, name);
	if (strncmp(ss->raw, "flow", 4) == 0) {
		s = section_new("flow", name, ss->line, l->schema->flow, NULL);
		rc = s && s->entries ? add_section(&c->flows, &c->nflows, s) : -ENOMEM;
		return rc ? rc : fill_section(l, d, ss, s);
	}
	if (kindlen == 9) {
		s = section_new("transform", name, ss->line, l->schema->transform, NULL);
		rc = s && s->entries ? add_section(&c->transforms, &c->ntransforms, s) : -ENOMEM;
		return rc ? rc : fill_section(l, d, ss, s);
	}
	snprintf(ikey, sizeof(ikey), "%s:type", ss->raw);
	const char *type = iniparser_getstring(d, ikey, NULL);
	const struct cfg_key *keys = type ? l->schema->sink_keys(type) : NULL;
	int line = ss->line;

	for (size_t i = 0; i < ss->nkeys; i++)
		if (strcmp(ss->keys[i].name, "type") == 0)
			line = ss->keys[i].line;
	if (!type)
		return fail(l, ss->line, "[%s] type: missing required key", ss->raw);
	if (!keys)
		return fail(l, line, "[%s] type: unknown sink type '%s'", ss->raw, type);
	s = section_new("sink", name, ss->line, keys, NULL);
	rc = s && s->entries ? add_section(&c->sinks, &c->nsinks, s) : -ENOMEM;
	return rc ? rc : fill_section(l, d, ss, s);
}

static int iniparser_quiet(const char *fmt, ...)
{
	(void)fmt;
	return 0;	/* our scanner reports syntax errors, with file and line */
}

static int load(struct loader *l, struct scan *sc, struct cfg *c)
{
	dictionary *d;
	int rc = 0;

	iniparser_set_error_callback(iniparser_quiet);
	d = iniparser_load(l->path);
	iniparser_set_error_callback(NULL);
	if (!d)
		return fail(l, 0, "cannot parse the file");
	for (size_t i = 0; i < sc->n && rc == 0; i++)
		rc = load_section(l, d, &sc->secs[i], c);
	iniparser_freedict(d);
	if (rc == 0)
		rc = finish_section(l, c->global, c->global);
	for (size_t i = 0; i < c->nsinks && rc == 0; i++)
		rc = finish_section(l, c->sinks[i], NULL);
	for (size_t i = 0; i < c->nflows && rc == 0; i++)
		rc = finish_section(l, c->flows[i], c->global);
	for (size_t i = 0; i < c->ntransforms && rc == 0; i++)
		rc = finish_section(l, c->transforms[i], NULL);
	if (rc == 0)
		rc = check_sinks_named(l, c, c->global);
	for (size_t i = 0; i < c->nflows && rc == 0; i++)
		rc = check_sinks_named(l, c, c->flows[i]);
	return rc;
}

static int open_readable(struct loader *l, FILE **f)
{
	struct stat st;
	int fd = open(l->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;
		fail(l, 0, "cannot read: %s", strerror_r(e, (char[128]){ 0 }, 128));
		return -e;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		fail(l, 0, "cannot read: Is a directory");
		return -EISDIR;
	}
	*f = fdopen(fd, "r");
	if (!*f) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

int cfg_load(struct cfg **out, const char *path, const struct cfg_schema *schema, char *err,
	     size_t errlen)
{
	struct loader l = { path, schema, err, errlen };
	struct scan sc = { 0 };
	struct cfg *c;
	FILE *f = NULL;
	int rc;

	err[0] = '\0';
	rc = open_readable(&l, &f);
	if (rc)
		return rc;
	rc = scan_file(&l, f, &sc);
	fclose(f);
	c = calloc(1, sizeof(*c));
	if (!c) {
		scan_free(&sc);
		return -ENOMEM;
	}
	c->path = abs_path(path);
	c->global = section_new("flowfs", "flowfs", 0, schema->global, schema->flow);
	if (rc == 0 && (!c->path || !c->global || !c->global->entries))
		rc = -ENOMEM;
	if (rc == 0)
		rc = load(&l, &sc, c);
	scan_free(&sc);
	if (rc) {
		if (rc == -ENOMEM && !err[0])
			snprintf(err, errlen, "%s: out of memory", path);
		cfg_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	section_free(c->global);
	for (size_t i = 0; i < c->nsinks; i++)
		section_free(c->sinks[i]);
	for (size_t i = 0; i < c->nflows; i++)
		section_free(c->flows[i]);
	for (size_t i = 0; i < c->ntransforms; i++)
		section_free(c->transforms[i]);
	free(c->sinks);
	free(c->flows);
	free(c->transforms);
	free(c->path);
	free(c);
}

/* ---- lookups ---- */

const struct cfg_entry *cfg_entry(const struct cfg_section *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->entries[i].key->name, key) == 0)
			return &s->entries[i];
	return NULL;
}

const char *cfg_str(const struct cfg_section *s, const char *key)
{
	const struct cfg_entry *e = cfg_entry(s, key);

	return e ? e->value : NULL;
}

uint64_t cfg_size(const struct cfg_section *s, const char *key)
{
	const char *v = cfg_str(s, key);
	uint64_t n = 0;

	if (v)
		cfg_parse_size(v, &n);
	return n;
}

uint64_t cfg_seconds(const struct cfg_section *s, const char *key)
{
	const struct cfg_entry *e = cfg_entry(s, key);
	uint64_t n = 0;

	if (e && e->value)
		cfg_parse_duration(e->value, e->key->flags & CFG_BARE_SECONDS, &n);
	return n;
}

long long cfg_int(const struct cfg_section *s, const char *key)
{
	const char *v = cfg_str(s, key);

	return v ? strtoll(v, NULL, 10) : 0;
}

bool cfg_bool(const struct cfg_section *s, const char *key)
{
	const char *v = cfg_str(s, key);
	bool b = false;

	if (v)
		cfg_parse_bool(v, &b);
	return b;
}

char **cfg_list(const struct cfg_section *s, const char *key, size_t *n)
{
	const char *v = cfg_str(s, key);
	size_t cap = 1;
	char **out;

	*n = 0;
	for (const char *p = v; p && *p; p++)
		cap += *p == ',';
	out = calloc(cap + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (const char *p = v; p && *p; ) {
		size_t len = strcspn(p, ",");
		const char *a = p, *e = p + len;

		while (a < e && isspace((unsigned char)*a))
			a++;
		while (e > a && isspace((unsigned char)e[-1]))
			e--;
		if (e > a)
			out[(*n)++] = strndup(a, (size_t)(e - a));
		p += len + (p[len] == ',');
	}
	return out;
}

void cfg_list_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

const struct cfg_section *cfg_find_sink(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->nsinks; i++)
		if (strcmp(c->sinks[i]->name, name) == 0)
			return c->sinks[i];
	return NULL;
}

const struct cfg_section *cfg_find_transform(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->ntransforms; i++)
		if (strcmp(c->transforms[i]->name, name) == 0)
			return c->transforms[i];
	return NULL;
}

const struct cfg_section *cfg_find_flow(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->nflows; i++)
		if (strcmp(c->flows[i]->name, name) == 0)
			return c->flows[i];
	return NULL;
}

void cfg_print_keys(FILE *f, const struct cfg_key *keys)
{
	static const char *const types[] = {
		[CFG_STR] = "string", [CFG_PATH] = "path", [CFG_SIZE] = "size",
		[CFG_DURATION] = "duration", [CFG_INT] = "int", [CFG_BOOL] = "bool",
		[CFG_ENUM] = "enum", [CFG_LIST] = "list",
	};

	for (const struct cfg_key *k = keys; k->name; k++) {
		fprintf(f, "  %-16s %-9s ", k->name, k->type == CFG_ENUM ? k->choices : types[k->type]);
		if (k->def)
			fprintf(f, "default %s%s", *k->def ? k->def : "\"\"", "  ");
		else
			fprintf(f, "%s", k->flags & CFG_REQUIRED ? "required  " : "no default  ");
		fprintf(f, "%s%s\n", k->help, k->flags & CFG_SECRET ? " (secret)" : "");
	}
}

/* ---- a loaded config, rewired (flowctl test) ---- */

int cfg_set(struct cfg_section *s, const char *key, const char *value)
{
	struct cfg_entry *e = entry_mut(s, key);
	char *v;

	if (!e)
		return -ENOENT;
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	free(e->value);
	e->value = v;
	e->set = true;
	return 0;
}

int cfg_isolate(struct cfg *c, const char *flow, const char *sink, const struct cfg_key *keys,
		const char *const *kv)
{
	struct cfg_section *s = section_new("sink", sink, 0, keys, NULL), *keep = NULL;
	struct loader l = { c->path, NULL, (char[256]){ 0 }, 256 };
	int rc = s && s->entries ? 0 : -ENOMEM;

	for (size_t i = 0; rc == 0 && kv[i]; i += 2)
		rc = cfg_set(s, kv[i], kv[i + 1]);
	if (rc == 0)
		rc = finish_section(&l, s, NULL);	/* the sink's defaults */
	for (size_t i = 0; rc == 0 && i < c->nflows; i++) {
		if (strcmp(c->flows[i]->name, flow) == 0)
			keep = c->flows[i];
		else
			section_free(c->flows[i]);
	}
	if (rc || !keep) {
		section_free(s);
		return rc ? rc : -ENOENT;
	}
	c->flows[0] = keep;
	c->nflows = 1;
	for (size_t i = 0; i < c->nsinks; i++)
		section_free(c->sinks[i]);
	c->sinks[0] = s;	/* a config with a flow has a sink: sinks is required */
	c->nsinks = 1;
	rc = cfg_set(keep, "sinks", sink);
	return rc ? rc : cfg_set(c->global, "sinks", sink);
}
