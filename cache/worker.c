/*
 * cache/worker.c - delivery workers and the timer.
 *
 * A fixed pool of c->nworkers threads (as redis' bio.c): each waits on
 * c->work_cond, claims the oldest due delivery (state queued, next_try
 * passed, and no delivery of the same flow path to the same sink in flight,
 * so an older version never lands after a newer one), marks it inflight,
 * drops the lock and calls the sink.  Each worker owns its struct sink_io.
 * Results: delivered; -EAGAIN queued again after an exponential backoff with
 * jitter capped at retry_max (or after the server's Retry-After, when it
 * gave one); anything else failed for good (flowctl retry
 * re-queues it).  When every delivery of an object is delivered, its data
 * file is removed.
 *
 * The timer wakes every second: delivered objects older than their flow's
 * `retain` leave the listing, stream chunks older than `rotate` are sealed
 * (even when nobody writes), and workers re-check their retry clocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/hash.h"
#include "../util/log.h"
#include "internal.h"
#include "readside.h"

struct job;

struct job_resume {
	struct sink_resume r;
	struct cache *c;
	struct job *j;
	char *upload_id;
	char **part_ids;	/* [nparts] */
};

struct job {
	int64_t id;
	char sink[64];
	struct sink_slot *slot;
	char key[4096];
	char data[4096];
	char flow[64];
	struct sink_object o;
	struct sink_part *parts;
	struct sink_meta *meta;
	int attempts;
	struct job_resume res;
};

