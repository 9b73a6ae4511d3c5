/*
 * cache/packer.c - sealing: split a closed object into parts and hash them.
 *
 * One thread takes object ids from c->pack_q (filled by the last close and
 * by recovery), reads each data file once, computing the SHA-256 of every
 * part_size part and of the whole object, records the parts and queues one
 * delivery per sink of the flow.  An upload sent while written (early.c)
 * comes with its first parts hashed and the whole file's hash over them:
 * only the bytes past them are read.  The hashing runs outside c->lock; the
 * object may be cancelled or renamed meanwhile, which is checked after.
 * An object whose path has a component starting with '.' is "held" until a
 * rename makes it visible.  Sealing that fails on an I/O error is tried
 * again (c->pack_retry, re-queued by the timer); only a vanished data file
 * fails the object.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/hash.h"
#include "../util/log.h"
#include "internal.h"

#define READ_CHUNK (1 << 20)

#define PACK_RETRY_SECONDS 5.0

bool ids_push(int64_t **v, size_t *n, size_t *cap, int64_t id)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		int64_t *q = realloc(*v, ncap * sizeof(*q));
		if (!q)
			return false;
		*v = q;
		*cap = ncap;
	}
	(*v)[(*n)++] = id;
	return true;
}

void packer_enqueue(struct cache *c, int64_t id)
{
	if (!ids_push(&c->pack_q, &c->pack_n, &c->pack_cap, id)) {
		log_err("packer", "out of memory: object %lld is sealed at the next mount",
			(long long)id);
		return;
	}
	pthread_cond_broadcast(&c->pack_cond);	/* the timer waits on it too */
}

/* The closed object's row says so: 'sealing' (or 'failed' when a write
 * failed), with its final size and mtime.  A row already cancelled (or
 * sealed) is left alone. */
static int seal_mark(struct cache *c, const struct seal_req *s)
{
	if (s->error[0])
		return db_exec(c, "UPDATE objects SET state = 'failed', open = 0, size = ?, mtime = ?, "
			       "sealed = ?, error = ? WHERE id = ? AND state = 'staging'", "iddti",
			       (int64_t)s->size, s->mtime, s->sealed, s->error, s->id);
	return db_exec(c, "UPDATE objects SET state = 'sealing', open = 0, size = ?, mtime = ?, "
		       "sealed = ? WHERE id = ? AND state = 'staging'", "iddi", (int64_t)s->size,
		       s->mtime, s->sealed, s->id);
}

/* Object S is marked: to the packer, or failed (said in the log). */
static void seal_marked(struct cache *c, const struct seal_req *s)
{
	char name[1024];

	if (!s->error[0]) {
		packer_enqueue(c, s->id);
		return;
	}
	obj_name(c, s->id, name, sizeof(name));
	log_err("spool", "%s: %s; not delivered, state failed (write it again with O_TRUNC, "
		"or rm it)", name, s->error);
}

void object_seal(struct cache *c, int64_t id, uint64_t size, double mtime, const char *error)
{
	struct seal_req s = { .id = id, .size = size, .mtime = mtime, .sealed = now_real() };
	int rc;

	snprintf(s.error, sizeof(s.error), "%s", error ? error : "");
	rc = c->seal_retry_n ? -EAGAIN : RESERVE_RETRY(c, seal_mark(c, &s));	/* after those waiting */
	if (rc == 0) {
		seal_marked(c, &s);
		return;
	}
	for (size_t i = 0; i < c->seal_retry_n; i++) {
		if (c->seal_retry[i].id == id) {	/* closed again while waiting: the last close counts */
			c->seal_retry[i] = s;
			return;
		}
	}
	if (c->seal_retry_n == c->seal_retry_cap) {
		size_t ncap = c->seal_retry_cap ? c->seal_retry_cap * 2 : 16;
		struct seal_req *v = realloc(c->seal_retry, ncap * sizeof(*v));
		if (!v) {
			log_err("packer", "out of memory: object %lld is sealed at the next mount",
				(long long)id);
			return;
		}
		c->seal_retry = v;
		c->seal_retry_cap = ncap;
	}
	if (c->seal_retry_n == 0)
		log_err("packer", "object %lld: the spool database refuses to mark it closed; "
			"trying again every second", (long long)id);
	c->seal_retry[c->seal_retry_n++] = s;
}

