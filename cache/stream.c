/*
 * cache/stream.c - streams: files opened with O_APPEND, cut into chunks.
 *
 * Every write appends its complete lines to the stream's open chunk (a
 * spool object of kind 'chunk', listed nowhere) in one pwrite under
 * s->lock, so a line is never interleaved with another writer's bytes.  The
 * unterminated tail of a write stays in the writer's handle until its
 * newline comes (or the handle closes: then it is appended as is).  A chunk
 * is sealed when the next lines would pass `maxsize` or `maxlines`, when it
 * is `rotate` old (the timer), on flowctl rotate / sync and at unmount; a
 * line longer than maxsize goes whole into a chunk of its own.  Sealed
 * chunks go to the packer (compress, split, hash) like closed uploads.
 *
 * A write returns only after its lines are in the chunk's data file and the
 * chunk's row is in the database, so kill -9 loses no acknowledged line;
 * recovery trims a chunk to its last newline (a write cut by the kill never
 * returned) and seals it.
 *
 * Locking: s->lock is taken before c->lock, never after.  Streams are freed
 * only by cache_free().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/log.h"
#include "internal.h"

#define PARTIAL_MAX (8u << 20)	/* an unterminated line longer than this is appended as is */

bool stream_implicit(const struct cpath *p)
{
	return p->flow && !*p->dir && strcmp(p->name, "stream") == 0;
}

static struct stream *stream_add(struct cache *c, int64_t id, const char *flow_id, const char *dir,
				 const char *name, mode_t mode, uid_t uid, gid_t gid, double mtime,
				 uint64_t next_part)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = id;
	snprintf(s->flow_id, sizeof(s->flow_id), "%s", flow_id);
	s->dir = strdup(dir);
	s->name = strdup(name);
	s->mode = mode;
	s->uid = uid;
	s->gid = gid;
	s->mtime = mtime;
	s->next_part = next_part;
	s->fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	if (!s->dir || !s->name) {
		free(s->dir);
		free(s->name);
		free(s);
		return NULL;
	}
	s->next = c->streams;
	c->streams = s;
	return s;
}

int streams_load(struct cache *c)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT id, flow, dir, name, mode, uid, gid, mtime, next_part "
				   "FROM streams WHERE deleted = 0", NULL);
	int rc = 0;

	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (!stream_add(c, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
				(const char *)sqlite3_column_text(st, 2),
				(const char *)sqlite3_column_text(st, 3), (mode_t)sqlite3_column_int(st, 4),
				(uid_t)sqlite3_column_int(st, 5), (gid_t)sqlite3_column_int(st, 6),
				sqlite3_column_double(st, 7), (uint64_t)sqlite3_column_int64(st, 8))) {
			rc = -ENOMEM;
			break;
		}
	}
	sqlite3_reset(st);
	return rc;
}

void streams_free(struct cache *c)
{
	for (struct stream *s = c->streams, *next; s; s = next) {
		next = s->next;
		if (s->fd >= 0)
			close(s->fd);
		pthread_mutex_destroy(&s->lock);
		free(s->dir);
		free(s->name);
		free(s);
	}
	c->streams = NULL;
}

struct stream *stream_find(struct cache *c, const struct cpath *p, bool create, mode_t mode,
			   uid_t uid, gid_t gid)
{
	double now = now_real();

	if (!p->flow || !*p->rel)
		return NULL;
	for (struct stream *s = c->streams; s; s = s->next)
		if (!s->deleted && strcmp(s->flow_id, p->flow->id) == 0 &&
		    strcmp(s->dir, p->dir) == 0 && strcmp(s->name, p->name) == 0)
			return s;
	if (!create)
		return NULL;
	if (db_exec(c, "INSERT INTO streams(flow, dir, name, mode, uid, gid, created, mtime) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", "tttnnndd", p->flow->id, p->dir, p->name,
		    (int)(mode & 07777), (int)uid, (int)gid, now, now))
		return NULL;
	return stream_add(c, sqlite3_last_insert_rowid(c->db), p->flow->id, p->dir, p->name,
			  mode & 07777, uid, gid, now, 0);
}

