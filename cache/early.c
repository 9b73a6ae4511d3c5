/*
 * cache/early.c - uploads sent while they are written: which part goes
 * next, and the hashes that come with it.
 *
 * Once an upload's writes end past a part_size boundary (and its flow
 * delivers it as written to a sink that can take parts early), it gets a
 * struct early.  Workers claim its whole parts one at a time, in order: the
 * worker that claims part K hashes it (one read, from the page cache), and
 * the SHA-256 of the whole file runs along, then sends it (worker.c) while
 * the next worker hashes part K+1.  Up to early_senders() workers send
 * parts of one upload at once; part 0 goes alone (it starts the upload).
 *
 * At the last close no part is claimed any more, and the packer takes the
 * hashes (early_take): it hashes only the bytes past them, instead of the
 * whole file again.  A write or truncate below what is hashed (or being
 * hashed) makes them stale; the packer then hashes everything, and a part
 * sent with bytes since changed is sent again after the close (worker.c
 * compares the hashes).  Only bytes on file are hashed: a part is whole
 * when it lies below oo->settled, the size at a moment no write was in
 * flight.
 *
 * Thread rules: everything under c->lock, but e->whole and the data file's
 * bytes, which the one worker with e->hashing set reads unlocked.  A
 * struct early is freed once it is closed, taken and no worker sends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/hash.h"
#include "../util/log.h"
#include "internal.h"

#define EARLY_MIN_PART (5u << 20)	/* S3's smallest part */
#define EARLY_MAX_PARTS 10000u		/* S3's most parts; the rest after the close */
#define EARLY_SENDERS 4			/* workers on one upload's parts at most */
#define HASH_CHUNK (1 << 20)

/* Workers that may send parts of one upload at once: all but one, so
 * other deliveries keep moving, and at most EARLY_SENDERS. */
static int early_senders(const struct cache *c)
{
	int n = c->nworkers > 1 ? c->nworkers - 1 : 1;

	return n < EARLY_SENDERS ? n : EARLY_SENDERS;
}

static bool early_wanted(struct cache *c, int64_t id)
{
	struct obj_vars ov;

	if (c->part_size < EARLY_MIN_PART || object_vars(c, id, &ov) != 0 || ov.chunk || ov.derived ||
	    !cfg_bool(ov.f->sec, "upload_early") ||
	    strcmp(ov.f->upload_compress, "none") != 0 || ov.f->nsteps || path_hidden(ov.rel) ||
	    convert_wanted(ov.f, ov.rel, false))
		return false;
	for (size_t i = 0; i < ov.f->nsinks; i++) {
		struct sink_slot *s = sink_slot_find(c, ov.f->sinks[i]);
		if (s && s->sink->ops->put_early)
			return true;
	}
	return false;
}

