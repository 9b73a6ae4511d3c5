/*
 * cache/file.c - open handles: staging writes, reads, flush, fsync, release.
 *
 * Each handle has its own fd on the object's data file in SPOOL/data; the
 * handles of one object share a struct open_obj (refs, size, dirty).  Data
 * moves with pread/pwrite outside c->lock; the lock covers the bookkeeping:
 *   write   reserves spool space (ENOSPC past spool_max) and, first after a
 *           flush, records objects.open = 1 ("not acknowledged yet");
 *   flush   (every close()) records open = 0 with the size: from here a
 *           kill -9 no longer loses the file;
 *   fsync   syncs the data, records the synced length and checkpoints the
 *           WAL, so the data also survives power loss;
 *   release (last close) seals the object for the packer.
 * Rewriting a sealed file makes a new version (a copy of its data unless
 * O_TRUNC); the old pending version is cancelled.  Every listed file reads
 * back, delivered ones too (their data stays while they are listed).
 *
 * Only whole files are delivered: a write, truncate or flush that fails
 * marks its object (open_obj.error), and at the last close such an object
 * becomes 'failed' with the reason instead of being sealed.  O_TRUNC, or a
 * new version, starts clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/log.h"
#include "internal.h"
#include "readside.h"

bool obj_has_data(const char *state)
{
	return strcmp(state, "staging") == 0 || strcmp(state, "sealing") == 0 ||
	       strcmp(state, "held") == 0 || strcmp(state, "queued") == 0 ||
	       strcmp(state, "failed") == 0 || strcmp(state, "delivered") == 0 ||
	       strcmp(state, "split") == 0;
}

/* The first failure of OO's writes: WHAT ("write") failed with RC. */
static void obj_poison(struct open_obj *oo, const char *what, int rc)
{
	char eb[128];

	if (oo->error[0] || rc >= 0)
		return;
	snprintf(oo->error, sizeof(oo->error), "a %s failed: %s", what, log_errstr(rc, eb, sizeof(eb)));
}

static int open_data(struct cache *c, int64_t id, int flags)
{
	char path[4096];
	int fd;

	cache_data_path(c, id, path, sizeof(path));
	fd = open(path, flags | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	fd = -errno;
	log_err("spool", "object %lld: cannot open its data file %s: %m", (long long)id, path);
	return fd == -ENOENT ? -EIO : fd;	/* listed, so it must be there */
}

/* Copies the whole of SRC into DST; returns bytes copied or -errno. */
static int64_t copy_fd(int src, int dst)
{
	loff_t in = 0, out = 0;
	int64_t total = 0;

	for (;;) {
		ssize_t n = copy_file_range(src, &in, dst, &out, 1 << 30, 0);
		if (n < 0)
			return -errno;
		if (n == 0)
			return total;
		total += n;
	}
}

/* Creates a staging object at P (whose name must be free) and its data
 * file, a copy of COPY_FD if that is >= 0.  Returns the data fd (O_RDWR). */
static int obj_new(struct cache *c, const struct cpath *p, mode_t mode, uid_t uid, gid_t gid,
		   int copy_fd_src, int64_t *id_out, uint64_t *size_out)
{
	double now = now_real();
	int64_t id, copied = 0;
	char path[4096];
	int fd, rc;

	/* With the reserve given up, what room the database has is for the
	 * bookkeeping that frees space (recording deliveries): a new file
	 * waits for room like its data. */
	if (!spool_make_room(c, 0))
		return -ENOSPC;
	rc = db_exec(c, "INSERT INTO objects(flow, dir, name, state, open, mode, uid, gid, mtime, "
		     "ctime, created) VALUES (?, ?, ?, 'staging', 1, ?, ?, ?, ?, ?, ?)", "tttnnnddd",
		     p->flow->id, p->dir, p->name, (int)(mode & CACHE_MODE_BITS), (int)uid, (int)gid, now, now, now);
	if (rc)
		return rc;
	id = sqlite3_last_insert_rowid(c->db);
	cache_data_path(c, id, path, sizeof(path));
	spare_take(c, path);	/* else the open creates it */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out_delete;
	}
	if (copy_fd_src >= 0) {
		struct stat st;

		if (fstat(copy_fd_src, &st) < 0 || !spool_make_room(c, (uint64_t)st.st_size)) {
			rc = -ENOSPC;
			goto out_unlink;
		}
		copied = copy_fd(copy_fd_src, fd);
		if (copied < 0) {
			rc = (int)copied;
			goto out_unlink;
		}
		c->used += (uint64_t)copied;
		db_exec(c, "UPDATE objects SET size = ? WHERE id = ?", "ii", copied, id);
	}
	*id_out = id;
	*size_out = (uint64_t)copied;
	return fd;
out_unlink:
	close(fd);
	unlink(path);
out_delete:
	db_exec(c, "DELETE FROM objects WHERE id = ?", "i", id);
	return rc;
}