void packer_retry(struct cache *c)
{
	size_t done = 0;

	while (done < c->seal_retry_n && seal_mark(c, &c->seal_retry[done]) == 0)
		seal_marked(c, &c->seal_retry[done++]);
	if (done) {
		c->seal_retry_n -= done;
		memmove(c->seal_retry, c->seal_retry + done, c->seal_retry_n * sizeof(*c->seal_retry));
		log_info("packer", "the spool database takes closed objects again");
	}
	if (c->pack_retry_n == 0 || now_real() < c->pack_retry_at)
		return;
	for (size_t i = 0; i < c->pack_retry_n; i++)
		packer_enqueue(c, c->pack_retry[i]);
	c->pack_retry_n = 0;
}

/* Sealing object ID failed with RC (lock held): a missing data file fails
 * it for good; anything else (EIO, ENOSPC, ...) is tried again later, so a
 * passing disk error never fails acknowledged data. */
static void seal_failed(struct cache *c, int64_t id, const char *path, int rc)
{
	char eb[128];
	const char *e = log_errstr(rc, eb, sizeof(eb));

	if (rc != -ENOENT && ids_push(&c->pack_retry, &c->pack_retry_n, &c->pack_retry_cap, id)) {
		log_err("packer", "object %lld: cannot seal %s: %s; trying again in %.0fs",
			(long long)id, path, e, PACK_RETRY_SECONDS);
		if (c->pack_retry_n == 1)
			c->pack_retry_at = now_real() + PACK_RETRY_SECONDS;
		return;
	}
	log_err("packer", "object %lld: cannot seal %s: %s", (long long)id, path, e);
	db_exec(c, "UPDATE objects SET state = 'failed', error = ? WHERE id = ?", "ti",
		rc == -ENOENT ? "its data file in the spool is gone" : "out of memory while sealing", id);
}

struct packed {
	uint64_t size;
	size_t nparts;
	struct sink_part *parts;
	char sha256[65];
};

/* What was hashed while the file was written (early.c): the first N
 * parts' hashes and the whole file's SHA-256 over them. */
struct prehashed {
	uint64_t n;
	struct sha256 *whole;	/* NULL when N is 0 */
	char (*sha)[65];
};

/* Reads FD once past what PRE holds: the hash of every part and of the
 * whole.  Takes PRE's whole. */
static int pack_fd(int fd, uint64_t part_size, struct packed *pk, struct prehashed *pre)
{
	struct sha256 *whole = pre->whole ? pre->whole : sha256_new(), *part = sha256_new();
	char *buf = malloc(READ_CHUNK);
	struct stat st;
	uint64_t off = 0;
	int rc = 0;

	pre->whole = NULL;
	if (!whole || !part || !buf || fstat(fd, &st) < 0) {
		rc = !whole || !part || !buf ? -ENOMEM : -errno;
		goto out_free;
	}
	pk->size = (uint64_t)st.st_size;
	pk->nparts = pk->size ? (size_t)((pk->size + part_size - 1) / part_size) : 1;
	pk->parts = calloc(pk->nparts, sizeof(*pk->parts));
	if (!pk->parts) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (pre->n * part_size > pk->size) {	/* shorter than hashed: cannot be, but then all again */
		char junk[65];

		sha256_final_hex(whole, junk);	/* resets it */
		pre->n = 0;
	}
	for (size_t i = 0; i < pk->nparts; i++) {
		struct sink_part *p = &pk->parts[i];

		p->offset = off;
		p->length = pk->size - off < part_size ? pk->size - off : part_size;
		if (i < pre->n) {	/* hashed while written: whole, and in WHOLE */
			memcpy(p->sha256, pre->sha[i], sizeof(p->sha256));
			off += p->length;
			continue;
		}
		for (uint64_t done = 0; done < p->length; ) {
			size_t want = p->length - done < READ_CHUNK ? (size_t)(p->length - done) : READ_CHUNK;
			ssize_t n = pread(fd, buf, want, (off_t)(off + done));
			if (n <= 0) {
				rc = n < 0 ? -errno : -EIO;
				goto out_free;
			}
			sha256_update(whole, buf, (size_t)n);
			sha256_update(part, buf, (size_t)n);
			done += (uint64_t)n;
		}
		sha256_final_hex(part, p->sha256);
		off += p->length;
	}
	sha256_final_hex(whole, pk->sha256);
out_free:
	free(buf);
	sha256_free(whole);
	sha256_free(part);
	return rc;
}

