/*
 * cache/ns.c - the namespace: flows, directories and objects by path.
 *
 * The root lists flows; a flow lists its directories (dirs table) and its
 * listed objects (objects.listed = 1), plus the virtual files .flow and
 * .status at its top.  Every function takes c->lock for its whole run; none
 * does file I/O beyond unlinking or copying a data file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/log.h"
#include "internal.h"
#include "readside.h"

static void fill_times(struct stat *st, double mtime, double ctime)
{
	st->st_mtim.tv_sec = (time_t)mtime;
	st->st_mtim.tv_nsec = (long)((mtime - (double)(time_t)mtime) * 1e9);
	st->st_ctim.tv_sec = (time_t)ctime;
	st->st_ctim.tv_nsec = (long)((ctime - (double)(time_t)ctime) * 1e9);
	st->st_atim = st->st_mtim;
}

struct open_obj *open_obj_find(struct cache *c, int64_t id)
{
	for (struct open_obj *o = c->open; o; o = o->next)
		if (o->id == id)
			return o;
	return NULL;
}

/* Reads the next row of a statement selecting the columns of struct objrow. */
static int obj_row(sqlite3_stmt *st, struct objrow *r)
{
	if (sqlite3_step(st) != SQLITE_ROW)
		return -ENOENT;
	r->id = sqlite3_column_int64(st, 0);
	snprintf(r->state, sizeof(r->state), "%s", sqlite3_column_text(st, 1));
	r->size = (uint64_t)sqlite3_column_int64(st, 2);
	r->mode = (mode_t)sqlite3_column_int(st, 3);
	r->uid = (uid_t)sqlite3_column_int(st, 4);
	r->gid = (gid_t)sqlite3_column_int(st, 5);
	r->mtime = sqlite3_column_double(st, 6);
	r->ctime = sqlite3_column_double(st, 7);
	return 0;
}

int obj_lookup(struct cache *c, const struct cpath *p, struct objrow *r)
{
	sqlite3_stmt *st;
	int rc;

	st = db_stmt(c, "SELECT id, state, size, mode, uid, gid, mtime, ctime FROM objects "
		     "WHERE flow = ? AND dir = ? AND name = ? AND listed = 1",
		     "ttt", p->flow->id, p->dir, p->name);
	if (!st)
		return -EIO;
	rc = obj_row(st, r);
	sqlite3_reset(st);
	return rc;
}

int obj_by_id(struct cache *c, int64_t id, struct objrow *r)
{
	sqlite3_stmt *st;
	int rc;

	st = db_stmt(c, "SELECT id, state, size, mode, uid, gid, mtime, ctime FROM objects "
		     "WHERE id = ?", "i", id);
	if (!st)
		return -EIO;
	rc = obj_row(st, r);
	sqlite3_reset(st);
	return rc;
}

void obj_name(struct cache *c, int64_t id, char *out, size_t outlen)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT coalesce(f.name, '?') || '/' || CASE WHEN o.dir = '' "
				   "THEN o.name ELSE o.dir || '/' || o.name END FROM objects o "
				   "LEFT JOIN flows f ON f.id = o.flow WHERE o.id = ?", "i", id);

	snprintf(out, outlen, "object %lld", (long long)id);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, outlen, "%s", sqlite3_column_text(st, 0));
	if (st)
		sqlite3_reset(st);
}

static bool dir_exists(struct cache *c, const struct flow *f, const char *dir, const char *name)
{
	return db_int(c, "SELECT count(*) FROM dirs WHERE flow = ? AND dir = ? AND name = ?",
		      "ttt", f->id, dir, name) > 0;
}

/* Nothing is listed in directory REL of F ("" for its top). */
static bool dir_empty(struct cache *c, const struct flow *f, const char *rel)
{
	return db_int(c, "SELECT count(*) FROM dirs WHERE flow = ?1 AND dir = ?2", "tt", f->id, rel) == 0 &&
	       db_int(c, "SELECT count(*) FROM objects WHERE flow = ?1 AND dir = ?2 AND listed = 1",
		      "tt", f->id, rel) == 0 &&
	       db_int(c, "SELECT count(*) FROM streams WHERE flow = ?1 AND dir = ?2 AND deleted = 0",
		      "tt", f->id, rel) == 0;
}