static int handle_new(struct cache *c, int64_t id, int fd, bool writable, bool staging,
		      uint64_t size, double mtime, struct cache_file **out)
{
	struct cache_file *f = calloc(1, sizeof(*f));
	struct open_obj *oo = NULL;

	if (!f)
		return -ENOMEM;
	if (staging) {
		oo = open_obj_find(c, id);
		if (!oo) {
			oo = calloc(1, sizeof(*oo));
			if (!oo) {
				free(f);
				return -ENOMEM;
			}
			oo->id = id;
			oo->size = size;
			oo->settled = size;
			oo->mtime = mtime;
			oo->dirty = true;	/* objects.open is 1 until the first flush */
			oo->next = c->open;
			c->open = oo;
		}
		oo->refs++;
	}
	f->c = c;
	f->id = id;
	f->fd = fd;
	f->writable = writable;
	f->oo = oo;
	*out = f;
	return 0;
}

/* The first change since a flush: the row says open again, so a crash
 * before the next close discards the object rather than sealing half of a
 * new write.  A refusal fails the write.  Lock held. */
static int mark_dirty(struct cache *c, struct open_obj *oo)
{
	int rc;

	if (oo->dirty)
		return 0;
	rc = db_exec(c, "UPDATE objects SET open = 1 WHERE id = ?", "i", oo->id);
	oo->dirty = rc == 0;
	return rc;
}

/* Truncates the staging object of handle F (or OO) to SIZE; lock held. */
static int staging_truncate(struct cache *c, int fd, struct open_obj *oo, uint64_t size)
{
	int rc = mark_dirty(c, oo);

	if (rc)
		return rc;
	if (size > oo->size && !spool_take(c, size - oo->size))
		return -ENOSPC;
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		if (size > oo->size)
			c->used -= size - oo->size;
		return -e;
	}
	if (size < oo->size)
		c->used -= oo->size - size;
	oo->size = size;
	oo->mtime = now_real();
	early_truncated(c, oo, size);
	return 0;
}

/* A new version of the sealed object R at P, replacing it: an empty one
 * when TRUNC, else a copy of its data.  Returns the new data fd. */
static int obj_new_version(struct cache *c, const struct cpath *p, const struct objrow *r,
			   bool trunc, int64_t *id, uint64_t *size)
{
	int src = -1, fd;

	if (!trunc) {
		src = open_data(c, r->id, O_RDONLY);
		if (src < 0)
			return src;
	}
	fd = obj_cancel(c, r->id);
	if (fd == 0)
		fd = obj_new(c, p, r->mode, r->uid, r->gid, src, id, size);
	if (src >= 0)
		close(src);
	return fd;
}

static int open_object(struct cache *c, const struct cpath *p, const struct objrow *r, int flags,
		       struct cache_file **out)
{
	bool writable = (flags & O_ACCMODE) != O_RDONLY;
	bool trunc = (flags & O_TRUNC) && writable;
	uint64_t size = r->size;
	int64_t id = r->id;
	int fd, rc;

	if (strcmp(r->state, "staging") == 0) {
		struct open_obj *oo = open_obj_find(c, id);

		fd = open_data(c, id, O_RDWR);
		if (fd < 0)
			return fd;
		rc = handle_new(c, id, fd, writable, true, oo ? oo->size : size, r->mtime, out);
		if (rc == 0 && trunc) {
			rc = staging_truncate(c, fd, (*out)->oo, 0);
			if (rc == 0)
				(*out)->oo->error[0] = '\0';	/* rewritten from the start */
		}
		goto out_check;
	}
	if (!writable) {
		fd = open_data(c, id, O_RDONLY);
		if (fd < 0)
			return fd;
		rc = handle_new(c, id, fd, false, false, size, r->mtime, out);
		goto out_check;
	}
	fd = obj_new_version(c, p, r, trunc, &id, &size);
	if (fd < 0)
		return fd;
	rc = handle_new(c, id, fd, true, true, size, now_real(), out);
out_check:
	if (rc && fd >= 0)
		close(fd);
	return rc;
}