struct early *early_find(struct cache *c, int64_t id)
{
	for (struct early *e = c->early; e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

static struct early *early_new(struct cache *c, int64_t id)
{
	struct early *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->whole = sha256_new();
	if (!e->whole) {
		free(e);
		return NULL;
	}
	e->id = id;
	e->next = c->early;
	c->early = e;
	return e;
}

static void early_free(struct early *e)
{
	sha256_free(e->whole);
	free(e->sha);
	free(e);
}

/* Frees E once nobody needs it: closed, its hashes taken, no sender. */
static void early_gc(struct cache *c, struct early *e)
{
	if (!e->closed || !e->taken || e->senders || e->hashing)
		return;
	for (struct early **pp = &c->early; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	early_free(e);
}

void early_free_all(struct cache *c)
{
	while (c->early) {
		struct early *e = c->early;

		c->early = e->next;
		early_free(e);
	}
}

/* The bytes of E's file that are hashed, or being hashed. */
static uint64_t early_hashed_end(const struct cache *c, const struct early *e)
{
	return (e->hashed + (e->hashing ? 1 : 0)) * c->part_size;
}

/* A worker may send E's next hashed part now.  Part 0 goes alone: it
 * starts the upload.  After the last close, hashed parts still go while
 * a worker sends (or, HASHER, has just hashed one): the delivery waits for
 * them; once none sends, the rest is the delivery's. */
static bool early_can_send(const struct cache *c, const struct early *e, bool hasher)
{
	return !e->stopped && e->next_send < e->hashed && e->senders < early_senders(c) &&
	       (e->next_send == 0 ? e->senders == 0 : e->started) &&
	       (!e->closed || e->senders > 0 || hasher);
}

/* A worker may hash E's next part now: it is whole, on file. */
static bool early_can_hash(struct cache *c, const struct early *e)
{
	struct open_obj *oo = open_obj_find(c, e->id);

	return oo && oo->early > 0 && !e->closed && !e->stopped && !e->hashing &&
	       e->hashed < EARLY_MAX_PARTS && oo->settled / c->part_size > e->hashed;
}

void early_kick(struct cache *c, struct early *e)
{
	if (e->queued || !(early_can_send(c, e, false) || early_can_hash(c, e)) ||
	    !ids_push(&c->early_q, &c->early_n, &c->early_cap, e->id))
		return;
	e->queued = true;
	pthread_cond_signal(&c->work_cond);
}

void early_note(struct cache *c, struct open_obj *oo)
{
	struct early *e;

	if (oo->early < 0 || oo->settled < c->part_size)
		return;
	if (oo->early == 0)
		oo->early = early_wanted(c, oo->id) ? 1 : -1;
	if (oo->early < 0)
		return;
	e = early_find(c, oo->id);
	if (!e)
		e = early_new(c, oo->id);
	if (!e) {
		oo->early = -1;	/* out of memory: all of it after the close */
		return;
	}
	early_kick(c, e);
}

void early_wrote(struct cache *c, struct open_obj *oo, uint64_t off)
{
	struct early *e = early_find(c, oo->id);
	uint64_t was = oo->settled;

	if (--oo->writing == 0)
		oo->settled = oo->size;
	if (e && off < early_hashed_end(c, e))
		e->stale = true;	/* rewritten: hashed again at the seal */
	if (oo->settled / c->part_size > was / c->part_size)
		early_note(c, oo);	/* a part is whole: it may go now */
}

void early_truncated(struct cache *c, struct open_obj *oo, uint64_t size)
{
	struct early *e = early_find(c, oo->id);

	if (oo->writing == 0 || size < oo->settled)
		oo->settled = size;
	if (e && size < early_hashed_end(c, e))
		e->stale = true;
}

void early_closed(struct cache *c, int64_t id, bool sealed)
{
	struct early *e = early_find(c, id);

	if (!e)
		return;
	e->closed = true;
	if (!sealed)
		e->taken = true;	/* no seal will come for its hashes */
	early_gc(c, e);
}

/* Hashes E's next part, part and whole in one read; the lock is dropped
 * meanwhile.  0 or -errno (then no more parts go early). */
static int early_hash(struct cache *c, struct early *e)
{
	struct sha256 *part = sha256_new();
	char *buf = malloc(HASH_CHUNK), path[4096], hex[65];
	uint64_t k = e->hashed, off = k * c->part_size, done = 0;
	int fd, rc = part && buf ? 0 : -ENOMEM;

	e->hashing = true;
	cache_data_path(c, e->id, path, sizeof(path));
	pthread_mutex_unlock(&c->lock);
	fd = rc ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (rc == 0 && fd < 0)
		rc = -errno;
	while (rc == 0 && done < c->part_size) {
		size_t want = c->part_size - done < HASH_CHUNK ? (size_t)(c->part_size - done) : HASH_CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)(off + done));

		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		sha256_update(part, buf, (size_t)n);
		sha256_update(e->whole, buf, (size_t)n);
		done += (uint64_t)n;
	}
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		sha256_final_hex(part, hex);
	sha256_free(part);
	free(buf);
	pthread_mutex_lock(&c->lock);
	e->hashing = false;
	if (rc == 0 && e->cap <= k) {
		size_t ncap = e->cap ? e->cap * 2 : 64;
		char (*v)[65] = realloc(e->sha, ncap * sizeof(*v));

		rc = v ? 0 : -ENOMEM;
		if (v) {
			e->sha = v;
			e->cap = ncap;
		}
	}
	if (rc == 0) {
		memcpy(e->sha[k], hex, sizeof(hex));
		e->hashed = k + 1;
	} else {
		e->stopped = true;	/* the whole hash lacks this part: of no use */
		e->stale = true;
	}
	pthread_cond_broadcast(&c->work_cond);	/* a packer waiting for the hash */
	return rc;
}

int early_next(struct cache *c, int64_t id, uint64_t *k, char sha[65])
{
	struct early *e = early_find(c, id);
	int rc = -EAGAIN;

	if (!e)
		return -EAGAIN;
	e->queued = false;
	if (early_can_send(c, e, false)) {
		rc = 1;
	} else if (early_can_hash(c, e)) {
		rc = early_hash(c, e);	/* e stays: early_gc spares it while hashing */
		if (rc == 0 && early_can_send(c, e, true))
			rc = 1;		/* what it hashed (or an older one) goes now */
	}
	if (rc == 1) {
		*k = e->next_send++;
		memcpy(sha, e->sha[*k], 65);
		e->senders++;
	}
	early_kick(c, e);	/* more for another worker */
	early_gc(c, e);
	return rc;
}

bool early_release(struct cache *c, int64_t id, uint64_t k, bool sent)
{
	struct early *e = early_find(c, id);
	bool last;

	if (!e)
		return true;
	if (!sent)
		e->stopped = true;
	if (k == 0)
		e->started = true;	/* the upload exists: others may send too */
	last = --e->senders == 0;
	early_kick(c, e);
	early_gc(c, e);
	return last;
}

void early_stop(struct cache *c, int64_t id)
{
	struct early *e = early_find(c, id);

	if (e)
		e->stopped = true;
}

uint64_t early_take(struct cache *c, int64_t id, struct sha256 **whole, char (**sha)[65])
{
	struct early *e = early_find(c, id);
	uint64_t n = 0;

	*whole = NULL;
	*sha = NULL;
	while (e && e->hashing) {	/* a part is half hashed: at most one part's time */
		pthread_cond_wait(&c->work_cond, &c->lock);
		e = early_find(c, id);
	}
	if (!e || e->taken)
		return 0;
	e->closed = true;
	e->taken = true;
	if (!e->stale && e->hashed && (*sha = malloc(e->hashed * sizeof(**sha)))) {
		n = e->hashed;	/* copied: workers still send from e->sha */
		memcpy(*sha, e->sha, n * sizeof(**sha));
		*whole = e->whole;
		e->whole = NULL;
	}
	early_gc(c, e);
	return n;
}