/* The directory that holds P exists: the flow's top, or a dirs row. */
bool parent_exists(struct cache *c, const struct cpath *p)
{
	const char *slash = strrchr(p->dir, '/');
	char parent[4096];

	if (!*p->dir)
		return true;
	if (!slash)
		return dir_exists(c, p->flow, "", p->dir);
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - p->dir), p->dir);
	return dir_exists(c, p->flow, parent, slash + 1);
}

/* A flow's directory and its sub-directories share the flow's mode, owner
 * and group: the access the config grants, enforced by the kernel under
 * default_permissions. */
static void flow_dir_stat(const struct flow *f, struct stat *st)
{
	st->st_mode = S_IFDIR | (f->perm.mode & 07777);
	st->st_uid = f->perm.uid;
	st->st_gid = f->perm.gid;
	st->st_nlink = 2;
}

static int dir_stat(struct cache *c, const struct cpath *p, struct stat *st)
{
	sqlite3_stmt *s;
	int rc = -ENOENT;

	s = db_stmt(c, "SELECT mtime FROM dirs WHERE flow = ? AND dir = ? AND name = ?",
		    "ttt", p->flow->id, p->dir, p->name);
	if (!s)
		return -EIO;
	if (sqlite3_step(s) == SQLITE_ROW) {
		flow_dir_stat(p->flow, st);
		fill_times(st, sqlite3_column_double(s, 0), sqlite3_column_double(s, 0));
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

void obj_stat(struct cache *c, const struct objrow *r, struct stat *st)
{
	struct open_obj *oo = open_obj_find(c, r->id);
	uint64_t size = oo ? oo->size : r->size;
	double mtime = oo && oo->mtime > 0 ? oo->mtime : r->mtime;

	for (size_t i = 0; !oo && i < c->seal_retry_n; i++) {
		/* closed, and its seal mark (with its size) still waits for the db */
		if (c->seal_retry[i].id == r->id) {
			size = c->seal_retry[i].size;
			mtime = c->seal_retry[i].mtime;
		}
	}
	st->st_mode = S_IFREG | (r->mode & CACHE_MODE_BITS);
	st->st_nlink = 1;
	st->st_uid = r->uid;
	st->st_gid = r->gid;
	st->st_size = (off_t)size;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_blksize = 1 << 20;	/* as a stream's: cp sizes its buffer by it */
	fill_times(st, mtime, r->ctime);
	st->st_ino = (ino_t)r->id;
}

static void vfile_stat(struct stat *st, double t)
{
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	fill_times(st, t, t);
}

static int getattr_locked(struct cache *c, const struct cpath *p, struct stat *st)
{
	struct objrow r;
	struct stream *s;

	memset(st, 0, sizeof(*st));
	if (!*p->flowname) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		fill_times(st, now_real(), now_real());
		return 0;
	}
	if (readside_path(p))
		return readside_getattr(c, p, st);
	if (!p->flow) {
		if (strcmp(p->flowname, ".status") == 0 && !*p->rel) {
			vfile_stat(st, now_real());
			return 0;
		}
		if (strcmp(p->flowname, ".flowctl") == 0 && !*p->rel) {
			vfile_stat(st, now_real());
			st->st_mode = S_IFREG | 0600;
			return 0;
		}
		return -ENOENT;
	}
	if (!*p->rel) {
		flow_dir_stat(p->flow, st);
		fill_times(st, p->flow->updated, p->flow->updated);
		return 0;
	}
	if (name_reserved(p)) {
		vfile_stat(st, now_real());
		return 0;
	}
	s = stream_find(c, p, false, 0, 0, 0);	/* in memory: before the database */
	if (s) {
		stream_stat(s, st);
		return 0;
	}
	if (obj_lookup(c, p, &r) == 0) {
		obj_stat(c, &r, st);
		return 0;
	}
	if (stream_implicit(p)) {
		vfile_stat(st, p->flow->created);
		st->st_mode = S_IFREG | 0644;
		return 0;
	}
	return dir_stat(c, p, st);
}

int cache_getattr(struct cache *c, const char *path, struct stat *st)
{
	struct cpath p;
	int rc;

	rc = cpath_lock(c, path, &p);
	if (!rc)
		rc = getattr_locked(c, &p, st);
	cpath_unlock(c, &p);
	return rc;
}

int fill_names(sqlite3_stmt *s, const struct stat *st, cache_fill_fn fill, void *arg)
{
	if (!s)
		return -EIO;
	while (sqlite3_step(s) == SQLITE_ROW)
		if (fill(arg, (const char *)sqlite3_column_text(s, 0), st))
			break;
	sqlite3_reset(s);
	return 0;
}

static int readdir_flow(struct cache *c, const struct cpath *p, cache_fill_fn fill, void *arg)
{
	struct stat st;
	const char *dir = p->rel;	/* the directory being listed, "" at the top */
	bool implicit;

	memset(&st, 0, sizeof(st));
	if (!*dir) {
		st.st_mode = S_IFREG | 0444;
		fill(arg, ".flow", &st);
		fill(arg, ".status", &st);
		fill(arg, ".history", &st);
		readside_fill(c, p, fill, arg);
	}
	st.st_mode = S_IFDIR | 0755;
	if (fill_names(db_stmt(c, "SELECT name FROM dirs WHERE flow = ? AND dir = ? ORDER BY name",
			       "tt", p->flow->id, dir), &st, fill, arg) != 0)
		return -EIO;
	st.st_mode = S_IFREG | 0644;
	if (fill_names(db_stmt(c, "SELECT name FROM objects WHERE flow = ? AND dir = ? AND listed = 1 "
			       "ORDER BY name", "tt", p->flow->id, dir), &st, fill, arg) != 0)
		return -EIO;
	implicit = !*dir;
	for (struct stream *sm = c->streams; sm; sm = sm->next) {
		if (sm->deleted || strcmp(sm->flow_id, p->flow->id) != 0 || strcmp(sm->dir, dir) != 0)
			continue;
		if (!*dir && strcmp(sm->name, "stream") == 0)
			implicit = false;
		fill(arg, sm->name, &st);
	}
	if (implicit)
		fill(arg, "stream", &st);
	return 0;
}

int cache_readdir(struct cache *c, const char *path, cache_fill_fn fill, void *arg)
{
	struct cpath p;
	struct stat st;
	int rc;

	rc = cpath_lock(c, path, &p);
	if (rc)
		goto out_unlock;
	if (!*p.flowname) {
		memset(&st, 0, sizeof(st));
		st.st_mode = S_IFREG | 0444;
		fill(arg, ".status", &st);
		fill(arg, ".flowctl", &st);
		readside_fill(c, &p, fill, arg);
		st.st_mode = S_IFDIR | 0755;
		for (struct flow *f = c->flows; f; f = f->next)
			if (fill(arg, f->name, &st))
				break;
		goto out_unlock;
	}
	if (readside_path(&p)) {
		rc = readside_readdir(c, &p, fill, arg);
		goto out_unlock;
	}
	rc = getattr_locked(c, &p, &st);
	if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc == 0)
		rc = readdir_flow(c, &p, fill, arg);
out_unlock:
	cpath_unlock(c, &p);
	return rc;
}