static int open_virtual(struct cache *c, const struct cpath *p, int flags, struct cache_file **out)
{
	struct cache_file *f;
	struct buf b;
	int rc;

	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	buf_init(&b);
	if (!p->flow)
		rc = status_root_json(c, &b);
	else if (strcmp(p->name, ".flow") == 0)
		rc = flow_json(c, p->flow, &b);
	else if (strcmp(p->name, ".history") == 0)
		rc = history_json(c, p->flow, &b);	/* JSON lines, each with its newline */
	else
		rc = status_flow_json(c, p->flow, &b);
	if (strcmp(p->name, ".history") != 0)
		buf_puts(&b, "\n");
	f->c = c;
	f->fd = -1;
	f->vdata = buf_steal(&b, &f->vlen);
	if (rc == 0 && !f->vdata)
		rc = -ENOMEM;
	if (rc) {
		free(f->vdata);
		free(f);
		return rc;
	}
	*out = f;
	return 0;
}

bool cache_wants_writeback(struct cache *c)
{
	bool want = strcmp(cfg_str(c->cfg->global, "durability"), "close") == 0;

	pthread_mutex_lock(&c->lock);
	for (struct flow *f = c->flows; f && !want; f = f->next)
		want = f->close_durable;
	pthread_mutex_unlock(&c->lock);
	return want;
}

void cache_set_writeback(struct cache *c, bool on)
{
	pthread_mutex_lock(&c->lock);
	c->writeback = on;
	pthread_mutex_unlock(&c->lock);
}

bool cache_file_direct(const struct cache_file *f)
{
	return f->stream ? !f->wb : f->fd < 0;
}

bool cache_file_cached(const struct cache_file *f)
{
	return f->wb;
}

bool cache_file_needs_flush(const struct cache_file *f)
{
	return f->oo != NULL || f->wb;
}

int cache_open(struct cache *c, const char *path, int flags, struct cache_file **out)
{
	struct cpath p;
	struct objrow r;
	struct stream *s;
	int rc;

	rc = cpath_lock(c, path, &p);
	if (rc)
		goto out_unlock;
	if (!p.flow && strcmp(p.flowname, ".flowctl") == 0 && !*p.rel) {
		*out = calloc(1, sizeof(**out));
		rc = *out ? 0 : -ENOMEM;
		if (*out) {
			(*out)->c = c;
			(*out)->fd = -1;
			(*out)->control = true;
		}
		goto out_unlock;
	}
	if (readside_path(&p)) {
		rc = readside_open(c, &p, flags, out);
		goto out_unlock;
	}
	if ((!p.flow && strcmp(p.flowname, ".status") == 0 && !*p.rel) ||
	    (p.flow && *p.rel && name_reserved(&p))) {
		rc = open_virtual(c, &p, flags, out);
		goto out_unlock;
	}
	if (!p.flow || !*p.rel) {
		rc = p.flow || !*p.flowname ? -EISDIR : -ENOENT;
		goto out_unlock;
	}
	s = stream_find(c, &p, false, 0, 0, 0);	/* in memory: before the database */
	if (s) {
		rc = stream_handle(c, s, flags, out);
		goto out_unlock;
	}
	rc = obj_lookup(c, &p, &r);
	if (rc == 0) {
		rc = open_object(c, &p, &r, flags, out);
	} else if (stream_implicit(&p)) {
		s = stream_find(c, &p, true, 0644, 0, 0);
		rc = s ? stream_handle(c, s, flags, out) : -EIO;
	}
out_unlock:
	cpath_unlock(c, &p);
	return rc;
}

int cache_create(struct cache *c, const char *path, int flags, mode_t mode, uid_t uid, gid_t gid,
		 struct cache_file **out)
{
	struct cpath p;
	struct objrow r;
	struct stream *s;
	uint64_t size;
	int64_t id;
	int rc, fd;

	rc = cpath_lock(c, path, &p);
	if (rc)
		goto out_unlock;
	if (!p.flow || !*p.rel) {
		/* files cannot live at the root; flows are directories */
		rc = p.flow ? -EISDIR : (*p.rel ? -ENOENT : -EPERM);
		goto out_unlock;
	}
	if (name_reserved(&p)) {
		rc = -EACCES;
		goto out_unlock;
	}
	if (obj_lookup(c, &p, &r) == 0) {
		rc = (flags & O_EXCL) ? -EEXIST : open_object(c, &p, &r, flags, out);
		goto out_unlock;
	}
	if (!parent_exists(c, &p)) {
		rc = -ENOENT;
		goto out_unlock;
	}
	s = stream_find(c, &p, false, 0, 0, 0);
	if (!s && (rc = name_check_new(&p)) != 0)
		goto out_unlock;
	if (s || (flags & O_APPEND) || stream_implicit(&p)) {
		/* O_APPEND makes a stream; an existing stream stays one. */
		rc = s && (flags & O_EXCL) ? -EEXIST : 0;
		if (!rc && !s)
			s = stream_find(c, &p, true, mode, uid, gid);
		if (!rc)
			rc = s ? stream_handle(c, s, flags, out) : -EIO;
		goto out_unlock;
	}
	fd = obj_new(c, &p, mode, uid, gid, -1, &id, &size);
	if (fd < 0) {
		rc = fd;
		goto out_unlock;
	}
	rc = handle_new(c, id, fd, true, true, 0, now_real(), out);
	if (rc)
		close(fd);
out_unlock:
	cpath_unlock(c, &p);
	return rc;
}

