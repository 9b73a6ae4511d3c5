/*
 * cache/notify.c - delivery callbacks (`notify = SINK`, an http sink).
 *
 * readside_settle() queues a callback in the transaction that marks an
 * object delivered: a row of notifications with the Hub's group-callback
 * body {"name": FLOW, "uris": [...]}.  One thread (this file) sends them
 * through the sink's url with http_callback(): per sink, the oldest row
 * first and nothing after it until it is through, so callbacks arrive in
 * delivery order.  A 200 deletes the row; anything else (an error, a 4xx
 * or a 5xx) is retried after an exponential backoff with jitter capped at
 * retry_max (1 min by default, as the Hub's callbacks) or the server's
 * Retry-After.  The Idempotency-Key "flowfs-FLOWID-N" (N the row's id) is
 * the same on every retry and after a restart, so a receiver that saw a
 * request whose answer was lost (kill -9) can drop the repeat.
 *
 * Threads: the notifier holds c->lock except while it sends; it owns its
 * struct sink_io.  It waits on notify_cond() for at most a second.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "readside.h"

struct note {
	int64_t id;
	char flow[FLOW_ID_LEN + 1];
	struct sink_slot *slot;
	char *body;
	int attempts;
};

/* The head of SLOT's queue into N if it is due; else *NEXT lowered to when
 * it is.  Lock held. */
static bool note_head(struct cache *c, struct sink_slot *slot, struct note *n, double now, double *next)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT id, flow, body, attempts, next_try FROM notifications "
				   "WHERE sink = ? ORDER BY id LIMIT 1", "t", slot->sink->name);
	bool due = false;

	if (st && sqlite3_step(st) == SQLITE_ROW) {
		double at = sqlite3_column_double(st, 4);

		if (at <= now) {
			n->id = sqlite3_column_int64(st, 0);
			snprintf(n->flow, sizeof(n->flow), "%s", sqlite3_column_text(st, 1));
			n->body = strdup((const char *)sqlite3_column_text(st, 2));
			n->attempts = sqlite3_column_int(st, 3);
			n->slot = slot;
			due = n->body != NULL;
		} else if (at < *next) {
			*next = at;
		}
	}
	if (st)
		sqlite3_reset(st);
	return due;
}

/* The next due callback of any http sink, taking turns; lock held. */
static bool note_claim(struct cache *c, struct note *n, size_t *turn, double *next)
{
	double now = now_real();

	*next = now + 1;
	for (size_t k = 0; k < c->nsinks; k++) {
		struct sink_slot *slot = &c->sinks[(*turn + k) % c->nsinks];

		if (strcmp(slot->sink->ops->type, "http") != 0)
			continue;
		if (note_head(c, slot, n, now, next)) {
			*turn = (*turn + k + 1) % c->nsinks;
			return true;
		}
	}
	return false;
}

static double note_backoff(struct cache *c, int attempts, long retry_after)
{
	double base = 1.0, cap = (double)c->retry_max;

	if (retry_after > 0)
		return retry_after < 60 ? (double)retry_after : 60.0;
	for (int i = 1; i < attempts && base < cap; i++)
		base *= 2;
	if (base > cap)
		base = cap;
	return base / 2 + base / 2 * ((double)rand() / RAND_MAX);
}

/* Records the answer to N; lock held. */
static void note_finish(struct cache *c, struct note *n, int rc, const char *err, long retry_after)
{
	struct sink_slot *s = n->slot;
	double now = now_real(), delay;
	char mod[96];

	snprintf(mod, sizeof(mod), "http:%s", s->sink->name);
	if (rc == 0) {
		s->last_success = now;
		log_info(mod, "callback %lld delivered", (long long)n->id);
		if (db_exec(c, "DELETE FROM notifications WHERE id = ?", "i", n->id) != 0)
			log_warn(mod, "callback %lld: cannot forget it; it is sent again", (long long)n->id);
		return;
	}
	delay = note_backoff(c, n->attempts + 1, retry_after);
	free(s->last_error);
	s->last_error = strdup(err);
	s->last_error_at = now;
	if (s->failing_since <= s->last_success)
		s->failing_since = now;
	log_warn(mod, "callback %lld: %s; retrying in %.1fs", (long long)n->id, err, delay);
	db_exec(c, "UPDATE notifications SET attempts = attempts + 1, next_try = ?, last_error = ? "
		"WHERE id = ?", "dti", now + delay, err, n->id);
}

void *notify_main(void *arg)
{
	struct cache *c = arg;
	struct sink_io *io = sink_io_new();
	size_t turn = 0;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		struct note n;
		char err[1024] = "", idem[64];
		double next;
		int rc;

		memset(&n, 0, sizeof(n));
		if (!note_claim(c, &n, &turn, &next)) {
			struct timespec ts = { .tv_sec = (time_t)next,
					       .tv_nsec = (long)((next - (double)(time_t)next) * 1e9) };
			pthread_cond_timedwait(notify_cond(c), &c->lock, &ts);
			continue;
		}
		snprintf(idem, sizeof(idem), "flowfs-%s-%lld", n.flow, (long long)n.id);
		pthread_mutex_unlock(&c->lock);
		if (io)
			sink_io_set_retry_after(io, -1);
		rc = io ? http_callback(n.slot->sink, io, n.body, strlen(n.body), idem, err, sizeof(err))
			: -ENOMEM;
		if (!io)
			snprintf(err, sizeof(err), "out of memory");
		pthread_mutex_lock(&c->lock);
		note_finish(c, &n, rc, err, rc && io ? sink_io_retry_after(io) : -1);
		free(n.body);
	}
	pthread_mutex_unlock(&c->lock);
	sink_io_free(io);
	return NULL;
}