static int mkdir_flow(struct cache *c, const struct cpath *p)
{
	struct flow *f;
	size_t n = 0;
	char **sinks;

	if (p->flow)
		return -EEXIST;
	if (!cfg_name_valid(p->flowname))
		return -EINVAL;
	sinks = cfg_list(c->cfg->global, "sinks", &n);
	cfg_list_free(sinks);
	if (n == 0) {
		log_warn("fs", "mkdir %s: no default sinks: set `sinks` in [flowfs] to allow mkdir",
			 p->flowname);
		return -EPERM;
	}
	log_info("fs", "flow %s created by mkdir", p->flowname);
	return flow_create(c, p->flowname, "mkdir", &f);
}

int cache_mkdir(struct cache *c, const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct cpath p;
	struct objrow r;
	int rc;

	rc = cpath_lock(c, path, &p);
	if (rc)
		goto out_unlock;
	if (!*p.rel) {
		rc = *p.flowname ? mkdir_flow(c, &p) : -EEXIST;
		goto out_unlock;
	}
	if (!p.flow) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if ((rc = name_check_new(&p)) != 0)
		goto out_unlock;
	if (name_reserved(&p) || obj_lookup(c, &p, &r) == 0 || stream_implicit(&p) ||
	    stream_find(c, &p, false, 0, 0, 0) || dir_exists(c, p.flow, p.dir, p.name)) {
		rc = -EEXIST;
		goto out_unlock;
	}
	if (!parent_exists(c, &p)) {
		rc = -ENOENT;
		goto out_unlock;
	}
	rc = db_exec(c, "INSERT INTO dirs(flow, dir, name, mode, uid, gid, mtime) "
		     "VALUES (?, ?, ?, ?, ?, ?, ?)", "tttnnnd", p.flow->id, p.dir, p.name,
		     (int)(mode & CACHE_MODE_BITS), (int)uid, (int)gid, now_real());
out_unlock:
	cpath_unlock(c, &p);
	return rc;
}