static int resume_save_upload(struct sink_resume *r, const char *upload_id)
{
	struct job_resume *jr = r->arg;
	struct cache *c = jr->c;
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = db_exec(c, "UPDATE deliveries SET upload_id = ? WHERE object = ? AND sink = ?", "tit",
		     upload_id, jr->j->id, jr->j->sink);
	if (rc == 0)
		rc = db_exec(c, "DELETE FROM part_ids WHERE object = ? AND sink = ?", "it", jr->j->id,
			     jr->j->sink);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static int resume_save_part(struct sink_resume *r, size_t idx, const char *part_id)
{
	struct job_resume *jr = r->arg;
	struct cache *c = jr->c;
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = db_exec(c, "INSERT OR REPLACE INTO part_ids(object, sink, idx, part_id, sha256) "
		     "VALUES (?, ?, ?, ?, ?)", "ititt", jr->j->id, jr->j->sink, (int64_t)idx, part_id,
		     idx < jr->j->o.nparts ? jr->j->o.parts[idx].sha256 : NULL);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* What earlier attempts saved of a multipart upload: its id and, with
 * PARTS, the ids of the parts it holds; lock held. */
static int job_resume(struct cache *c, struct job *j, bool parts)
{
	struct job_resume *jr = &j->res;
	sqlite3_stmt *st;

	jr->c = c;
	jr->j = j;
	jr->r.arg = jr;
	jr->r.save_upload = resume_save_upload;
	jr->r.save_part = resume_save_part;
	jr->part_ids = calloc(j->o.nparts, sizeof(*jr->part_ids));
	if (!jr->part_ids)
		return -ENOMEM;
	st = db_stmt(c, "SELECT upload_id FROM deliveries WHERE object = ? AND sink = ?", "it", j->id, j->sink);
	if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		jr->upload_id = strdup((const char *)sqlite3_column_text(st, 0));
	if (st)
		sqlite3_reset(st);
	st = !parts ? NULL :
	     db_stmt(c, "SELECT idx, part_id, sha256 FROM part_ids WHERE object = ? AND sink = ?", "it",
		     j->id, j->sink);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		int64_t idx = sqlite3_column_int64(st, 0);
		const char *sha = (const char *)sqlite3_column_text(st, 2);

		/* a part sent while the file was written, then rewritten: sent
		 * again under its number (early parts not hashed yet: as saved) */
		if (idx >= 0 && (size_t)idx < j->o.nparts &&
		    (!sha || !j->o.parts[idx].sha256[0] || strcmp(sha, j->o.parts[idx].sha256) == 0))
			jr->part_ids[idx] = strdup((const char *)sqlite3_column_text(st, 1));
	}
	if (st)
		sqlite3_reset(st);
	jr->r.upload_id = jr->upload_id;
	jr->r.part_ids = (const char *const *)jr->part_ids;
	j->o.resume = &jr->r;
	return 0;
}

static void job_free(struct job *j)
{
	for (size_t i = 0; j->res.part_ids && i < j->o.nparts; i++)
		free(j->res.part_ids[i]);
	free(j->res.part_ids);
	free(j->res.upload_id);
	for (size_t i = 0; i < j->o.nmeta; i++) {
		free((char *)j->meta[i].name);
		free((char *)j->meta[i].value);
	}
	free(j->meta);
	free(j->parts);
}

static int job_parts(struct cache *c, struct job *j)
{
	sqlite3_stmt *st;
	size_t n = (size_t)db_int(c, "SELECT count(*) FROM parts WHERE object = ?", "i", j->id);

	j->parts = calloc(n ? n : 1, sizeof(*j->parts));
	if (!j->parts)
		return -ENOMEM;
	st = db_stmt(c, "SELECT off, len, sha256 FROM parts WHERE object = ? ORDER BY idx", "i", j->id);
	while (st && j->o.nparts < n && sqlite3_step(st) == SQLITE_ROW) {
		struct sink_part *p = &j->parts[j->o.nparts++];
		p->offset = (uint64_t)sqlite3_column_int64(st, 0);
		p->length = (uint64_t)sqlite3_column_int64(st, 1);
		snprintf(p->sha256, sizeof(p->sha256), "%s", sqlite3_column_text(st, 2));
	}
	if (st)
		sqlite3_reset(st);
	j->o.parts = j->parts;
	return j->o.nparts ? 0 : -EIO;
}

static int job_meta(struct cache *c, struct job *j)
{
	sqlite3_stmt *st;
	size_t n = (size_t)db_int(c, "SELECT count(*) FROM xmeta WHERE object = ?", "i", j->id);

	j->meta = calloc(n ? n : 1, sizeof(*j->meta));
	if (!j->meta)
		return -ENOMEM;
	st = db_stmt(c, "SELECT name, value FROM xmeta WHERE object = ? ORDER BY name", "i", j->id);
	while (st && j->o.nmeta < n && sqlite3_step(st) == SQLITE_ROW) {
		struct sink_meta *m = &j->meta[j->o.nmeta++];
		m->name = strdup((const char *)sqlite3_column_text(st, 0));
		m->value = strndup(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
	}
	if (st)
		sqlite3_reset(st);
	j->o.meta = j->meta;
	return 0;
}

/* The key of J's object for J's sink: prefix + the rendered key (+ the
 * compression suffix when it does not end with it). */
static int job_key(struct job *j, const char *key, const char *packed)
{
	size_t plen = (size_t)snprintf(j->key, sizeof(j->key), "%s", j->slot->sink->prefix);
	size_t klen, slen = packed[0] == 's' ? 0 : strlen(packed);	/* "s2": a step's output */

	if (plen + strlen(key) >= sizeof(j->key))
		return -ENAMETOOLONG;
	snprintf(j->key + plen, sizeof(j->key) - plen, "%s", key);
	if (!slen)
		return 0;
	klen = strlen(j->key);
	if (klen > slen && j->key[klen - slen - 1] == '.' && strcmp(j->key + klen - slen, packed) == 0)
		return 0;
	if (klen + slen + 2 > sizeof(j->key))
		return -ENAMETOOLONG;
	snprintf(j->key + klen, sizeof(j->key) - klen, ".%s", packed);
	return 0;
}

int object_vars(struct cache *c, int64_t id, struct obj_vars *ov)
{
	sqlite3_stmt *st;
	int rc = -ENOENT;

	memset(ov, 0, sizeof(*ov));
	st = db_stmt(c, "SELECT flow, CASE WHEN dir = '' THEN name ELSE dir || '/' || name END, "
		     "coalesce(sealed, created), kind = 'derived', coalesce(part, 0), coalesce(seq, 0), "
		     "created, stream IS NOT NULL FROM objects WHERE id = ?", "i", id);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		ov->f = flow_by_id(c, (const char *)sqlite3_column_text(st, 0));
		snprintf(ov->rel, sizeof(ov->rel), "%s", sqlite3_column_text(st, 1));
		ov->v.t = (time_t)sqlite3_column_double(st, 2);
		ov->chunk = sqlite3_column_int(st, 7) != 0;
		ov->derived = sqlite3_column_int(st, 3) != 0;
		ov->v.part = (uint64_t)sqlite3_column_int64(st, 4);
		ov->v.seq = (uint64_t)sqlite3_column_int64(st, 5);
		if (ov->chunk)	/* a chunk is named for the time of its first line */
			ov->v.t = (time_t)sqlite3_column_double(st, 6);
		rc = 0;
	}
	if (st)
		sqlite3_reset(st);
	if (rc || !ov->f)
		return -ENOENT;
	gethostname(ov->host, sizeof(ov->host) - 1);
	ov->v.flow = ov->f->name;
	ov->v.flowid = ov->f->id;
	ov->v.path = ov->rel;
	ov->v.stream = ov->chunk ? ov->rel : "";	/* sub/app.log: "sub_app.log", unique in the flow */
	ov->v.host = ov->host;
	return 0;
}

int object_key(const struct obj_vars *ov, char *out, size_t outlen, char *err, size_t errlen)
{
	int rc = tmpl_render(cfg_str(ov->f->sec, ov->chunk ? "filename" : "uploads"), &ov->v, out, outlen);

	if (rc)
		snprintf(err, errlen, "%s template gives %s for %.300s", ov->chunk ? "filename" : "uploads",
			 rc == -ENAMETOOLONG ? "a key too long (File name too long)" : "no valid key",
			 ov->rel);
	return rc == -ENAMETOOLONG ? rc : rc ? -EINVAL : 0;
}

/* ---- uploads sent while they are written ----
 *
 * Once an upload's writes end past a part_size boundary, workers send its
 * whole parts as parts of a multipart upload, each part by the worker that
 * claimed and hashed it (early.c), several at once: the delivery row exists
 * early (state 'early', 'sending' while workers send), with the upload id,
 * the key and the path it was started for; part_ids keeps each part's id
 * and hash.  After the last close the usual delivery resumes it: parts
 * whose hash still matches are not sent again, a rewritten one is sent
 * again under its number, and the Complete makes the object appear, whole.
 * The key is the one the upload started with, unless the file was renamed
 * (then it starts over under the new name).  Only for an upload delivered
 * as written: no compression, steps or records, a visible name, sinks that
 * can (ops->put_early), part_size of at least 5 MiB.
 */

/* Object ID's upload to SINK (NULL: to every sink) started while it was
 * written is dropped: its upload id and its parts' ids.  Lock held. */
static void early_drop(struct cache *c, int64_t id, const char *sink)
{
	db_exec(c, "DELETE FROM part_ids WHERE object = ?1 AND (?2 IS NULL OR sink = ?2)", "it", id, sink);
	db_exec(c, "UPDATE deliveries SET upload_id = NULL, early_rel = NULL WHERE object = ?1 AND "
		"(?2 IS NULL OR sink = ?2)", "it", id, sink);
}

void early_forget(struct cache *c, int64_t id)
{
	struct open_obj *oo = open_obj_find(c, id);

	if (oo)
		oo->early = -1;
	early_stop(c, id);
	if (db_int(c, "SELECT count(*) FROM deliveries WHERE object = ? AND early_rel IS NOT NULL",
		   "i", id) == 0)
		return;
	early_drop(c, id, NULL);
	db_exec(c, "DELETE FROM deliveries WHERE object = ? AND state IN ('early', 'sending')", "i", id);
}

/* At delivery: an upload started while the file was written keeps its key,
 * unless the file was renamed since (then it starts over).  Lock held. */
static void early_key(struct cache *c, struct job *j, const char *rel)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT key, early_rel FROM deliveries WHERE object = ? AND "
				   "sink = ? AND early_rel IS NOT NULL", "it", j->id, j->sink);
	bool same = false, early = false;

	if (st && sqlite3_step(st) == SQLITE_ROW) {
		early = true;
		same = sqlite3_column_text(st, 0) && strcmp((const char *)sqlite3_column_text(st, 1), rel) == 0;
		if (same)
			snprintf(j->key, sizeof(j->key), "%s", sqlite3_column_text(st, 0));
	}
	if (st)
		sqlite3_reset(st);
	if (early && !same) {
		log_info(j->slot ? j->slot->sink->name : "spool", "%s: renamed while it was uploaded: "
			 "sent again whole", j->key);
		early_drop(c, j->id, j->sink);
	}
}