ssize_t cache_read(struct cache_file *f, char *buf, size_t size, off_t off)
{
	ssize_t n;

	if ((f->fd < 0 && f->stream) || f->wb)
		return 0;	/* no open chunk; or the kernel filling a page it
				 * writes to: its bytes came already */
	if (f->rs)
		return readside_read(f, buf, size, off);
	if (f->fd < 0) {
		if ((size_t)off >= f->vlen)
			return 0;
		n = (ssize_t)(f->vlen - (size_t)off < size ? f->vlen - (size_t)off : size);
		memcpy(buf, f->vdata + off, (size_t)n);
		return n;
	}
	n = pread(f->fd, buf, size, off);
	return n < 0 ? -errno : n;
}

/* After a failed (RC) or short write: make oo->size and c->used match the
 * file; a failed write marks the object. */
static void write_settle(struct cache *c, struct cache_file *f, int rc)
{
	struct stat st;
	int e = fstat(f->fd, &st) < 0 ? -errno : 0;

	pthread_mutex_lock(&c->lock);
	obj_poison(f->oo, "write", rc);
	if (e) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (f->oo->size > (uint64_t)st.st_size) {
		uint64_t extra = f->oo->size - (uint64_t)st.st_size;
		c->used = c->used > extra ? c->used - extra : 0;
		f->oo->size = (uint64_t)st.st_size;
	}
	pthread_mutex_unlock(&c->lock);
}

/* pwrite of a staging file; a full file system first takes back the room
 * of delivered files, and the write is tried once more. */
static ssize_t staging_pwrite(struct cache *c, struct cache_file *f, const char *buf, size_t size,
			      off_t off)
{
	ssize_t n = pwrite(f->fd, buf, size, off);

	if (n < 0 && errno == ENOSPC) {
		uint64_t freed;

		pthread_mutex_lock(&c->lock);
		freed = spool_reclaim(c, size);
		pthread_mutex_unlock(&c->lock);
		if (freed)
			n = pwrite(f->fd, buf, size, off);
		else
			errno = ENOSPC;
	}
	return n < 0 ? -errno : n;
}

ssize_t cache_write(struct cache_file *f, const char *buf, size_t size, off_t off)
{
	struct cache *c = f->c;
	uint64_t end = (uint64_t)off + size;
	bool track;
	ssize_t n;

	if (f->stream)
		return stream_write(f, buf, size, off);
	if (f->control)
		return control_write(f, buf, size);
	if (!f->writable || !f->oo)
		return -EBADF;
	pthread_mutex_lock(&c->lock);
	n = mark_dirty(c, f->oo);
	if (n == 0 && end > f->oo->size) {
		if (spool_take(c, end - f->oo->size))
			f->oo->size = end;
		else
			n = -ENOSPC;
	}
	if (n) {
		obj_poison(f->oo, "write", (int)n);
		pthread_mutex_unlock(&c->lock);
		return n;
	}
	f->oo->mtime = now_real();
	track = f->oo->early >= 0;	/* it may be sent while written: see early.c */
	if (track)
		f->oo->writing++;
	pthread_mutex_unlock(&c->lock);
	n = staging_pwrite(c, f, buf, size, off);
	if (n != (ssize_t)size)
		write_settle(c, f, n < 0 ? (int)n : 0);
	if (track) {
		pthread_mutex_lock(&c->lock);
		early_wrote(c, f->oo, (uint64_t)off);
		pthread_mutex_unlock(&c->lock);
	}
	return n;
}

ssize_t cache_write_back(struct cache_file *f, const char *buf, size_t size, off_t off)
{
	if (f->stream && f->stream->wb)
		return stream_write_back(f, buf, size, off);
	return cache_write(f, buf, size, off);
}

