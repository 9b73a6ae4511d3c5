/*
 * cache/perm.c - the permissions of a flow's directories: the flow keys
 * mode (octal), owner and group (a name or a numeric id).
 *
 * A flow's directory and every sub-directory in it report these in
 * getattr; with -o allow_other,default_permissions the kernel enforces
 * them.  Files keep the mode and owner their creator asked for.  Names are
 * resolved with the reentrant getpwnam_r/getgrnam_r: once at mount for
 * every flow section (an unknown name refuses the mount), and again when a
 * flow is added, from any thread.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A decimal id made only of digits, below (id_t)-1. */
static bool parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (!*s || !isdigit((unsigned char)*s))
		return false;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && !*end && *out < (unsigned long)(uid_t)-1;
}

static int parse_mode(const char *s, mode_t *out)
{
	unsigned long v;
	char *end;

	if (!*s || strspn(s, "01234567") != strlen(s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || *end || v > 07777)
		return -EINVAL;
	*out = (mode_t)v;
	return 0;
}

static int lookup_user(const char *name, uid_t *out)
{
	struct passwd pw, *res = NULL;
	unsigned long id;
	char buf[4096];

	if (parse_id(name, &id)) {
		*out = (uid_t)id;
		return 0;
	}
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	*out = res->pw_uid;
	return 0;
}

static int lookup_group(const char *name, gid_t *out)
{
	struct group gr, *res = NULL;
	unsigned long id;
	char buf[4096];

	if (parse_id(name, &id)) {
		*out = (gid_t)id;
		return 0;
	}
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	*out = res->gr_gid;
	return 0;
}

int flow_perm(const struct cfg_section *sec, struct flow_perm *out, const char **bad_key,
	      char *msg, size_t len)
{
	const char *mode = cfg_str(sec, "mode"), *owner = cfg_str(sec, "owner");
	const char *group = cfg_str(sec, "group");

	if (parse_mode(mode ? mode : "0755", &out->mode)) {
		*bad_key = "mode";
		snprintf(msg, len, "bad mode '%s' (octal, 0000 to 7777, e.g. 0750)", mode);
		return -EINVAL;
	}
	if (lookup_user(owner ? owner : "0", &out->uid)) {
		*bad_key = "owner";
		snprintf(msg, len, "unknown user '%s'", owner);
		return -EINVAL;
	}
	if (lookup_group(group ? group : "0", &out->gid)) {
		*bad_key = "group";
		snprintf(msg, len, "unknown group '%s'", group);
		return -EINVAL;
	}
	return 0;
}

int check_flow_perms(const struct cfg *cfg, char *err, size_t errlen)
{
	struct flow_perm fp;
	const char *key = NULL;
	char msg[512];

	/* [flowfs] first: once it is valid, a flow's error is in its own keys */
	for (size_t i = 0; i <= cfg->nflows; i++) {
		const struct cfg_section *sec = i ? cfg->flows[i - 1] : cfg->global;
		const struct cfg_entry *e;
		bool global = sec == cfg->global;

		if (flow_perm(sec, &fp, &key, msg, sizeof(msg)) == 0)
			continue;
		e = cfg_entry(sec, key);
		snprintf(err, errlen, "%s:%d: [%s%s%s] %s: %s", cfg->path,
			 e && e->line ? e->line : sec->line, sec->kind, global ? "" : ".",
			 global ? "" : sec->name, key, msg);
		return -EINVAL;
	}
	return 0;
}