void flow_remove(struct cache *c, struct flow *f)
{
	for (struct flow **pp = &c->flows; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			cfg_list_free(f->sinks);
			free(f->name);
			free(f);
			return;
		}
	}
}

static int rmdir_flow(struct cache *c, struct flow *f)
{
	if (f->from_config) {
		log_warn("fs", "rmdir %s: the flow is defined in the config file", f->name);
		return -EPERM;
	}
	if (!dir_empty(c, f, ""))
		return -ENOTEMPTY;
	if (db_int(c, "SELECT count(*) FROM objects WHERE flow = ? AND state IN "
		   "('staging','sealing','held','queued','failed')", "t", f->id) > 0)
		return -EBUSY;
	if (db_exec(c, "UPDATE flows SET deleted = ?, updated = ? WHERE id = ?", "ddt",
		    now_real(), now_real(), f->id))
		return -EIO;
	log_info("fs", "flow %s removed by rmdir", f->name);
	flow_remove(c, f);
	return 0;
}

int cache_rmdir(struct cache *c, const char *path)
{
	struct cpath p;
	int rc;

	rc = cpath_lock(c, path, &p);
	if (rc)
		goto out_unlock;
	if (!p.flow) {
		rc = *p.flowname ? -ENOENT : -EBUSY;
		goto out_unlock;
	}
	if (!*p.rel) {
		rc = rmdir_flow(c, p.flow);
		goto out_unlock;
	}
	if (!dir_exists(c, p.flow, p.dir, p.name)) {
		struct objrow r;
		rc = obj_lookup(c, &p, &r) == 0 || name_reserved(&p) ? -ENOTDIR : -ENOENT;
		goto out_unlock;
	}
	if (!dir_empty(c, p.flow, p.rel)) {
		rc = -ENOTEMPTY;
		goto out_unlock;
	}
	rc = db_exec(c, "DELETE FROM dirs WHERE flow = ? AND dir = ? AND name = ?", "ttt",
		     p.flow->id, p.dir, p.name);
out_unlock:
	cpath_unlock(c, &p);
	return rc;
}

static int cancel_rows(struct cache *c, int64_t id)
{
	int rc = db_begin(c);

	if (rc == 0)
		rc = db_exec(c, "UPDATE objects SET state = 'cancelled', listed = 0, done = ? WHERE id = ?",
			     "di", now_real(), id);
	if (rc == 0)
		rc = db_exec(c, "UPDATE deliveries SET state = 'cancelled' WHERE object = ? AND "
			     "state != 'inflight'", "i", id);
	/* what its records made, not yet delivered, goes with it */
	if (rc == 0)
		rc = db_exec(c, "UPDATE deliveries SET state = 'cancelled' WHERE state != 'inflight' AND "
			     "state != 'delivered' AND object IN (SELECT id FROM objects WHERE parent = ?)",
			     "i", id);
	if (rc == 0)
		rc = db_exec(c, "UPDATE objects SET state = 'cancelled', done = ? WHERE parent = ? AND "
			     "state IN ('staging','sealing','held','queued','failed')", "di", now_real(), id);
	return db_end(c, rc);
}