/* One delivery row per sink and the object 'queued', all or nothing. */
static int queue_rows(struct cache *c, const struct flow *f, int64_t id)
{
	int rc = db_begin(c);

	for (size_t i = 0; i < f->nsinks && rc == 0; i++) {
		if (sink_slot_find(c, f->sinks[i])) {
			/* an upload sent while written keeps its upload id and key */
			rc = db_exec(c, "INSERT INTO deliveries(object, sink, state, attempts, next_try) "
				     "VALUES (?1, ?2, 'queued', 0, 0) ON CONFLICT(object, sink) DO UPDATE "
				     "SET state = CASE WHEN state = 'sending' THEN state ELSE 'queued' END, "
				     "attempts = 0, next_try = 0, last_error = NULL, "
				     "done = NULL, upload_id = CASE WHEN early_rel IS NULL THEN NULL "
				     "ELSE upload_id END, key = CASE WHEN early_rel IS NULL THEN NULL "
				     "ELSE key END", "it", id, f->sinks[i]);
			continue;
		}
		rc = db_exec(c, "INSERT OR REPLACE INTO deliveries(object, sink, state, last_error) "
			     "VALUES (?, ?, 'failed', 'no sink of this name in the config')", "it",
			     id, f->sinks[i]);
	}
	if (rc == 0)
		rc = db_exec(c, "UPDATE objects SET state = 'queued' WHERE id = ?", "i", id);
	return db_end(c, rc);
}

int object_queue_deliveries(struct cache *c, int64_t id)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT flow FROM objects WHERE id = ?", "i", id);
	struct flow *f = NULL;
	int rc;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		f = flow_by_id(c, (const char *)sqlite3_column_text(st, 0));
	if (st)
		sqlite3_reset(st);
	if (!f || f->nsinks == 0) {
		log_err("packer", "object %lld: its flow has no sinks", (long long)id);
		return db_exec(c, "UPDATE objects SET state = 'failed' WHERE id = ?", "i", id);
	}
	rc = RESERVE_RETRY(c, queue_rows(c, f, id));	/* delivering frees space */
	if (rc)
		return rc;
	object_update_state(c, id);
	pthread_cond_broadcast(&c->work_cond);
	return 0;
}

/* The parts and hash of what is delivered: the packed form's (psize,
 * psha256) when PACKED, else the file's own (size, sha256). */
static int record_parts(struct cache *c, int64_t id, const struct packed *pk, bool packed)
{
	int rc = db_begin(c);

	if (rc)
		return rc;
	rc = db_exec(c, "DELETE FROM parts WHERE object = ?", "i", id);
	for (size_t i = 0; i < pk->nparts && rc == 0; i++)
		rc = db_exec(c, "INSERT INTO parts(object, idx, off, len, sha256) VALUES (?, ?, ?, ?, ?)",
			     "iniit", id, (int)i, (int64_t)pk->parts[i].offset,
			     (int64_t)pk->parts[i].length, pk->parts[i].sha256);
	if (rc == 0 && packed)
		rc = db_exec(c, "UPDATE objects SET psha256 = ?, psize = ? WHERE id = ?", "tii",
			     pk->sha256, (int64_t)pk->size, id);
	else if (rc == 0)
		rc = db_exec(c, "UPDATE objects SET sha256 = ?, size = ?, psha256 = NULL, psize = NULL "
			     "WHERE id = ?", "tii", pk->sha256, (int64_t)pk->size, id);
	return db_end(c, rc);
}

/* Object ID's path has a component starting with '.'; lock held. */
static bool obj_hidden(struct cache *c, int64_t id)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT CASE WHEN dir = '' THEN name ELSE dir || '/' || name END "
				   "FROM objects WHERE id = ? AND kind != 'derived'", "i", id);
	bool hidden = false;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		hidden = path_hidden((const char *)sqlite3_column_text(st, 0));
	if (st)
		sqlite3_reset(st);
	return hidden;
}

/* A sealed object goes to its sinks, or waits while its path is hidden. */
static int hold_or_queue(struct cache *c, int64_t id)
{
	if (obj_hidden(c, id))
		return db_exec(c, "UPDATE objects SET state = 'held' WHERE id = ?", "i", id);
	/* packed as bytes under a name that reads none (rsync's .name.XXXXXX),
	 * renamed meanwhile to one that reads records: converted instead */
	if (obj_converts(c, id)) {
		packer_enqueue(c, id);
		return 0;
	}
	return object_queue_deliveries(c, id);
}

int object_release(struct cache *c, int64_t id)
{
	int rc;

	if (!obj_converts(c, id) && !obj_steps_pending(c, id))
		return object_queue_deliveries(c, id);
	/* steps or records: run under its visible name */
	rc = db_exec(c, "UPDATE objects SET state = 'sealing' WHERE id = ? AND state = 'held'", "i", id);
	if (rc == 0)
		packer_enqueue(c, id);
	return rc;
}