int cache_ftruncate(struct cache_file *f, off_t size)
{
	int rc;

	if (f->stream)
		stream_truncated(f, (uint64_t)size);	/* the kernel's size: its offsets */
	if (f->stream || f->control)
		return 0;	/* appends only: truncation is ignored */
	if (!f->writable || !f->oo)
		return -EBADF;
	pthread_mutex_lock(&f->c->lock);
	rc = staging_truncate(f->c, f->fd, f->oo, (uint64_t)size);
	obj_poison(f->oo, "truncate", rc);
	pthread_mutex_unlock(&f->c->lock);
	return rc;
}

int cache_truncate(struct cache *c, const char *path, off_t size)
{
	struct cache_file *f;
	int rc;

	/* Truncating a closed file is "open, ftruncate, close": a sealed file
	 * gets a new version, sealed again at the end. */
	rc = cache_open(c, path, size == 0 ? O_WRONLY | O_TRUNC : O_WRONLY, &f);
	if (rc)
		return rc;
	rc = cache_ftruncate(f, size);
	cache_flush(f);
	cache_release(f);
	return rc;
}

int cache_fgetattr(struct cache_file *f, struct stat *st)
{
	struct objrow r;
	int rc;

	memset(st, 0, sizeof(*st));
	if (f->stream) {
		stream_stat(f->stream, st);
		return 0;
	}
	if (f->rs)
		return readside_fgetattr(f, st);
	if (f->fd < 0) {
		st->st_mode = S_IFREG | (f->control ? 0600 : 0444);
		st->st_nlink = 1;
		st->st_size = (off_t)f->vlen;
		return 0;
	}
	pthread_mutex_lock(&f->c->lock);
	rc = obj_by_id(f->c, f->id, &r);
	if (rc == 0)
		obj_stat(f->c, &r, st);
	pthread_mutex_unlock(&f->c->lock);
	return rc;
}

/* Records the object of F as closed at its current size; lock held. */
static int record_closed(struct cache *c, struct open_obj *oo)
{
	int rc = db_exec(c, "UPDATE objects SET open = 0, size = ?, mtime = ? WHERE id = ?", "idi",
			 (int64_t)oo->size, oo->mtime, oo->id);

	if (rc == 0)
		oo->dirty = false;
	return rc;
}

int cache_flush(struct cache_file *f)
{
	int rc = 0;

	if (f->stream)
		return stream_flush(f);
	if (!f->oo)
		return 0;
	pthread_mutex_lock(&f->c->lock);
	if (f->oo->dirty)
		rc = record_closed(f->c, f->oo);
	obj_poison(f->oo, "flush", rc);
	pthread_mutex_unlock(&f->c->lock);
	return rc;
}

int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int cache_fsync(struct cache_file *f, bool datasync)
{
	struct cache *c = f->c;
	int rc;

	if (f->stream)
		return stream_fsync(f);
	if (f->fd < 0)
		return 0;
	if ((datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0)
		return -errno;
	rc = fsync_dir(c->datadir);
	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	if (f->oo)
		rc = db_exec(c, "UPDATE objects SET synced = ?, mtime = ? WHERE id = ?", "idi",
			     (int64_t)f->oo->size, f->oo->mtime, f->id);
	if (rc == 0 && sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_FULL, NULL, NULL) != SQLITE_OK)
		rc = db_errno(c, sqlite3_errcode(c->db));
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* The last handle of OO is gone: seal a staging object (or fail it if a
 * write failed), or drop the data of one unlinked meanwhile.  Lock held. */
static void last_close(struct cache *c, struct open_obj *oo)
{
	struct objrow r;
	bool sealed = false;

	for (struct open_obj **pp = &c->open; *pp; pp = &(*pp)->next) {
		if (*pp == oo) {
			*pp = oo->next;
			break;
		}
	}
	if (obj_by_id(c, oo->id, &r) == 0) {
		sealed = strcmp(r.state, "staging") == 0 && !oo->error[0];
		if (strcmp(r.state, "staging") == 0)
			object_seal(c, oo->id, oo->size, oo->mtime, oo->error[0] ? oo->error : NULL);
		else if (strcmp(r.state, "cancelled") == 0)
			cache_unlink_data(c, oo->id, DATA_ALL);
	}
	early_closed(c, oo->id, sealed);
	free(oo);
}

int cache_release(struct cache_file *f)
{
	struct cache *c = f->c;

	if (f->stream)
		stream_release(f);
	if (f->oo) {
		pthread_mutex_lock(&c->lock);
		if (--f->oo->refs == 0)
			last_close(c, f->oo);
		pthread_mutex_unlock(&c->lock);
	}
	if (f->fd >= 0)
		close(f->fd);
	free(f->vdata);
	free(f->rs);
	free(f);
	return 0;
}