/* The data of PARENT's cancelled outputs that no worker is sending. */
static void cancel_children_data(struct cache *c, int64_t parent)
{
	int64_t *v;
	size_t n = db_ids(c, db_stmt(c, "SELECT id FROM objects o WHERE parent = ? AND "
				     "state = 'cancelled' AND NOT EXISTS (SELECT 1 FROM deliveries d "
				     "WHERE d.object = o.id AND d.state = 'inflight')", "i", parent), &v);

	for (size_t i = 0; i < n; i++)
		cache_unlink_data(c, v[i], DATA_ALL);
	free(v);
}

int obj_unlist(struct cache *c, int64_t id)
{
	int rc = db_exec(c, "UPDATE objects SET listed = 0 WHERE id = ?", "i", id);

	if (rc == 0)
		cache_unlink_data(c, id, DATA_ALL);
	return rc;
}

/* Takes object ID out of the namespace; a pending delivery is cancelled.
 * The data file goes now unless a handle or a worker still uses it.  This
 * frees space, so on a full disk it may use the spool's reserve. */
int obj_cancel(struct cache *c, int64_t id)
{
	int64_t inflight = db_int(c, "SELECT count(*) FROM deliveries WHERE object = ? "
				  "AND state = 'inflight'", "i", id);
	bool pending = db_int(c, "SELECT count(*) FROM objects WHERE id = ? AND state IN "
			      "('staging','sealing','held','queued','split','failed')", "i", id) > 0;
	int rc;

	if (!pending)	/* delivered */
		return RESERVE_RETRY(c, obj_unlist(c, id));
	rc = RESERVE_RETRY(c, cancel_rows(c, id));
	if (rc)
		return rc;
	if (inflight == 0 && !open_obj_find(c, id))
		cache_unlink_data(c, id, DATA_ALL);
	cancel_children_data(c, id);
	log_debug("spool", "object %lld cancelled", (long long)id);
	return 0;
}

int cache_unlink(struct cache *c, const char *path)
{
	struct cpath p;
	struct objrow r;
	int rc;

	rc = cpath_lock(c, path, &p);
	if (rc)
		goto out_unlock;
	if (!p.flow || !*p.rel) {
		rc = p.flow ? -EISDIR : (*p.flowname ? -ENOENT : -EISDIR);
		if (!p.flow && strcmp(p.flowname, ".status") == 0)
			rc = -EACCES;
		goto out_unlock;
	}
	if (name_reserved(&p)) {
		rc = -EACCES;
		goto out_unlock;
	}
	rc = obj_lookup(c, &p, &r);
	if (rc) {
		struct stream *s = stream_find(c, &p, false, 0, 0, 0);
		if (s) {
			cpath_free(&p);
			pthread_mutex_unlock(&c->lock);
			return stream_unlink(c, s);
		}
		if (stream_implicit(&p))
			rc = 0;	/* nothing written yet: nothing to remove */
		else if (dir_exists(c, p.flow, p.dir, p.name))
			rc = -EISDIR;
		goto out_unlock;
	}
	rc = obj_cancel(c, r.id);
out_unlock:
	cpath_unlock(c, &p);
	return rc;
}

void held_release(struct cache *c)
{
	int64_t ids[256], last = 0;
	size_t n, seen;

	c->held_retry = false;
	do {
		sqlite3_stmt *s = db_stmt(c, "SELECT id, CASE WHEN dir = '' THEN name ELSE dir || '/' || name END "
					  "FROM objects WHERE state = 'held' AND listed = 1 AND id > ? "
					  "ORDER BY id LIMIT 256", "i", last);
		if (!s)
			return;
		for (n = seen = 0; sqlite3_step(s) == SQLITE_ROW; seen++) {
			last = sqlite3_column_int64(s, 0);
			if (!path_hidden((const char *)sqlite3_column_text(s, 1)))
				ids[n++] = last;
		}
		sqlite3_reset(s);
		for (size_t i = 0; i < n; i++)
			if (object_release(c, ids[i]) != 0)
				c->held_retry = true;
	} while (seen == 256);
}