/* What packing object ID needs: its compression ("none", "gz", ...),
 * level, whether its file as written stays (an upload: it is listed and
 * read back) and, if already packed by a run cut short, that form.  Lock
 * held. */
static int pack_plan(struct cache *c, int64_t id, char want[8], int *level, bool *keep_raw,
		     char packed[8], bool *convert)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT flow, kind, coalesce(packed, ''), coalesce(compress, 'none') "
				   "FROM objects WHERE id = ? AND state = 'sealing'", "i", id);
	struct flow *f = NULL;
	char kind[16] = "";

	if (st && sqlite3_step(st) == SQLITE_ROW) {
		f = flow_by_id(c, (const char *)sqlite3_column_text(st, 0));
		snprintf(kind, sizeof(kind), "%s", sqlite3_column_text(st, 1));
		snprintf(packed, 8, "%s", sqlite3_column_text(st, 2));
		snprintf(want, 8, "%s", sqlite3_column_text(st, 3));	/* a derived object's */
	}
	if (st)
		sqlite3_reset(st);
	if (!f)
		return -ENOENT;	/* cancelled meanwhile, or its flow is gone */
	if (strcmp(kind, "derived") != 0)
		snprintf(want, 8, "%s", strcmp(kind, "chunk") == 0 ? f->compress : f->upload_compress);
	*level = f->level;
	*keep_raw = strcmp(kind, "upload") == 0;
	*convert = obj_converts(c, id);
	return 0;
}

/* Compresses data/ID into data/ID.KIND (via a .tmp file, fsynced) and
 * records it with the hash of the file as written; the raw file is removed
 * unless KEEP_RAW.  Lock not held. */
static int pack_compress(struct cache *c, int64_t id, const char *form, const char *kind,
			 int level, bool keep_raw)
{
	char src[4096], tmp[4200], out[4096], hex[65];
	struct sha256 *h = sha256_new();
	struct stat st_out;
	int in, fd, rc;

	if (!h)
		return -ENOMEM;
	cache_packed_path(c, id, form, src, sizeof(src));
	cache_packed_path(c, id, kind, out, sizeof(out));
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		rc = -errno;
		goto out_free;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out_close_in;
	}
	rc = compress_fd(in, fd, kind, level, h);
	if (rc == 0 && (fsync(fd) < 0 || fstat(fd, &st_out) < 0))
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, out) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		goto out_close_in;
	}
	sha256_final_hex(h, hex);
	pthread_mutex_lock(&c->lock);
	/* after steps, the file's own hash came with its first step */
	rc = db_exec(c, "UPDATE objects SET packed = ?, psize = ?, sha256 = coalesce(?, sha256) "
		     "WHERE id = ?", "titi", kind, (int64_t)st_out.st_size, *form ? NULL : hex, id);
	if (rc == 0) {
		c->used += (uint64_t)st_out.st_size;
		if (*form)
			unlink_counted(c, src);
		if (!keep_raw)
			cache_unlink_data(c, id, DATA_RAW);
	}
	pthread_mutex_unlock(&c->lock);
out_close_in:
	close(in);
out_free:
	sha256_free(h);
	return rc;
}

/* Compression that failed for want of space gets what can be freed for
 * it: delivered files leave the listing early, or else the reserve is
 * given up (sealing is what frees space on a full disk).  True if there is
 * more room to try again with. */
static bool pack_room(struct cache *c, uint64_t need)
{
	bool more;

	pthread_mutex_lock(&c->lock);
	more = spool_reclaim(c, need) > 0 || reserve_release(c);
	pthread_mutex_unlock(&c->lock);
	return more;
}

/* Packs object ID (SIZE bytes as written; FORM of its steps' output, ""
 * for none: see step_form) if its flow compresses; PACKED gets the form
 * delivered ("" for the file itself, FORM for its last step's output). */