void stream_stat(const struct stream *s, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | (s->mode & 07777);
	st->st_nlink = 1;
	st->st_uid = s->uid;
	st->st_gid = s->gid;
	st->st_size = (off_t)__atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_blksize = 65536;
	st->st_mtim.tv_sec = (time_t)s->mtime;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

int stream_handle(struct cache *c, struct stream *s, int flags, struct cache_file **out)
{
	struct cache_file *f = calloc(1, sizeof(*f));
	int64_t chunk = __atomic_load_n(&s->chunk, __ATOMIC_ACQUIRE);

	if (!f)
		return -ENOMEM;
	f->c = c;
	f->stream = s;
	f->fd = -1;
	f->writable = (flags & O_ACCMODE) != O_RDONLY;
	if (chunk && (flags & O_ACCMODE) != O_WRONLY) {
		char path[4096];

		cache_data_path(c, chunk, path, sizeof(path));
		f->fd = open(path, O_RDONLY | O_CLOEXEC);	/* cat shows the open chunk */
	}
	*out = f;
	return 0;
}

/* Opens a new chunk for S; s->lock held, c->lock not. */
static int chunk_open(struct cache *c, struct stream *s)
{
	double now = now_real();
	char path[4096];
	int64_t id, seq;
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = db_exec(c, "INSERT INTO seq(flow, name, n) VALUES (?, 'chunks', 1) "
		     "ON CONFLICT(flow, name) DO UPDATE SET n = n + 1", "t", s->flow_id);
	seq = db_int(c, "SELECT n FROM seq WHERE flow = ? AND name = 'chunks'", "t", s->flow_id);
	if (rc == 0)
		rc = db_exec(c, "UPDATE streams SET next_part = ? WHERE id = ?", "ii",
			     (int64_t)s->next_part + 1, s->id);
	if (rc == 0)
		rc = db_exec(c, "INSERT INTO objects(flow, dir, name, kind, state, open, listed, mode, "
			     "uid, gid, mtime, ctime, created, stream, part, seq) VALUES "
			     "(?, ?, ?, 'chunk', 'staging', 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			     "tttnnndddiii", s->flow_id, s->dir, s->name, (int)s->mode, (int)s->uid,
			     (int)s->gid, now, now, now, s->id, (int64_t)s->next_part, seq);
	if (rc) {
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	id = sqlite3_last_insert_rowid(c->db);
	pthread_mutex_unlock(&c->lock);
	cache_data_path(c, id, path, sizeof(path));
	s->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		rc = -errno;
		pthread_mutex_lock(&c->lock);
		db_exec(c, "DELETE FROM objects WHERE id = ?", "i", id);
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	s->next_part++;
	s->first = now;
	s->bytes = s->lines = 0;
	__atomic_store_n(&s->chunk, id, __ATOMIC_RELEASE);
	return 0;
}

/* Seals the open chunk of S; s->lock held, c->lock not. */
static void chunk_seal(struct cache *c, struct stream *s)
{
	if (!s->chunk)
		return;
	close(s->fd);
	s->fd = -1;
	pthread_mutex_lock(&c->lock);
	object_seal(c, s->chunk, s->bytes, s->mtime);
	pthread_mutex_unlock(&c->lock);
	log_debug("stream", "%s: chunk %lld sealed (%llu bytes, %llu lines)", s->name,
		  (long long)s->chunk, (unsigned long long)s->bytes, (unsigned long long)s->lines);
	__atomic_store_n(&s->chunk, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&s->bytes, 0, __ATOMIC_RELAXED);
	s->lines = 0;
	s->sealed++;
}

/* The longest prefix of P that ends a line and fits ROOM bytes and LINES
 * lines; FINAL: the end of P counts as the end of a line. */
static size_t fit(const char *p, size_t n, uint64_t room, uint64_t lines, bool final)
{
	size_t best = 0, off = 0;
	uint64_t count = 0;

	while (off < n && count < lines) {
		const char *nl = memchr(p + off, '\n', n - off);
		size_t end = nl ? (size_t)(nl - p) + 1 : (final ? n : 0);
		if (!end || end > room)
			break;
		best = end;
		off = end;
		count++;
	}
	return best;
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t k = 0;

	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		k++;
	return k;
}

static struct flow *stream_flow(struct cache *c, const struct stream *s, uint64_t *maxsize,
				uint64_t *maxlines)
{
	struct flow *f;

	pthread_mutex_lock(&c->lock);
	f = flow_by_id(c, s->flow_id);
	*maxsize = f && f->maxsize ? f->maxsize : UINT64_MAX;
	*maxlines = f && f->maxlines ? f->maxlines : UINT64_MAX;
	pthread_mutex_unlock(&c->lock);
	return f;
}

/* Appends whole lines (FINAL: or a last unterminated piece), cutting
 * chunks at line boundaries.  s->lock held. */
static int append_lines(struct cache *c, struct stream *s, const char *p, size_t n, bool final)
{
	uint64_t maxsize, maxlines;
	int rc = 0;

	stream_flow(c, s, &maxsize, &maxlines);
	pthread_mutex_lock(&c->lock);
	if (!spool_take(c, n)) {
		pthread_mutex_unlock(&c->lock);
		return -ENOSPC;
	}
	pthread_mutex_unlock(&c->lock);
	while (n > 0) {
		size_t k;

		if (!s->chunk && (rc = chunk_open(c, s)) != 0)
			break;
		k = fit(p, n, maxsize - s->bytes, maxlines - s->lines, final);
		if (k == 0 && s->bytes > 0) {
			chunk_seal(c, s);
			continue;
		}
		if (k == 0) {	/* one line longer than maxsize: a chunk of its own */
			const char *nl = memchr(p, '\n', n);
			k = nl ? (size_t)(nl - p) + 1 : n;
		}
		ssize_t w = pwrite(s->fd, p, k, (off_t)s->bytes);
		if (w != (ssize_t)k) {
			rc = w < 0 ? -errno : -EIO;
			if (w > 0 && ftruncate(s->fd, (off_t)s->bytes) < 0)
				log_err("stream", "%s: cannot undo a short write: %m", s->name);
			break;
		}
		__atomic_store_n(&s->bytes, s->bytes + k, __ATOMIC_RELAXED);
		s->lines += count_lines(p, k);
		s->mtime = now_real();
		p += k;
		n -= k;
		if (s->bytes >= maxsize || s->lines >= maxlines)
			chunk_seal(c, s);
	}
	if (n > 0) {
		pthread_mutex_lock(&c->lock);
		c->used -= n;
		pthread_mutex_unlock(&c->lock);
	}
	return rc;
}

static int partial_add(struct cache_file *f, const char *p, size_t n)
{
	if (f->plen + n > f->pcap) {
		size_t cap = f->pcap ? f->pcap : 256;
		char *np;

		while (cap < f->plen + n)
			cap *= 2;
		np = realloc(f->partial, cap);
		if (!np)
			return -ENOMEM;
		f->partial = np;
		f->pcap = cap;
	}
	memcpy(f->partial + f->plen, p, n);
	f->plen += n;
	return 0;
}

ssize_t stream_write(struct cache_file *f, const char *buf, size_t size)
{
	struct stream *s = f->stream;
	const char *nl = memrchr(buf, '\n', size);
	size_t whole = nl ? (size_t)(nl - buf) + 1 : 0;
	int rc = 0;

	if (!f->writable)
		return -EBADF;
	pthread_mutex_lock(&s->lock);
	if (whole && f->plen) {
		/* This writer's earlier unterminated piece completes its line. */
		rc = partial_add(f, buf, whole);
		if (rc == 0)
			rc = append_lines(f->c, s, f->partial, f->plen, false);
		if (rc == 0)
			f->plen = 0;
		else
			f->plen -= whole;
	} else if (whole) {
		rc = append_lines(f->c, s, buf, whole, false);
	}
	if (rc == 0 && size > whole)
		rc = partial_add(f, buf + whole, size - whole);
	if (rc == 0 && f->plen > PARTIAL_MAX) {
		rc = append_lines(f->c, s, f->partial, f->plen, true);
		if (rc == 0)
			f->plen = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return rc ? rc : (ssize_t)size;
}

/* The last piece of a writer has no newline: append it as is, and record
 * its end so recovery does not trim it away. */
static void flush_partial(struct cache_file *f)
{
	struct stream *s = f->stream;
	struct cache *c = f->c;

	if (!f->plen)
		return;
	pthread_mutex_lock(&s->lock);
	if (append_lines(c, s, f->partial, f->plen, true) == 0 && s->chunk) {
		pthread_mutex_lock(&c->lock);
		db_exec(c, "UPDATE objects SET synced = ? WHERE id = ?", "ii", (int64_t)s->bytes, s->chunk);
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&s->lock);
	f->plen = 0;
}

void stream_release(struct cache_file *f)
{
	flush_partial(f);
	free(f->partial);
}

int stream_fsync(struct cache_file *f)
{
	struct stream *s = f->stream;
	struct cache *c = f->c;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (s->fd >= 0 && fdatasync(s->fd) < 0)
		rc = -errno;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&c->lock);
	if (rc == 0 && sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_FULL, NULL, NULL) != SQLITE_OK)
		rc = db_errno(c, sqlite3_errcode(c->db));
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int stream_unlink(struct cache *c, struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	chunk_seal(c, s);
	pthread_mutex_lock(&c->lock);
	s->deleted = true;
	db_exec(c, "UPDATE streams SET deleted = 1 WHERE id = ?", "i", s->id);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int streams_rotate(struct cache *c, const char *flow, bool due_only)
{
	struct stream **v = NULL;
	size_t n = 0, cap = 0;
	double now = now_real();
	int sealed = 0;

	pthread_mutex_lock(&c->lock);
	for (struct stream *s = c->streams; s; s = s->next) {
		struct flow *f = flow_by_id(c, s->flow_id);

		if (!__atomic_load_n(&s->chunk, __ATOMIC_ACQUIRE) || !f ||
		    (flow && strcmp(f->name, flow) != 0))
			continue;
		if (due_only && now - s->first < (double)f->rotate)
			continue;
		if (n == cap) {
			struct stream **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = s;
	}
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&v[i]->lock);
		if (v[i]->chunk) {
			chunk_seal(c, v[i]);
			sealed++;
		}
		pthread_mutex_unlock(&v[i]->lock);
	}
	free(v);
	return sealed;
}

void chunk_trim(const char *path, int64_t synced)
{
	char buf[65536];
	int fd = open(path, O_RDWR | O_CLOEXEC);
	off_t end, keep = 0;

	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	for (off_t pos = end; pos > 0 && keep == 0; ) {
		size_t want = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
		pos -= (off_t)want;
		if (pread(fd, buf, want, pos) != (ssize_t)want)
			break;
		char *nl = memrchr(buf, '\n', want);
		if (nl)
			keep = pos + (nl - buf) + 1;
	}
	if (keep < synced)
		keep = synced;
	if (keep < end) {
		log_warn("stream", "%s: dropping %lld bytes of a write cut short by a crash", path,
			 (long long)(end - keep));
		if (ftruncate(fd, keep) < 0)
			log_err("stream", "%s: truncate: %m", path);
	}
	close(fd);
}

void stream_status_json(struct cache *c, const struct flow *f, struct buf *b)
{
	double now = now_real();
	bool first = true;

	buf_puts(b, "\"streams\":{");
	for (struct stream *s = c->streams; s; s = s->next) {
		int64_t queued, delivered;
		uint64_t bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);

		if (s->deleted || strcmp(s->flow_id, f->id) != 0)
			continue;
		queued = db_int(c, "SELECT count(*) FROM objects WHERE stream = ? AND state IN "
				"('sealing', 'queued')", "i", s->id);
		delivered = db_int(c, "SELECT count(*) FROM objects WHERE stream = ? AND "
				   "state = 'delivered'", "i", s->id);
		if (!first)
			buf_puts(b, ",");
		first = false;
		if (*s->dir) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", s->dir, s->name);
			buf_json_str(b, path);
		} else {
			buf_json_str(b, s->name);
		}
		buf_printf(b, ":{\"open_bytes\":%llu,\"open_lines\":%llu,\"open_age\":%.1f,"
			   "\"sealed\":%llu,\"queued\":%lld,\"delivered\":%lld}",
			   (unsigned long long)bytes, (unsigned long long)s->lines,
			   s->chunk ? now - s->first : 0.0, (unsigned long long)s->sealed,
			   (long long)queued, (long long)delivered);
	}
	buf_puts(b, "}");
}