static int rename_dir(struct cache *c, const struct cpath *a, const struct cpath *b)
{
	double now = now_real();
	int rc;

	if (dir_exists(c, b->flow, b->dir, b->name)) {
		if (!dir_empty(c, b->flow, b->rel))
			return -ENOTEMPTY;
		db_exec(c, "DELETE FROM dirs WHERE flow = ? AND dir = ? AND name = ?", "ttt",
			b->flow->id, b->dir, b->name);
	}
	if (strncmp(b->rel, a->rel, strlen(a->rel)) == 0 && b->rel[strlen(a->rel)] == '/')
		return -EINVAL;	/* into itself */
	rc = db_begin(c);
	if (rc)
		return rc;
	rc = db_exec(c, "UPDATE dirs SET dir = ?, name = ?, mtime = ? WHERE flow = ? AND dir = ? AND name = ?",
		     "ttdttt", b->dir, b->name, now, a->flow->id, a->dir, a->name);
	if (!rc)
		rc = db_exec(c, "UPDATE dirs SET dir = ?1 || substr(dir, length(?2) + 1) "
			     "WHERE flow = ?3 AND (dir = ?2 OR substr(dir, 1, length(?2) + 1) = ?2 || '/')",
			     "ttt", b->rel, a->rel, a->flow->id);
	if (!rc)
		rc = db_exec(c, "UPDATE objects SET dir = ?1 || substr(dir, length(?2) + 1) "
			     "WHERE flow = ?3 AND listed = 1 AND "
			     "(dir = ?2 OR substr(dir, 1, length(?2) + 1) = ?2 || '/')",
			     "ttt", b->rel, a->rel, a->flow->id);
	rc = db_end(c, rc);
	if (rc == 0)
		held_release(c);
	return rc;
}

static int rename_locked(struct cache *c, const struct cpath *a, const struct cpath *b,
			 unsigned flags)
{
	struct objrow ra, rb;
	bool a_obj, a_dir, b_obj, b_dir;

	if (!a->flow || !b->flow)
		return *a->flowname && !a->flow ? -ENOENT : -EPERM;
	if (!*a->rel || !*b->rel)
		return -EPERM;	/* flows are not renamed */
	if (a->flow != b->flow)
		return -EXDEV;
	if (name_reserved(a) || name_reserved(b))
		return -EACCES;
	if (flags & ~1u)	/* only RENAME_NOREPLACE */
		return -EINVAL;
	if (name_check_new(b))
		return -EINVAL;
	if (stream_find(c, a, false, 0, 0, 0) || stream_find(c, b, false, 0, 0, 0) ||
	    stream_implicit(b))
		return -EPERM;	/* streams keep their name: their chunks are named after it */
	a_obj = obj_lookup(c, a, &ra) == 0;
	a_dir = !a_obj && dir_exists(c, a->flow, a->dir, a->name);
	if (!a_obj && !a_dir)
		return -ENOENT;
	if (!parent_exists(c, b))
		return -ENOENT;
	b_obj = obj_lookup(c, b, &rb) == 0;
	b_dir = !b_obj && dir_exists(c, b->flow, b->dir, b->name);
	if ((b_obj || b_dir) && (flags & 1u))
		return -EEXIST;
	if (a_obj && b_obj && ra.id == rb.id)
		return 0;
	if (a_dir)
		return b_obj ? -ENOTDIR : rename_dir(c, a, b);
	if (b_dir)
		return -EISDIR;
	if (b_obj && obj_cancel(c, rb.id) != 0)
		return -EIO;
	early_forget(c, ra.id);	/* its key was its old name's */
	if (db_exec(c, "UPDATE objects SET dir = ?, name = ?, ctime = ? WHERE id = ?", "ttdi",
		    b->dir, b->name, now_real(), ra.id))
		return -EIO;
	if (strcmp(ra.state, "held") == 0 && !path_hidden(b->rel) &&
	    object_release(c, ra.id) != 0)
		c->held_retry = true;	/* renamed all the same: the timer queues it */
	return 0;
}

