/*
 * cache/xattr.c - extended attributes of objects.
 *
 *   user.flowfs.state   staging | queued | delivered | failed (read-only)
 *   user.flowfs.sha256  the SHA-256 of the file's bytes, once sealed (read-only)
 *   user.flowfs.error   why a failed file was not delivered (read-only;
 *                       present only while it is failed)
 *   user.meta.NAME      object metadata, settable until delivery starts;
 *                       sinks send it as x-amz-meta-NAME and the like
 *   user.flowfs.event_time, user.flowfs.valid_time
 *                       settable like user.meta.*; kept in xmeta as
 *                       "flowfs.event_time" etc. (the http sink sends them
 *                       as x-flowcore-event-time / -valid-time); user.meta.
 *                       names may not start with "flowfs."
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

#include "internal.h"

#define META_PREFIX "user.meta."
#define META_NAME_MAX 128
#define META_VALUE_MAX 2048

/* Why failed object ?1 is not delivered. */
#define OBJ_ERROR_SQL "SELECT " OBJ_WHY_FAILED " FROM objects o WHERE o.id = ?1 AND o.state = 'failed'"

/* The xmeta name of xattr NAME: "owner" for user.meta.owner,
 * "flowfs.event_time" for user.flowfs.event_time; NULL if not metadata. */
static const char *meta_key(const char *name)
{
	if (strcmp(name, "user.flowfs.event_time") == 0 || strcmp(name, "user.flowfs.valid_time") == 0)
		return name + strlen("user.");
	if (strncmp(name, META_PREFIX, strlen(META_PREFIX)) == 0)
		return name + strlen(META_PREFIX);
	return NULL;
}

const char *state_public(const char *state)
{
	if (strcmp(state, "held") == 0)
		return "staging";
	if (strcmp(state, "sealing") == 0 || strcmp(state, "split") == 0)
		return "queued";
	return state;
}

/* Copies a value out under the getxattr(2) size protocol. */
static int xattr_out(const void *v, size_t n, char *value, size_t size)
{
	if (size == 0)
		return (int)n;
	if (n > size)
		return -ERANGE;
	memcpy(value, v, n);
	return (int)n;
}

/* Takes the lock and looks up the object at PATH; undo with cpath_unlock().
 * Directories have no xattrs. */
static int xobj(struct cache *c, const char *path, struct cpath *p, struct objrow *r)
{
	int rc = cpath_lock(c, path, p);

	if (rc)
		return rc;
	if (!p->flow || !*p->rel || name_reserved(p))
		return -ENODATA;
	rc = obj_lookup(c, p, r);
	return rc == -ENOENT ? -ENODATA : rc;
}

static int get_locked(struct cache *c, const struct objrow *r, const char *name, char *value,
		      size_t size)
{
	sqlite3_stmt *st;
	int rc = -ENODATA;

	if (strcmp(name, "user.flowfs.state") == 0) {
		const char *s = state_public(r->state);
		return xattr_out(s, strlen(s), value, size);
	}
	if (strcmp(name, "user.flowfs.sha256") == 0)
		st = db_stmt(c, "SELECT sha256 FROM objects WHERE id = ? AND sha256 IS NOT NULL",
			     "i", r->id);
	else if (strcmp(name, "user.flowfs.error") == 0)
		st = db_stmt(c, OBJ_ERROR_SQL, "i", r->id);
	else if (meta_key(name))
		st = db_stmt(c, "SELECT value FROM xmeta WHERE object = ? AND name = ?", "it",
			     r->id, meta_key(name));
	else
		return -ENODATA;
	if (!st)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = xattr_out(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
			       value, size);
	sqlite3_reset(st);
	return rc;
}

int cache_getxattr(struct cache *c, const char *path, const char *name, char *value, size_t size)
{
	struct cpath p;
	struct objrow r;
	int rc;

	rc = xobj(c, path, &p, &r);
	if (rc == 0)
		rc = get_locked(c, &r, name, value, size);
	cpath_unlock(c, &p);
	return rc;
}

static bool meta_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > META_NAME_MAX)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' || *n == '.'))
			return false;
	return true;
}