/* No worker sends object ID's parts any more: its rows wait for the next
 * whole part ('early'), or, when the file was closed and queued meanwhile,
 * are queued.  Lock held. */
static void early_done(struct cache *c, int64_t id)
{
	db_exec(c, "UPDATE deliveries SET state = CASE WHEN (SELECT state FROM objects WHERE id = ?1) "
		"= 'queued' THEN 'queued' ELSE 'early' END WHERE object = ?1 AND state = 'sending'",
		"i", id);
}

/* What an earlier part saved of the upload of J: its id.  Lock held. */
static int early_resume(struct cache *c, struct job *j)
{
	return job_resume(c, j, false);	/* the parts before o.early_from are not asked for */
}

/* Sends part K (hashed: SHA) of object ID to sink SLOT (KEY without the
 * prefix).  Lock held; dropped while sending. */
static int early_send(struct cache *c, struct sink_io *io, int64_t id, struct sink_slot *slot,
		      const char *flow, const char *key, const char *rel, uint64_t k, const char *sha,
		      const uint64_t *sent)
{
	struct job j;
	char err[1024] = "";
	uint64_t n = k + 1;
	int rc;

	memset(&j, 0, sizeof(j));
	j.id = id;
	j.slot = slot;
	snprintf(j.sink, sizeof(j.sink), "%s", slot->sink->name);
	snprintf(j.flow, sizeof(j.flow), "%s", flow);
	if (job_key(&j, key, "") != 0)
		return -ENAMETOOLONG;
	cache_data_path(c, id, j.data, sizeof(j.data));
	j.parts = calloc(n, sizeof(*j.parts));
	if (!j.parts)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		j.parts[i] = (struct sink_part){ .offset = i * c->part_size, .length = c->part_size };
	snprintf(j.parts[k].sha256, sizeof(j.parts[k].sha256), "%s", sha);
	/* hashed from the file as it was written: a write over it since makes
	 * the seal hash it again, and the part is sent again */
	j.parts[k].fresh = true;
	j.o = (struct sink_object){ .id = id, .flow = j.flow, .key = j.key, .data = j.data,
				    .size = n * c->part_size, .nparts = n, .parts = j.parts,
				    .content_type = sink_content_type(j.key), .early_from = k };
	rc = db_exec(c, "INSERT OR IGNORE INTO deliveries(object, sink, state, key, early_rel) "
		     "VALUES (?, ?, 'early', ?, ?)", "ittt", id, j.sink, j.key, rel);
	if (rc == 0)
		rc = db_exec(c, "UPDATE deliveries SET state = 'sending' WHERE object = ? AND sink = ? "
			     "AND state = 'early'", "it", id, j.sink);
	if (rc == 0)
		rc = job_meta(c, &j);
	if (rc == 0)
		rc = early_resume(c, &j);
	if (rc == 0) {
		pthread_mutex_unlock(&c->lock);
		rc = sink_put_early(slot->sink, io, &j.o, err, sizeof(err));
		pthread_mutex_lock(&c->lock);
	}
	if (rc)
		log_warn(slot->sink->name, "%s: sending parts while it is written stopped: %s; "
			 "the rest goes after the last close", j.key, err[0] ? err : "error");
	else
		log_debug(slot->sink->name, "%s: %llu parts sent while it is written", j.key,
			  (unsigned long long)(*sent + 1));
	job_free(&j);
	return rc;
}