int cache_rename(struct cache *c, const char *from, const char *to, unsigned flags)
{
	struct cpath a, b;
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = cpath_parse(c, from, &a);
	if (!rc)
		rc = cpath_parse(c, to, &b);
	if (!rc)
		rc = rename_locked(c, &a, &b, flags);
	cpath_free(&a);
	cpath_free(&b);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Applies an attribute change to the object or directory at PATH.  Flows
 * accept and ignore them (rsync -a sets the times of its target), and so do
 * sub-directories for mode and owner, which are the flow's keys. */
enum attr_op { ATTR_MODE, ATTR_OWNER, ATTR_TIMES };

static int setattr(struct cache *c, const char *path, enum attr_op op, int64_t a, int64_t b,
		   double t)
{
	struct cpath p;
	struct objrow r;
	int rc;

	rc = cpath_lock(c, path, &p);
	if (rc)
		goto out_unlock;
	if (!p.flow || !*p.rel) {
		rc = p.flow || !*p.flowname ? 0 : -ENOENT;
		goto out_unlock;
	}
	if (name_reserved(&p)) {
		rc = -EACCES;
		goto out_unlock;
	}
	if (obj_lookup(c, &p, &r) == 0) {
		struct open_obj *oo = open_obj_find(c, r.id);

		if (op == ATTR_MODE)
			rc = db_exec(c, "UPDATE objects SET mode = ?, ctime = ? WHERE id = ?", "idi",
				     a, now_real(), r.id);
		else if (op == ATTR_OWNER)
			rc = db_exec(c, "UPDATE objects SET uid = CASE WHEN ?1 >= 0 THEN ?1 ELSE uid END, "
				     "gid = CASE WHEN ?2 >= 0 THEN ?2 ELSE gid END, ctime = ?3 WHERE id = ?4",
				     "iidi", a, b, now_real(), r.id);
		else {
			rc = db_exec(c, "UPDATE objects SET mtime = ?, ctime = ? WHERE id = ?", "ddi",
				     t, now_real(), r.id);
			if (oo)
				oo->mtime = t;
		}
		goto out_unlock;
	}
	if (stream_find(c, &p, false, 0, 0, 0) || stream_implicit(&p)) {
		struct stream *s = stream_find(c, &p, false, 0, 0, 0);
		if (s && op == ATTR_MODE) {
			s->mode = (mode_t)a;
			rc = db_exec(c, "UPDATE streams SET mode = ? WHERE id = ?", "ii", a, s->id);
		}
		goto out_unlock;
	}
	if (!dir_exists(c, p.flow, p.dir, p.name)) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if (op == ATTR_TIMES)	/* mode and owner are the flow's: see flow_dir_stat() */
		rc = db_exec(c, "UPDATE dirs SET mtime = ? WHERE flow = ? AND dir = ? AND name = ?",
			     "dttt", t, p.flow->id, p.dir, p.name);
out_unlock:
	cpath_unlock(c, &p);
	return rc;
}

int cache_chmod(struct cache *c, const char *path, mode_t mode)
{
	return setattr(c, path, ATTR_MODE, mode & CACHE_MODE_BITS, 0, 0);
}

int cache_chown(struct cache *c, const char *path, uid_t uid, gid_t gid)
{
	return setattr(c, path, ATTR_OWNER, uid == (uid_t)-1 ? -1 : (int64_t)uid,
		       gid == (gid_t)-1 ? -1 : (int64_t)gid, 0);
}

int cache_utimens(struct cache *c, const char *path, const struct timespec tv[2])
{
	double t = now_real();

	if (tv && tv[1].tv_nsec == UTIME_OMIT)
		return 0;
	if (tv && tv[1].tv_nsec != UTIME_NOW)
		t = (double)tv[1].tv_sec + (double)tv[1].tv_nsec / 1e9;
	return setattr(c, path, ATTR_TIMES, 0, 0, t);
}

int cache_statfs(struct cache *c, struct statvfs *st)
{
	uint64_t bs, left, back, avail;

	if (statvfs(c->spool, st) < 0)
		return -errno;
	bs = st->f_frsize ? st->f_frsize : st->f_bsize;
	pthread_mutex_lock(&c->lock);
	/* delivered files still listed give their room back when it is needed */
	back = spool_reclaimable(c);
	left = c->spool_max + back > c->used ? c->spool_max + back - c->used : 0;
	pthread_mutex_unlock(&c->lock);
	avail = st->f_bavail * bs + back;
	if (avail > left)
		avail = left;
	if (st->f_blocks * bs > c->spool_max)
		st->f_blocks = c->spool_max / bs;
	st->f_bavail = avail / bs;
	if (st->f_bavail > st->f_blocks)
		st->f_bavail = st->f_blocks;
	st->f_bfree = st->f_bavail;
	st->f_namemax = 255;
	return 0;
}