static int pack_object(struct cache *c, int64_t id, uint64_t size, const char *form,
		       const char *want, int level, bool keep_raw, char packed[8])
{
	char src[4096];
	int rc;

	cache_packed_path(c, id, form, src, sizeof(src));
	if (*packed) {	/* packed before a crash */
		if (!keep_raw) {
			pthread_mutex_lock(&c->lock);
			cache_unlink_data(c, id, DATA_RAW);	/* the raw copy was not yet gone */
			if (*form && strcmp(form, packed) != 0)
				unlink_counted(c, src);		/* nor its steps' output */
			pthread_mutex_unlock(&c->lock);
		}
		return 0;
	}
	if (strcmp(want, "none") == 0 && *form) {	/* delivered as its last step made it */
		pthread_mutex_lock(&c->lock);
		rc = RESERVE_RETRY(c, db_exec(c, "UPDATE objects SET packed = ? WHERE id = ?", "ti",
					      form, id));
		if (rc == 0 && !keep_raw)
			cache_unlink_data(c, id, DATA_RAW);
		pthread_mutex_unlock(&c->lock);
		if (rc == 0)
			snprintf(packed, 8, "%s", form);
		return rc;
	}
	if (strcmp(want, "none") == 0)
		return 0;
	rc = pack_compress(c, id, form, want, level, keep_raw);
	if (rc == -ENOSPC && pack_room(c, size))
		rc = pack_compress(c, id, form, want, level, keep_raw);
	if (rc == 0)
		snprintf(packed, 8, "%s", want);
	return rc;
}

static void seal_one(struct cache *c, int64_t id)
{
	struct prehashed pre = { 0 };
	struct packed pk = { 0 };
	struct objrow r;
	char path[4096], form[8] = "", want[8] = "", packed[8] = "";
	bool keep_raw = false, convert = false, steps = false;
	int fd, rc, level = 6;

	pthread_mutex_lock(&c->lock);
	rc = pack_plan(c, id, want, &level, &keep_raw, packed, &convert);
	if (rc == 0)
		rc = obj_by_id(c, id, &r);
	if (rc == 0)
		steps = obj_steps_pending(c, id);
	/* steps and records run under its visible name: held until a rename */
	if (rc == 0 && (steps || convert) && obj_hidden(c, id)) {
		rc = db_exec(c, "UPDATE objects SET state = 'held' WHERE id = ? AND state = 'sealing'",
			     "i", id);
		if (rc)
			seal_failed(c, id, "its held mark", rc);
		rc = -EINPROGRESS;
	} else if (rc == 0 && steps) {	/* steps first; then back here */
		steps_enqueue(c, id);
		rc = -EINPROGRESS;
	}
	if (rc == 0)
		step_form(c, id, form);
	c->packing = rc == 0;
	pthread_mutex_unlock(&c->lock);
	if (rc)
		return;
	if (convert) {	/* records: its outputs are packed in its stead */
		rc = convert_object(c, id);
		pthread_mutex_lock(&c->lock);
		c->packing = false;
		if (rc && rc != -ECANCELED) {
			cache_data_path(c, id, path, sizeof(path));
			seal_failed(c, id, path, rc);
		}
		pthread_cond_broadcast(&c->work_cond);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	rc = pack_object(c, id, r.size, form, want, level, keep_raw, packed);
	cache_packed_path(c, id, packed, path, sizeof(path));
	pthread_mutex_lock(&c->lock);
	if (!*packed)	/* the file as written: what was hashed while it was written counts */
		pre.n = early_take(c, id, &pre.whole, &pre.sha);
	pthread_mutex_unlock(&c->lock);
	if (rc == 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		rc = fd < 0 ? -errno : pack_fd(fd, c->part_size, &pk, &pre);
		if (fd >= 0)
			close(fd);
	}
	sha256_free(pre.whole);
	free(pre.sha);
	pthread_mutex_lock(&c->lock);
	c->packing = false;
	if (obj_by_id(c, id, &r) != 0 || strcmp(r.state, "sealing") != 0)
		goto out_unlock;	/* cancelled meanwhile */
	if (rc == 0)
		rc = RESERVE_RETRY(c, record_parts(c, id, &pk, *packed));
	if (rc == 0) {
		if (!*packed && pk.size != r.size)
			c->used = c->used + pk.size - r.size;
		rc = hold_or_queue(c, id);
	}
	if (rc)
		seal_failed(c, id, path, rc);
out_unlock:
	pthread_cond_broadcast(&c->work_cond);
	pthread_mutex_unlock(&c->lock);
	free(pk.parts);
}

void *packer_main(void *arg)
{
	struct cache *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->stopping && c->pack_n == 0)
			pthread_cond_wait(&c->pack_cond, &c->lock);
		if (c->stopping)
			break;	/* the rest stays 'sealing' and is sealed at the next mount */
		int64_t id = c->pack_q[0];
		memmove(c->pack_q, c->pack_q + 1, --c->pack_n * sizeof(*c->pack_q));
		c->packing = true;	/* in the same breath: never neither queued nor packing */
		pthread_mutex_unlock(&c->lock);
		seal_one(c, id);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}
