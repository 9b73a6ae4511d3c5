/*
 * cache/stream.c - streams: files opened with O_APPEND, cut into chunks.
 *
 * Every write appends its complete lines to the stream's open chunk (a
 * spool object of kind 'chunk', listed nowhere) in one pwrite under
 * s->lock, so a line is never interleaved with another writer's bytes.  The
 * unterminated tail of a write stays in the writer's handle until its
 * newline comes (or the handle closes: then it is appended as it is, and
 * ends its chunk, so that no other writer's line joins it).  A chunk
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
 * A write's unterminated tail is acknowledged too, so it is also kept on
 * disk, in a file of SPOOL/tails per handle that ever had one: a struct
 * tail_head, then the tail's bytes.  When its line completes (or the handle
 * closes), the head first records where the line is about to go (chunk and
 * offset), then the line is appended, then the file is emptied.  Recovery
 * appends a tail unless its head names a chunk that holds bytes past that
 * offset: a crash between appending and emptying sends it once, not twice.
 *
 * Locking: s->lock is taken before c->lock, never after.  Streams are freed
 * only by cache_free().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../util/log.h"
#include "internal.h"

#define PARTIAL_MAX (8u << 20)	/* an unterminated line longer than this is appended as is */

static void tail_abandon(struct cache_file *f);

struct tail_head {			/* starts a file of SPOOL/tails */
	char magic[8];			/* TAIL_MAGIC */
	int64_t stream;			/* streams.id */
	int64_t chunk, off;		/* where the tail is being appended; 0: not yet */
};
#define TAIL_MAGIC "flowtail"

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
	s->wb_trunc = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wb_cond, NULL);
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

/* Adds the streams ST's rows describe; DELETED: they were unlinked. */
static int streams_add(struct cache *c, sqlite3_stmt *st, bool deleted)
{
	int rc = 0;

	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct stream *s = stream_add(c, sqlite3_column_int64(st, 0),
					      (const char *)sqlite3_column_text(st, 1),
					      (const char *)sqlite3_column_text(st, 2),
					      (const char *)sqlite3_column_text(st, 3),
					      (mode_t)sqlite3_column_int(st, 4), (uid_t)sqlite3_column_int(st, 5),
					      (gid_t)sqlite3_column_int(st, 6), sqlite3_column_double(st, 7),
					      (uint64_t)sqlite3_column_int64(st, 8));
		if (!s) {
			rc = -ENOMEM;
			break;
		}
		s->deleted = deleted;
	}
	sqlite3_reset(st);
	return rc;
}

#define STREAM_COLUMNS "SELECT id, flow, dir, name, mode, uid, gid, mtime, next_part FROM streams "

int streams_load(struct cache *c)
{
	return streams_add(c, db_stmt(c, STREAM_COLUMNS "WHERE deleted = 0", NULL), false);
}

/* Stream ID, loaded (unlisted) if it was unlinked; NULL if there is none. */
static struct stream *stream_by_id(struct cache *c, int64_t id)
{
	for (int tries = 0; tries < 2; tries++) {
		for (struct stream *s = c->streams; s; s = s->next)
			if (s->id == id)
				return s;
		if (tries == 0 && streams_add(c, db_stmt(c, STREAM_COLUMNS "WHERE id = ? AND deleted = 1",
							 "i", id), true) != 0)
			break;
	}
	return NULL;
}

void streams_free(struct cache *c)
{
	for (struct stream *s = c->streams, *next; s; s = next) {
		next = s->next;
		if (s->fd >= 0)
			close(s->fd);
		if (s->wbf) {
			tail_abandon(s->wbf);	/* the next mount appends what it holds */
			free(s->wbf->partial);
			free(s->wbf);
		}
		pthread_cond_destroy(&s->wb_cond);
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
		    (int)(mode & CACHE_MODE_BITS), (int)uid, (int)gid, now, now))
		return NULL;
	return stream_add(c, sqlite3_last_insert_rowid(c->db), p->flow->id, p->dir, p->name,
			  mode & CACHE_MODE_BITS, uid, gid, now, 0);
}