/* The next upload in c->early_q: its next whole part hashed, and the next
 * hashed part to each sink that can take it.  Lock held. */
static void early_run(struct cache *c, struct sink_io *io)
{
	int64_t id = c->early_q[0];
	struct obj_vars ov;
	char key[4096], err[256], sha[65];
	uint64_t k;
	bool sent = true;
	struct early *e;
	int rc;

	memmove(c->early_q, c->early_q + 1, --c->early_n * sizeof(*c->early_q));
	while ((rc = early_next(c, id, &k, sha)) == 0)
		;		/* hashed one: the next may be ours to send */
	if (rc < 0)
		return;		/* closed, stopped, or another worker's turn */
	e = early_find(c, id);	/* kept while it has a sender */
	if (object_vars(c, id, &ov) != 0 || object_key(&ov, key, sizeof(key), err, sizeof(err)) != 0)
		sent = false;
	for (size_t i = 0; sent && i < ov.f->nsinks; i++) {
		struct sink_slot *s = sink_slot_find(c, ov.f->sinks[i]);

		if (s && s->sink->ops->put_early)
			sent = early_send(c, io, id, s, ov.f->name, key, ov.rel, k, sha, &e->sent) == 0;
	}
	if (sent)
		e->sent++;
	if (early_release(c, id, k, sent))
		early_done(c, id);
	pthread_cond_broadcast(&c->work_cond);	/* a delivery waiting for it */
}

/* Fills J from the database: the object, its key for J's sink, parts, meta. */
static int job_load(struct cache *c, struct job *j, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	struct obj_vars ov;
	char packed[8] = "", key[4096] = "";
	bool found = false, derived = false;
	int rc;

	st = db_stmt(c, "SELECT coalesce(psize, size), coalesce(psha256, sha256), mode, mtime, "
		     "coalesce(packed, ''), dkey FROM objects WHERE id = ?", "i", j->id);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		j->o.size = (uint64_t)sqlite3_column_int64(st, 0);
		snprintf(j->o.sha256, sizeof(j->o.sha256), "%s", sqlite3_column_text(st, 1));
		j->o.mode = (mode_t)sqlite3_column_int(st, 2);
		j->o.mtime = (time_t)sqlite3_column_double(st, 3);
		snprintf(packed, sizeof(packed), "%s", sqlite3_column_text(st, 4));
		derived = sqlite3_column_text(st, 5) != NULL;	/* made by records: key fixed */
		snprintf(key, sizeof(key), "%s", derived ? (const char *)sqlite3_column_text(st, 5) : "");
		found = true;
	}
	if (st)
		sqlite3_reset(st);
	if (!found || object_vars(c, j->id, &ov) != 0) {
		snprintf(err, errlen, "object %lld or its flow is gone", (long long)j->id);
		return -ENOENT;
	}
	snprintf(j->flow, sizeof(j->flow), "%s", ov.f->name);
	rc = derived ? 0 : object_key(&ov, key, sizeof(key), err, errlen);
	if (rc == 0 && job_key(j, key, packed) != 0) {
		snprintf(err, errlen, "a key too long (File name too long) for %.300s", ov.rel);
		rc = -ENAMETOOLONG;
	}
	if (rc)
		return rc;
	early_key(c, j, ov.rel);
	cache_packed_path(c, j->id, packed, j->data, sizeof(j->data));
	j->o.id = j->id;
	j->o.flow = j->flow;
	j->o.key = j->key;
	j->o.data = j->data;
	j->o.content_type = sink_content_type(j->key);
	rc = job_parts(c, j);
	if (rc == 0)
		rc = job_meta(c, j);
	if (rc == 0)
		rc = job_resume(c, j, true);
	if (rc)
		snprintf(err, errlen, "object %lld: cannot read its parts from the spool", (long long)j->id);
	return rc;
}