/* Metadata may change until a sink has started on the object. */
static int meta_check(struct cache *c, const struct objrow *r, const char *name)
{
	const char *key = meta_key(name);

	if (!key && strncmp(name, "user.flowfs.", 12) == 0)
		return -EPERM;
	if (!key)
		return -ENOTSUP;
	if (!meta_name_ok(key) || (key != name + strlen("user.") && strncmp(key, "flowfs.", 7) == 0))
		return -EINVAL;
	if (!obj_has_data(r->state) ||
	    db_int(c, "SELECT count(*) FROM deliveries WHERE object = ? AND "
		   "(state IN ('inflight', 'delivered') OR attempts > 0)", "i", r->id) > 0)
		return -EPERM;
	return 0;
}

static int set_locked(struct cache *c, const struct objrow *r, const char *name,
		      const char *value, size_t size, int flags)
{
	int64_t exists;
	int rc = meta_check(c, r, name);
	const char *key = meta_key(name);

	if (rc)
		return rc;
	if (size > META_VALUE_MAX)
		return -E2BIG;
	for (size_t i = 0; i < size; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return -EINVAL;	/* it becomes an HTTP header */
	exists = db_int(c, "SELECT count(*) FROM xmeta WHERE object = ? AND name = ?", "it", r->id, key);
	if ((flags & XATTR_CREATE) && exists > 0)
		return -EEXIST;
	if ((flags & XATTR_REPLACE) && exists == 0)
		return -ENODATA;
	early_forget(c, r->id);	/* an upload already started lacks it */
	return db_exec(c, "INSERT OR REPLACE INTO xmeta(object, name, value) VALUES (?, ?, ?)",
		       "itb", r->id, key, value, size);
}

int cache_setxattr(struct cache *c, const char *path, const char *name, const char *value,
		   size_t size, int flags)
{
	struct cpath p;
	struct objrow r;
	int rc;

	rc = xobj(c, path, &p, &r);
	if (rc == -ENODATA)
		rc = -ENOTSUP;
	if (rc == 0)
		rc = set_locked(c, &r, name, value, size, flags);
	cpath_unlock(c, &p);
	return rc;
}

int cache_removexattr(struct cache *c, const char *path, const char *name)
{
	struct cpath p;
	struct objrow r;
	int rc;

	rc = xobj(c, path, &p, &r);
	if (rc == 0)
		rc = meta_check(c, &r, name);
	if (rc == 0 && db_int(c, "SELECT count(*) FROM xmeta WHERE object = ? AND name = ?", "it",
			      r.id, meta_key(name)) == 0)
		rc = -ENODATA;
	if (rc == 0)
		rc = db_exec(c, "DELETE FROM xmeta WHERE object = ? AND name = ?", "it", r.id,
			     meta_key(name));
	cpath_unlock(c, &p);
	return rc;
}

int cache_listxattr(struct cache *c, const char *path, char *list, size_t size)
{
	struct cpath p;
	struct objrow r;
	struct buf b;
	sqlite3_stmt *st;
	int rc;

	buf_init(&b);
	rc = xobj(c, path, &p, &r);
	if (rc == -ENODATA) {
		rc = 0;	/* directories: an empty list */
		goto out_unlock;
	}
	if (rc)
		goto out_unlock;
	buf_add(&b, "user.flowfs.state", sizeof("user.flowfs.state"));
	if (db_int(c, "SELECT count(*) FROM objects WHERE id = ? AND sha256 IS NOT NULL", "i", r.id) > 0)
		buf_add(&b, "user.flowfs.sha256", sizeof("user.flowfs.sha256"));
	st = db_stmt(c, OBJ_ERROR_SQL, "i", r.id);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		buf_add(&b, "user.flowfs.error", sizeof("user.flowfs.error"));
	if (st)
		sqlite3_reset(st);
	st = db_stmt(c, "SELECT name FROM xmeta WHERE object = ? ORDER BY name", "i", r.id);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		bool own = strncmp((const char *)sqlite3_column_text(st, 0), "flowfs.", 7) == 0;
		buf_puts(&b, own ? "user." : META_PREFIX);
		buf_add(&b, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0) + 1);
	}
	if (st)
		sqlite3_reset(st);
out_unlock:
	cpath_unlock(c, &p);
	if (rc == 0)
		rc = b.oom ? -ENOMEM : xattr_out(b.p, b.len, list, size);
	buf_free(&b);
	return rc;
}