void stream_stat(const struct stream *s, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | (s->mode & CACHE_MODE_BITS);
	st->st_nlink = 1;
	st->st_uid = s->uid;
	st->st_gid = s->gid;
	/* through the writeback cache, the kernel's own size: where its
	 * offsets start when it looks the file up again */
	st->st_size = (off_t)(s->wb ? __atomic_load_n(&s->kend, __ATOMIC_RELAXED) :
			      __atomic_load_n(&s->bytes, __ATOMIC_RELAXED));
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_blksize = 1 << 20;	/* cat, cp and dd size their buffers by it */
	st->st_mtim.tv_sec = (time_t)s->mtime;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

/* A handle on stream S with no data file and no tail file yet. */
static struct cache_file *writer_new(struct cache *c, struct stream *s, bool writable)
{
	struct cache_file *f = calloc(1, sizeof(*f));

	if (f) {
		f->c = c;
		f->stream = s;
		f->fd = -1;
		f->tail_fd = -1;
		f->writable = writable;
	}
	return f;
}

int stream_handle(struct cache *c, struct stream *s, int flags, struct cache_file **out)
{
	struct cache_file *f = writer_new(c, s, (flags & O_ACCMODE) != O_RDONLY);
	int64_t chunk = __atomic_load_n(&s->chunk, __ATOMIC_ACQUIRE);
	struct flow *fl = flow_by_id(c, s->flow_id);	/* c->lock held */

	if (!f)
		return -ENOMEM;
	s->wb = c->writeback && fl && fl->close_durable;
	if (s->wb && f->writable && (flags & O_TRUNC))
		stream_truncated(f, 0);	/* the kernel's file starts over at 0 */
	if (s->wb && f->writable && (flags & O_APPEND)) {
		/* appends go through the writeback cache; other writers (at an
		 * offset) and readers go straight to the chunk */
		f->wb = true;
		__atomic_add_fetch(&s->wb_writers, 1, __ATOMIC_ACQ_REL);
	}
	if (chunk && (flags & O_ACCMODE) != O_WRONLY && !f->wb) {
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
	object_seal(c, s->chunk, s->bytes, s->mtime, NULL);
	pthread_mutex_unlock(&c->lock);
	log_debug("stream", "%s: chunk %lld sealed (%llu bytes, %llu lines)", s->name,
		  (long long)s->chunk, (unsigned long long)s->bytes, (unsigned long long)s->lines);
	__atomic_store_n(&s->chunk, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&s->bytes, 0, __ATOMIC_RELAXED);
	s->lines = 0;
	s->sealed++;
}

/* The longest prefix of P that ends a line and fits ROOM bytes and LINES
 * lines (UINT64_MAX: no limit); FINAL: the end of P counts as the end of
 * a line. */
static size_t fit(const char *p, size_t n, uint64_t room, uint64_t lines, bool final)
{
	size_t best = 0, off = 0;
	uint64_t count = 0;

	if (lines == UINT64_MAX) {	/* no maxlines: the last line end within ROOM */
		const char *nl;

		if (final && n <= room)
			return n;
		nl = memrchr(p, '\n', n < room ? n : (size_t)room);
		return nl ? (size_t)(nl - p) + 1 : 0;
	}
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

/* The newlines in P[N]: a loop the compiler vectorizes, since a memchr()
 * per line costs more than the bytes when lines are short. */
static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t k = 0;
	size_t i = 0;

	for (; i + 128 <= n; i += 128) {
		unsigned char sum = 0;	/* at most 128: a byte holds it */

		for (size_t j = 0; j < 128; j++)
			sum += p[i + j] == '\n';
		k += sum;
	}
	for (; i < n; i++)
		k += p[i] == '\n';
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

static int tail_mark(struct cache_file *f, int64_t chunk, uint64_t off);
static void wb_truncated(struct stream *s);

/* Appends whole lines (FINAL: or a last unterminated piece), cutting
 * chunks at line boundaries.  OWNER: P is that handle's tail, one line,
 * and its tail file is told where it goes before it is written.  0, or
 * -errno and in *PUT (if not NULL) the bytes of the lines that went in
 * before the error.  s->lock held. */
static int append_lines(struct cache *c, struct stream *s, const char *p, size_t n, bool final,
			struct cache_file *owner, size_t *put)
{
	uint64_t maxsize, maxlines;
	int rc = 0;

	if (put)
		*put = 0;

	stream_flow(c, s, &maxsize, &maxlines);
	pthread_mutex_lock(&c->lock);
	if (owner && final) {	/* a last tail: its bytes were taken in when its writes returned */
		c->used += n;
	} else if (!spool_take(c, n)) {
		pthread_mutex_unlock(&c->lock);
		return -ENOSPC;
	}
	pthread_mutex_unlock(&c->lock);
	while (n > 0) {
		size_t k;

		if (!s->chunk && (rc = chunk_open(c, s)) != 0)
			break;
		k = fit(p, n, maxsize - s->bytes,
			maxlines == UINT64_MAX ? UINT64_MAX : maxlines - s->lines, final);
		if (k == 0 && s->bytes > 0) {
			chunk_seal(c, s);
			continue;
		}
		if (k == 0) {	/* one line longer than maxsize: a chunk of its own */
			const char *nl = memchr(p, '\n', n);
			k = nl ? (size_t)(nl - p) + 1 : n;
		}
		if (owner && owner->tail_fd >= 0 &&
		    (rc = tail_mark(owner, s->chunk, s->bytes)) != 0)
			break;
		ssize_t w = pwrite(s->fd, p, k, (off_t)s->bytes);
		if (w != (ssize_t)k) {
			rc = w < 0 ? -errno : -EIO;
			if (w > 0 && ftruncate(s->fd, (off_t)s->bytes) < 0)
				log_err("stream", "%s: cannot undo a short write: %m", s->name);
			if (owner && owner->tail_fd >= 0)
				tail_mark(owner, 0, 0);
			break;
		}
		__atomic_store_n(&s->bytes, s->bytes + k, __ATOMIC_RELAXED);
		s->lines += count_lines(p, k);
		s->mtime = now_real();
		p += k;
		n -= k;
		if (put)
			*put += k;
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

/* Records in F's tail file that its tail goes to CHUNK at OFF (0, 0: it
 * has not gone anywhere). */
static int tail_mark(struct cache_file *f, int64_t chunk, uint64_t off)
{
	int64_t v[2] = { chunk, (int64_t)off };

	if (pwrite(f->tail_fd, v, sizeof(v), offsetof(struct tail_head, chunk)) != sizeof(v)) {
		log_err("stream", "%s: cannot write to its tail file: %m", f->stream->name);
		return -EIO;
	}
	return 0;
}

/* Leaves F's tail file to recovery (it says where its tail went, or holds
 * one that could not be appended) and starts a new one when needed. */
static void tail_abandon(struct cache_file *f)
{
	close(f->tail_fd);
	f->tail_fd = -1;
	free(f->tail_path);
	f->tail_path = NULL;
}

/* Renames the tail file PATH (w.X, its writer's) to k.X: its writer is
 * gone, and the timer or the next mount appends it. */
static int tail_keep(struct cache *c, const char *path)
{
	const char *name = strrchr(path, '/') + 1;
	char kept[4096];

	if (strncmp(name, "w.", 2) != 0)
		return 0;
	snprintf(kept, sizeof(kept), "%s/k.%s", c->taildir, name + 2);
	if (rename(path, kept) == 0)
		return 0;
	log_err("stream", "rename %s: %m", path);
	return -EIO;
}

/* Writes F's tail to its tail file: the N bytes added at AT, or all of it
 * (with a head) to an empty or a new file. */
static int tail_store(struct cache_file *f, size_t at, size_t n)
{
	struct cache *c = f->c;
	struct tail_head h = { .stream = f->stream->id };
	bool fresh = f->tail_fd < 0 || at == 0;
	size_t want = fresh ? at + n : n;
	ssize_t w;
	bool room;

	pthread_mutex_lock(&c->lock);
	room = spool_room(c, n);
	pthread_mutex_unlock(&c->lock);
	if (!room)
		return -ENOSPC;
	if (f->tail_fd < 0) {
		if (asprintf(&f->tail_path, "%s/w.XXXXXX", c->taildir) < 0) {
			f->tail_path = NULL;
			return -ENOMEM;
		}
		f->tail_fd = mkostemp(f->tail_path, O_CLOEXEC);
		if (f->tail_fd < 0) {
			int rc = -errno;
			free(f->tail_path);
			f->tail_path = NULL;
			return rc;
		}
	}
	if (fresh) {	/* a head that says the tail has gone nowhere yet */
		struct iovec iov[2] = { { &h, sizeof(h) }, { f->partial, want } };

		memcpy(h.magic, TAIL_MAGIC, sizeof(h.magic));
		ssize_t r = pwritev(f->tail_fd, iov, 2, 0);

		w = r < (ssize_t)sizeof(h) ? (r < 0 ? -1 : 0) : r - (ssize_t)sizeof(h);
	} else {
		w = pwrite(f->tail_fd, f->partial + at, n, (off_t)(sizeof(h) + at));
	}
	if (w == (ssize_t)want)
		return 0;
	if (ftruncate(f->tail_fd, fresh ? 0 : (off_t)(sizeof(h) + at)) < 0) {
		/* it may hold bytes no write acknowledged: start afresh */
		unlink(f->tail_path);
		tail_abandon(f);
	}
	return w < 0 ? -errno : -ENOSPC;
}

/* Adds P[N] to F's tail, in memory and on disk. */
static int tail_add(struct cache_file *f, const char *p, size_t n)
{
	size_t at = f->plen;
	int rc = partial_add(f, p, n);

	if (rc == 0)
		rc = tail_store(f, at, n);
	if (rc)
		f->plen = at;
	return rc;
}

/* Appends F's tail (completed by its line's end, or FINAL: as it is) and
 * empties its tail file.  s->lock held. */
static int tail_flush(struct cache_file *f, bool final)
{
	struct stream *s = f->stream;
	struct cache *c = f->c;
	int rc = append_lines(c, s, f->partial, f->plen, final, f, NULL);

	if (rc)
		return rc;
	f->plen = 0;
	if (final && s->chunk) {
		/* an unterminated end: recovery must not trim it away, and it ends
		 * its chunk, so that no other writer's line joins it */
		pthread_mutex_lock(&c->lock);
		rc = db_exec(c, "UPDATE objects SET synced = ? WHERE id = ?", "ii", (int64_t)s->bytes,
			     s->chunk);
		pthread_mutex_unlock(&c->lock);
		chunk_seal(c, s);
		if (rc && f->tail_fd >= 0) {	/* if the seal did not reach the db either,
						 * recovery appends it */
			tail_abandon(f);
			return 0;
		}
	}
	if (f->tail_fd >= 0 && ftruncate(f->tail_fd, 0) < 0)
		tail_abandon(f);	/* its head says where the tail went */
	return 0;
}

/* Takes in writer F's bytes: its earlier unterminated piece completed,
 * whole lines appended, the new unterminated end kept as F's tail (on disk
 * too if STORE; else only in memory, stored at the next flush).  What was
 * stored (a short write) or -errno.  s->lock held. */
static ssize_t lines_take(struct cache_file *f, const char *buf, size_t size, bool store)
{
	struct stream *s = f->stream;
	const char *nl = memrchr(buf, '\n', size);
	size_t whole = nl ? (size_t)(nl - buf) + 1 : 0, done = 0;
	int rc = 0;

	if (whole && f->plen) {
		/* This writer's earlier unterminated piece completes its line. */
		size_t first = (size_t)((const char *)memchr(buf, '\n', whole) - buf) + 1;

		rc = partial_add(f, buf, first);
		if (rc == 0)
			rc = tail_flush(f, false);
		if (rc)
			f->plen -= first;
		else
			done = first;
	}
	if (rc == 0 && whole > done) {
		size_t put;

		rc = append_lines(f->c, s, buf + done, whole - done, false, NULL, &put);
		done += put;	/* the lines before an error are stored: a short write */
	}
	if (rc == 0 && size > whole) {
		rc = store ? tail_add(f, buf + whole, size - whole) :
		     partial_add(f, buf + whole, size - whole);
		if (rc == 0)
			done = size;
	}
	if (rc == 0 && f->plen > PARTIAL_MAX)
		tail_flush(f, true);	/* refused: it stays the tail, on disk */
	return done ? (ssize_t)done : rc;	/* what was stored: a short write */
}

ssize_t stream_write(struct cache_file *f, const char *buf, size_t size, off_t off)
{
	struct stream *s = f->stream;
	ssize_t n;

	if (!f->writable)
		return -EBADF;
	pthread_mutex_lock(&s->lock);
	if (s->wb)
		wb_truncated(s);
	n = lines_take(f, buf, size, true);
	if (s->wb && n > 0 && (uint64_t)off + (uint64_t)n > s->kend) {
		/* a writer at an offset, straight to the chunk: the kernel's file
		 * grows to its end, and the next appends start there */
		__atomic_store_n(&s->kend, (uint64_t)off + (uint64_t)n, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&s->wb_cond);
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Writer F is gone: its last piece (no newline) is appended as it is, or
 * kept in SPOOL/tails for the timer when no chunk can take it now. */
static void writer_close(struct cache_file *f)
{
	struct stream *s = f->stream;
	struct cache *c = f->c;

	if (f->plen) {	/* the writer's last piece has no newline: appended as is */
		pthread_mutex_lock(&s->lock);
		tail_flush(f, true);
		pthread_mutex_unlock(&s->lock);
	}
	if (f->tail_fd >= 0 && f->plen) {
		/* a full disk: kept, and the timer appends it once it can */
		if (tail_keep(c, f->tail_path) == 0) {
			pthread_mutex_lock(&c->lock);
			c->tails_kept++;
			pthread_mutex_unlock(&c->lock);
		}
		log_err("stream", "%s: the writer's last %zu bytes (no newline) cannot be appended "
			"now; they are kept in the spool and appended as soon as they can", s->name,
			f->plen);
		tail_abandon(f);
	} else if (f->tail_fd >= 0) {
		unlink(f->tail_path);
		tail_abandon(f);
	}
	free(f->partial);
	f->partial = NULL;
	f->plen = f->pcap = 0;
}

/*
 * Through the writeback cache (durability = close).  The kernel keeps the
 * stream's pages and appends each write(2) to them whole, under the
 * inode's lock, as a local file system does; it writes the pages back
 * later, by offset, through any handle open for writing, and before a
 * close or fsync returns.  So the stream's bytes come in the kernel's
 * order of offsets: s->kend is the end of what came (what getattr reports,
 * the size the kernel starts from), a page written back again brings only
 * its new end, and one that comes early waits for the bytes before it.
 * Lines are cut as for any writer, by s->wbf, whose unterminated end is
 * kept in memory and stored in its tail file at each flush and fsync (what
 * a close acknowledges), and appended as it is when the last writer goes.
 */
#define WB_WAIT 10	/* seconds a page waits for the bytes before it */

/* The size a truncate gave the kernel's file: the offsets start there.
 * s->lock held. */
static void wb_truncated(struct stream *s)
{
	int64_t to = __atomic_exchange_n(&s->wb_trunc, -1, __ATOMIC_ACQ_REL);

	if (to < 0)
		return;
	if (s->wbf && s->wbf->plen)
		tail_flush(s->wbf, true);
	s->kend = (uint64_t)to;
	s->wb_resync = false;
	pthread_cond_broadcast(&s->wb_cond);
}

/* Stores the unterminated end in its tail file: a flush or fsync
 * acknowledges it.  s->lock held. */
static int wb_store(struct stream *s)
{
	struct cache_file *w = s->wbf;
	int rc;

	if (!w || !w->plen)
		return 0;
	rc = tail_store(w, 0, w->plen);
	if (rc == 0 && ftruncate(w->tail_fd, (off_t)(sizeof(struct tail_head) + w->plen)) < 0)
		rc = -errno;	/* a longer end stored before must not stay */
	return rc;
}

static struct cache_file *wb_writer(struct cache *c, struct stream *s)
{
	if (!s->wbf)
		s->wbf = writer_new(c, s, true);
	return s->wbf;
}

ssize_t stream_write_back(struct cache_file *f, const char *buf, size_t size, off_t off)
{
	struct stream *s = f->stream;
	struct cache *c = f->c;
	uint64_t at = (uint64_t)off, end = at + size;
	struct timespec until;
	ssize_t n = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WB_WAIT;
	pthread_mutex_lock(&s->lock);
	wb_truncated(s);
	while (at > s->kend) {	/* the bytes before it are still on their way */
		if (pthread_cond_timedwait(&s->wb_cond, &s->lock, &until) == ETIMEDOUT) {
			log_err("stream", "%s: bytes %llu-%llu came from the page cache, but bytes "
				"from %llu never did; refused (the writer's close or fsync says so)",
				s->name, (unsigned long long)at, (unsigned long long)end,
				(unsigned long long)s->kend);
			pthread_mutex_unlock(&s->lock);
			return -EIO;
		}
		wb_truncated(s);
	}
	if (end > s->kend) {
		const char *p = buf + (s->kend - at);
		size_t k = (size_t)(end - s->kend);

		if (s->wb_resync) {	/* the rest of a line whose start was lost */
			const char *nl = memchr(p, '\n', k);
			size_t skip = nl ? (size_t)(nl - p) + 1 : k;

			p += skip;
			k -= skip;
			s->wb_resync = !nl;
		}
		n = k && wb_writer(c, s) ? lines_take(s->wbf, p, k, false) : (k ? -ENOMEM : 0);
		if (n >= 0 && (size_t)n < k)
			n = -ENOSPC;
		if (n < 0) {
			char eb[128];

			/* these bytes are lost (the kernel tells the writer at its close):
			 * the line they cut is dropped whole */
			if (s->wbf) {
				s->wbf->plen = 0;
				if (s->wbf->tail_fd >= 0 && ftruncate(s->wbf->tail_fd, 0) < 0)
					log_err("stream", "%s: cannot empty its tail file: %m", s->name);
			}
			s->wb_resync = buf[size - 1] != '\n';
			log_err("stream", "%s: %zu bytes from the page cache cannot be stored: %s; "
				"their lines are dropped and the writer's close or fsync fails",
				s->name, k, log_errstr((int)n, eb, sizeof(eb)));
		}
		__atomic_store_n(&s->kend, end, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&s->wb_cond);
	}
	pthread_mutex_unlock(&s->lock);
	return n < 0 ? n : (ssize_t)size;
}

int stream_flush(struct cache_file *f)
{
	struct stream *s = f->stream;
	int rc;

	if (!f->wb)
		return 0;
	pthread_mutex_lock(&s->lock);
	rc = wb_store(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void stream_truncated(struct cache_file *f, uint64_t size)
{
	if (f->stream->wb)
		__atomic_store_n(&f->stream->wb_trunc, (int64_t)size, __ATOMIC_RELEASE);
}

void stream_release(struct cache_file *f)
{
	struct stream *s = f->stream;

	writer_close(f);
	if (f->wb && __atomic_sub_fetch(&s->wb_writers, 1, __ATOMIC_ACQ_REL) == 0 && s->wbf) {
		/* the last writer through the cache: the kernel wrote back every
		 * page before this release */
		pthread_mutex_lock(&s->lock);
		wb_truncated(s);
		wb_store(s);	/* kept if no chunk can take it now */
		pthread_mutex_unlock(&s->lock);
		writer_close(s->wbf);
	}
}

int stream_fsync(struct cache_file *f)
{
	struct stream *s = f->stream;
	struct cache *c = f->c;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (f->wb) {
		rc = wb_store(s);
		f = s->wbf ? s->wbf : f;	/* its tail file is the one to sync */
	}
	if (rc == 0 && s->fd >= 0 && fdatasync(s->fd) < 0)
		rc = -errno;
	if (rc == 0 && f->tail_fd >= 0 && fdatasync(f->tail_fd) < 0)
		rc = -errno;
	if (rc == 0 && f->tail_fd >= 0)
		rc = fsync_dir(c->taildir);
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

/* Calls FN for each file of SPOOL/tails whose name starts with PREFIX (all
 * if NULL) with a valid head, open read-write; removes empty and foreign
 * ones.  True if FN said yes to every one. */
static bool tails_each(struct cache *c, const char *prefix,
		       bool (*fn)(struct cache *, int, const char *, struct tail_head *, size_t))
{
	bool all = true;
	DIR *d = opendir(c->taildir);
	struct dirent *e;

	if (!d)
		return false;
	while ((e = readdir(d))) {
		struct tail_head h;
		struct stat sb;
		char path[4096];
		int fd;

		if (e->d_name[0] == '.' || (prefix && strncmp(e->d_name, prefix, strlen(prefix)) != 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", c->taildir, e->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &sb) < 0 || sb.st_size <= (off_t)sizeof(h) ||
		    pread(fd, &h, sizeof(h), 0) != sizeof(h) || memcmp(h.magic, TAIL_MAGIC, sizeof(h.magic))) {
			unlink(path);	/* an emptied tail file */
			close(fd);
			continue;
		}
		all &= fn(c, fd, path, &h, (size_t)sb.st_size - sizeof(h));
	}
	closedir(d);
	return all;
}

/* Whether the line of a tail reached CHUNK at OFF before the crash. */
static bool tail_landed(struct cache *c, int64_t chunk, int64_t off)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT state = 'staging', coalesce(synced, -1) FROM objects "
				   "WHERE id = ?", "i", chunk);
	bool staging = false, row = false;
	int64_t synced = -1;
	char path[4096];
	struct stat sb;

	if (st && sqlite3_step(st) == SQLITE_ROW) {
		row = true;
		staging = sqlite3_column_int(st, 0) != 0;
		synced = sqlite3_column_int64(st, 1);
	}
	if (st)
		sqlite3_reset(st);
	if (!row || !staging)	/* sealed after the line went in, or long delivered */
		return true;
	cache_data_path(c, chunk, path, sizeof(path));
	chunk_trim(path, synced);	/* a line cut by the crash did not get there */
	return stat(path, &sb) == 0 && sb.st_size > off;
}

/* A tail whose line reached its chunk is dropped; the others are kept as
 * k.* (writer gone), their head saying they have gone nowhere. */
static bool tail_settle(struct cache *c, int fd, const char *path, struct tail_head *h, size_t n)
{
	int64_t none[2] = { 0, 0 };

	if (h->chunk && tail_landed(c, h->chunk, h->off))
		unlink(path);
	else if (h->chunk &&
		 pwrite(fd, none, sizeof(none), offsetof(struct tail_head, chunk)) != sizeof(none))
		log_err("stream", "%s: %m", path);
	else
		tail_keep(c, path);
	close(fd);
	return true;
}

void tails_settle(struct cache *c)
{
	tails_each(c, NULL, tail_settle);
}

/* Appends a tail whose writer is gone (a crash, or a close on a full
 * disk), as tail_flush() does.  Lock NOT held; true if it is done with. */
static bool tail_append(struct cache *c, int fd, const char *path, struct tail_head *h, size_t n)
{
	struct cache_file f = { .c = c, .tail_fd = fd, .plen = n, .partial = malloc(n ? n : 1) };
	int rc = -EIO;

	pthread_mutex_lock(&c->lock);
	f.stream = stream_by_id(c, h->stream);
	pthread_mutex_unlock(&c->lock);
	if (!f.stream) {
		log_err("stream", "%s: the tail of stream %lld, which no longer exists: %zu bytes dropped",
			path, (long long)h->stream, n);
		unlink(path);
		rc = 0;
	} else if (h->chunk == 0 && f.partial && pread(fd, f.partial, n, sizeof(*h)) == (ssize_t)n) {
		pthread_mutex_lock(&f.stream->lock);
		rc = tail_flush(&f, true);
		pthread_mutex_unlock(&f.stream->lock);
		if (rc == 0 && !c->started)
			log_warn("stream", "%s: the last %zu bytes a writer gave before the crash "
				 "(no newline yet) are appended", f.stream->name, n);
		else if (rc == 0)
			log_info("stream", "%s: a closed writer's last %zu bytes are appended now",
				 f.stream->name, n);
		if (rc == 0 && f.tail_fd >= 0)
			unlink(path);
	}
	if (f.tail_fd >= 0)
		close(f.tail_fd);
	free(f.partial);
	return rc == 0;
}

bool tails_append(struct cache *c)
{
	return tails_each(c, "k.", tail_append);
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