static int mark_inflight(struct cache *c, const struct job *j)
{
	return db_exec(c, "UPDATE deliveries SET state = 'inflight' WHERE object = ? AND sink = ?",
		       "it", j->id, j->sink);
}

/* The next due delivery whose key no other is sending: read in the order
 * of the deliveries_queue index, never sorted (test_spool checks the plan). */
const char claim_sql[] =
	"SELECT d.object, d.sink, d.attempts FROM deliveries d JOIN objects o ON o.id = d.object "
	"WHERE d.state = 'queued' AND d.next_try <= ?1 AND NOT EXISTS ("
	"  SELECT 1 FROM deliveries d2 JOIN objects o2 ON o2.id = d2.object "
	"  WHERE d2.state IN ('inflight', 'sending') AND d2.sink = d.sink AND o2.flow = o.flow "
	"  AND o2.dir = o.dir AND o2.name = o.name) "
	"ORDER BY d.next_try, d.object LIMIT 1";

/* Claims the next due delivery into J; false if there is none.  Lock held. */
static bool claim(struct cache *c, struct job *j, double *next)
{
	sqlite3_stmt *st;
	double now = now_real();
	bool found = false;
	int rc;

	st = db_stmt(c, claim_sql, "d", now);
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		j->id = sqlite3_column_int64(st, 0);
		snprintf(j->sink, sizeof(j->sink), "%s", sqlite3_column_text(st, 1));
		j->attempts = sqlite3_column_int(st, 2);
		found = true;
	}
	if (st)
		sqlite3_reset(st);
	if (!found) {
		int64_t soon = db_int(c, "SELECT CAST(min(next_try) * 1000 AS INT) FROM deliveries "
				      "WHERE state = 'queued'", NULL);
		*next = soon > 0 ? (double)soon / 1000 : now + 1;
		return false;
	}
	/* a delivery the db cannot mark in flight is not sent: it would stay
	 * queued and be claimed again at once, over and over.  On a full disk
	 * the reserve is for this: delivering frees space. */
	rc = RESERVE_RETRY(c, mark_inflight(c, j));
	if (rc) {
		*next = now + 1;
		return false;
	}
	j->slot = sink_slot_find(c, j->sink);
	c->inflight++;
	return true;
}

static double backoff(struct cache *c, int attempts)
{
	double base = 1.0;

	for (int i = 1; i < attempts && base < (double)c->retry_max; i++)
		base *= 2;
	if (base > (double)c->retry_max)
		base = (double)c->retry_max;
	return base / 2 + base / 2 * ((double)rand() / RAND_MAX);
}

static void sink_error(struct cache *c, struct sink_slot *s, const char *err, double now)
{
	free(s->last_error);
	s->last_error = strdup(err);
	s->last_error_at = now;
	if (s->failing_since <= s->last_success)
		s->failing_since = now;	/* .health */
	db_exec(c, "INSERT INTO sinks(name, last_error, last_error_at) VALUES (?1, ?2, ?3) "
		"ON CONFLICT(name) DO UPDATE SET last_error = ?2, last_error_at = ?3",
		"ttd", s->sink->name, err, now);
}

/*
 * The outcome of one delivery as the database must hold it.  When the db
 * refuses it (an I/O error, a full disk), the outcome stays in
 * c->unrecorded and the timer writes it again every second: the row is
 * still 'inflight' meanwhile, so nothing claims it twice, and a restart
 * before then simply sends it again (keys are deterministic).
 */
struct outcome {
	struct outcome *next;
	int64_t id;
	char sink[64];
	char *key;		/* delivered under this key */
	char *err;		/* or failed with this error */
	int rc;			/* 0, -EAGAIN (next_try) or permanent */
	double when, next_try;
};

static void outcome_free(struct outcome *o)
{
	if (!o)
		return;
	free(o->key);
	free(o->err);
	free(o);
}

/* Writes O to the db; lock held.  0 or the db's -errno. */
static int record_once(struct cache *c, const struct outcome *o)
{
	int rc;

	if (o->rc == 0) {
		rc = db_exec(c, "UPDATE deliveries SET state = 'delivered', done = ?, key = ?, "
			     "attempts = attempts + 1, last_error = NULL WHERE object = ? AND sink = ?",
			     "dtit", o->when, o->key, o->id, o->sink);
		if (rc == 0)
			db_exec(c, "INSERT INTO sinks(name, last_success) VALUES (?1, ?2) "
				"ON CONFLICT(name) DO UPDATE SET last_success = ?2", "td", o->sink, o->when);
		if (rc == 0)
			db_exec(c, "DELETE FROM part_ids WHERE object = ? AND sink = ?", "it", o->id, o->sink);
	} else if (o->rc == -EAGAIN) {
		rc = db_exec(c, "UPDATE deliveries SET state = 'queued', attempts = attempts + 1, "
			     "next_try = ?, last_error = ? WHERE object = ? AND sink = ?",
			     "dtit", o->next_try, o->err, o->id, o->sink);
	} else {
		rc = db_exec(c, "UPDATE deliveries SET state = 'failed', attempts = attempts + 1, "
			     "last_error = ? WHERE object = ? AND sink = ?", "tit", o->err, o->id, o->sink);
	}
	if (rc == 0)
		rc = object_update_state(c, o->id);
	return rc;	/* kept and written again: the same rows, the same end */
}

/* Writes the first outcomes of c->unrecorded in one transaction, each in a
 * savepoint of its own, up to the first the db refuses: on a full disk
 * they share their pages (one delivery_log leaf, one deliveries leaf)
 * where one transaction each would write every page again.  How many were
 * written, or -errno if none was.  Lock held. */
static int record_batch(struct cache *c)
{
	int n = 0, rc = db_begin(c);

	for (struct outcome *o = c->unrecorded; rc == 0 && o; o = o->next) {
		rc = db_exec(c, "SAVEPOINT outcome", NULL);
		if (rc == 0 && (rc = record_once(c, o)) != 0 && !sqlite3_get_autocommit(c->db))
			db_exec(c, "ROLLBACK TO outcome", NULL);
		if (sqlite3_get_autocommit(c->db)) {
			/* the db rolled it all back: a full disk (SQLITE_FULL does
			 * that, even in a statement whose error record_once ignores) */
			n = 0;
			rc = rc ? rc : -ENOSPC;
			break;
		}
		db_exec(c, "RELEASE outcome", NULL);
		if (rc == 0)
			n++;
	}
	if (!sqlite3_get_autocommit(c->db)) {
		int e = db_end(c, n ? 0 : rc);

		if (e) {	/* the commit was refused (SQLITE_FULL: -ENOSPC) */
			n = 0;
			rc = rc ? rc : e;
		}
	}
	return n ? n : (rc ? rc : -EIO);
}

/* Writes the outcomes of c->unrecorded (recording frees space: the
 * reserve may go to it); what the db refuses waits for the timer, which
 * calls this every second.  Lock held. */
static void record_again(struct cache *c)
{
	const struct outcome *h = c->unrecorded;
	int n;

	if (!h)
		return;
	n = RESERVE_RETRY(c, record_batch(c));
	if (n < 0 && !c->unrecorded_logged && !c->space_low) {
		log_err("spool", "cannot record the outcome of %s for sink %s: kept, written again "
			"every second", h->key ? h->key : "an object", h->sink);
		c->unrecorded_logged = true;
	} else if (n < 0) {
		char eb[128];

		log_debug("spool", "the outcome of %s for sink %s: still refused (%s)",
			  h->key ? h->key : "an object", h->sink, log_errstr(n, eb, sizeof(eb)));
	}
	if (n < 0)
		return;		/* still refused: they wait, in order */
	while (n-- > 0) {
		struct outcome *o = c->unrecorded;

		if (c->unrecorded_logged)
			log_info("spool", "the outcome of %s for sink %s is recorded now",
				 o->key ? o->key : "an object", o->sink);
		c->unrecorded = o->next;
		outcome_free(o);
	}
	if (!c->unrecorded)
		c->unrecorded_logged = false;
	pthread_cond_broadcast(&c->work_cond);
}

void outcomes_free(struct cache *c)
{
	record_again(c);	/* a last try: what is still refused is sent again at the next start */
	while (c->unrecorded) {
		struct outcome *o = c->unrecorded;

		c->unrecorded = o->next;
		outcome_free(o);
	}
}

/* Keeps a copy of O in c->unrecorded, after the older ones (their order is
 * kept); false if out of memory.  Lock held. */
static bool keep_unrecorded(struct cache *c, const struct outcome *o)
{
	struct outcome *k = malloc(sizeof(*k)), **pp = &c->unrecorded;

	if (k) {
		*k = *o;
		k->next = NULL;
		k->key = o->key ? strdup(o->key) : NULL;
		k->err = o->err ? strdup(o->err) : NULL;
	}
	if (!k || (o->key && !k->key) || (o->err && !k->err)) {
		outcome_free(k);
		return false;
	}
	while (*pp)
		pp = &(*pp)->next;
	*pp = k;
	return true;
}

/* Records the outcome of J; lock held. */
static void finish(struct cache *c, struct job *j, int rc, const char *err, long retry_after)
{
	struct outcome o = { .id = j->id, .rc = rc, .key = j->key, .err = rc ? (char *)err : NULL };
	double now = now_real();
	char mod[96];

	snprintf(mod, sizeof(mod), "%s:%s", j->slot ? j->slot->sink->ops->type : "sink", j->sink);
	snprintf(o.sink, sizeof(o.sink), "%s", j->sink);
	o.when = now;
	c->inflight--;
	if (rc == 0) {
		j->slot->last_success = now;
		log_info(mod, "delivered %s (%llu bytes)", j->key, (unsigned long long)j->o.size);
	} else if (rc == -EAGAIN) {
		double delay = backoff(c, j->attempts + 1);
		if (retry_after > 0)	/* the server's word, within an hour */
			delay = retry_after < 3600 ? (double)retry_after : 3600.0;
		o.next_try = now + delay;
		if (j->slot)
			sink_error(c, j->slot, err, now);
		log_warn(mod, "%s: %s; retrying in %.1fs", j->key[0] ? j->key : "?", err, delay);
	} else {
		if (j->slot)
			sink_error(c, j->slot, err, now);
		log_err(mod, "%s: %s; failed permanently (flowctl retry re-queues it)",
			j->key[0] ? j->key : "?", err);
	}
	/* Every outcome is written from c->unrecorded, in order.  With the
	 * reserve given up only the timer writes them: one transaction a
	 * second, not one each (the WAL may not start over while the disk is
	 * full, so every page written takes room). */
	if (!keep_unrecorded(c, &o)) {
		if (RESERVE_RETRY(c, record_once(c, &o)) != 0)
			log_err("spool", "out of memory: the outcome of %s is recorded at the next "
				"start", o.key ? o.key : "an object");
	} else if (!c->space_low) {
		record_again(c);
	}
}

/* What delivered object ID no longer needs: its packed form; a listed
 * upload keeps its file as written, so it reads back until it leaves the
 * listing.  Lock held. */
static void delivered_drop(struct cache *c, int64_t id)
{
	cache_unlink_data(c, id, db_int(c, "SELECT count(*) FROM objects WHERE id = ? AND "
				       "kind = 'upload' AND listed = 1", "i", id) > 0 ? DATA_PACKED : DATA_ALL);
}

void parent_settle(struct cache *c, int64_t id)
{
	struct objrow r;
	int64_t children, pending, failed;
	const char *state;
	char why[1200] = "";
	sqlite3_stmt *st;

	if (obj_by_id(c, id, &r) != 0)
		return;
	children = db_int(c, "SELECT count(*) FROM objects WHERE parent = ?", "i", id);
	if (strcmp(r.state, "split") != 0 && !(strcmp(r.state, "failed") == 0 && children > 0))
		return;
	pending = db_int(c, "SELECT count(*) FROM objects WHERE parent = ? AND state IN "
			 "('staging', 'sealing', 'held', 'queued')", "i", id);
	failed = db_int(c, "SELECT count(*) FROM objects WHERE parent = ? AND state = 'failed'", "i", id);
	state = pending > 0 ? "split" : failed > 0 ? "failed" : "delivered";
	if (strcmp(state, r.state) == 0)
		return;
	st = db_stmt(c, "SELECT o.dkey || ': ' || coalesce(d.sink || ': ' || d.last_error, o.error, 'failed') "
		     "FROM objects o LEFT JOIN deliveries d ON d.object = o.id AND d.state = 'failed' "
		     "WHERE o.parent = ? AND o.state = 'failed' LIMIT 1", "i", id);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		snprintf(why, sizeof(why), "the object %s", sqlite3_column_text(st, 0));
	if (st)
		sqlite3_reset(st);
	if (db_exec(c, "UPDATE objects SET state = ?, done = ?, error = ? WHERE id = ?", "tdti", state,
		    pending > 0 ? 0.0 : now_real(), *why ? why : NULL, id) != 0)
		return;
	if (strcmp(state, "delivered") == 0)
		delivered_drop(c, id);
}

int object_update_state(struct cache *c, int64_t id)
{
	struct objrow r;
	int64_t pending, failed, parent;
	const char *state;
	int rc;

	if (obj_by_id(c, id, &r) != 0)
		return 0;
	if (db_int(c, "SELECT count(*) FROM objects WHERE parent = ?", "i", id) > 0) {
		parent_settle(c, id);	/* its outputs are delivered in its stead */
		return 0;
	}
	if (strcmp(r.state, "cancelled") == 0) {
		if (db_int(c, "SELECT count(*) FROM deliveries WHERE object = ? AND state = 'inflight'",
			   "i", id) == 0 && !open_obj_find(c, id))
			cache_unlink_data(c, id, DATA_ALL);
		return 0;
	}
	pending = db_int(c, "SELECT count(*) FROM deliveries WHERE object = ? AND state IN "
			 "('queued', 'inflight', 'sending')", "i", id);
	failed = db_int(c, "SELECT count(*) FROM deliveries WHERE object = ? AND state = 'failed'",
			"i", id);
	state = pending > 0 ? "queued" : failed > 0 ? "failed" : "delivered";
	if (strcmp(state, r.state) == 0)
		return 0;
	rc = readside_settle(c, id, state, pending > 0 ? 0.0 : now_real());	/* + delivery_log */
	if (rc == 0 && strcmp(state, "delivered") == 0)
		delivered_drop(c, id);	/* only once the row says so */
	parent = db_int(c, "SELECT parent FROM objects WHERE id = ?", "i", id);
	if (rc == 0 && parent > 0)
		parent_settle(c, parent);
	return rc;
}

void *worker_main(void *arg)
{
	struct cache *c = arg;
	struct sink_io *io = sink_io_new();

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		struct job j;
		char err[1024] = "";
		double next;
		int rc;

		memset(&j, 0, sizeof(j));
		if (c->early_n) {
			early_run(c, io);
			continue;
		}
		if (!claim(c, &j, &next)) {
			struct timespec ts = { .tv_sec = (time_t)next,
					       .tv_nsec = (long)((next - (double)(time_t)next) * 1e9) };
			double cap = now_real() + 1;
			if (next > cap) {
				ts.tv_sec = (time_t)cap;
				ts.tv_nsec = (long)((cap - (double)(time_t)cap) * 1e9);
			}
			pthread_cond_timedwait(&c->work_cond, &c->lock, &ts);
			continue;
		}
		rc = j.slot ? job_load(c, &j, err, sizeof(err)) : -ENOENT;
		if (!j.slot)
			snprintf(err, sizeof(err), "no sink named %s in the config", j.sink);
		if (rc == 0) {
			pthread_mutex_unlock(&c->lock);
			rc = sink_put(j.slot->sink, io, &j.o, err, sizeof(err));
			pthread_mutex_lock(&c->lock);
		}
		finish(c, &j, rc, err, rc == -EAGAIN ? sink_io_retry_after(io) : -1);
		job_free(&j);
		pthread_cond_broadcast(&c->work_cond);
	}
	pthread_mutex_unlock(&c->lock);
	sink_io_free(io);
	return NULL;
}

/* Delivered objects older than their flow's retain leave the listing. */
static void expire_listing(struct cache *c)
{
	double now = now_real();

	for (struct flow *f = c->flows; f; f = f->next) {
		int64_t *v;
		size_t n = db_ids(c, db_stmt(c, "SELECT id FROM objects INDEXED BY objects_reclaim "
					     "WHERE state = 'delivered' AND listed = 1 AND done < ?2 "
					     "AND flow = ?1", "td", f->id, now - (double)f->retain), &v);

		for (size_t i = 0; i < n && obj_unlist(c, v[i]) == 0; i++)
			;
		free(v);
	}
}

void *timer_main(void *arg)
{
	struct cache *c = arg;
	double last = 0, pruned = 0;
	bool idle;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		struct timespec ts;
		double now = now_real();

		if (now - last >= 1.0) {
			reserve_fill(c);
			record_again(c);
			packer_retry(c);
			steps_retry(c);
			if (now - pruned >= 60.0) {
				history_prune(c);
				pruned = now;
			}
			if (c->held_retry)
				held_release(c);
			expire_listing(c);
			readside_tick(c);
			pthread_cond_broadcast(&c->work_cond);
			/* spares are made while nothing is packed or sent, so that
			 * refilling does not slow the burst that emptied them */
			idle = c->pack_n == 0 && !c->packing && c->inflight == 0;
			pthread_mutex_unlock(&c->lock);
			streams_rotate(c, NULL, true);	/* chunks `rotate` old */
			if (idle && spare_idle(c, now))
				spare_fill(c, SPARE_BATCH);
			pthread_mutex_lock(&c->lock);
			if (c->tails_kept) {
				unsigned seen = c->tails_kept;
				bool done;

				pthread_mutex_unlock(&c->lock);
				done = tails_append(c);
				pthread_mutex_lock(&c->lock);
				if (done && c->tails_kept == seen)	/* none kept meanwhile */
					c->tails_kept = 0;
			}
			last = now;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&c->pack_cond, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}
