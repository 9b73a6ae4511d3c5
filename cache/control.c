/*
 * cache/control.c - /.flowctl, the control file flowctl talks through.
 *
 * A handle on /.flowctl takes one command per write() and keeps the answer
 * for the following reads (pread at offset 0).  Answers start with "ok" or
 * "error".  Commands:
 *   rotate [FLOW]   seal the open chunks of every stream (of FLOW)
 *   retry [FLOW]    queue failed deliveries again; objects a pipeline step
 *                   failed run again from that step
 *   clean-history FLOW|- DAYS
 *                   delete step runs at least DAYS old (of FLOW, or all)
 *   mark            rotate everything; answer "ok mark N": N is the newest
 *                   object id, what `pending N` waits for
 *   pending N       "ok pending P failed F" then one line per object left
 *   status          a readable table of flows, streams and sinks
 * Going through the mount means flowctl needs no socket, and permissions
 * are those of the mount.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int cmd_retry(struct cache *c, const char *flow, struct buf *a)
{
	struct flow *f = flow ? flow_find(c, flow) : NULL;
	sqlite3_stmt *st;
	int64_t ids[512], *stepped;
	size_t n = 0, total = 0;

	if (flow && !f) {
		buf_printf(a, "error no flow named %s\n", flow);
		return -ENOENT;
	}
	do {
		n = 0;
		st = db_stmt(c, "SELECT DISTINCT d.object FROM deliveries d JOIN objects o ON o.id = d.object "
			     "WHERE d.state = 'failed' AND (?1 IS NULL OR o.flow = ?1) LIMIT 512", "t",
			     f ? f->id : NULL);
		while (st && n < 512 && sqlite3_step(st) == SQLITE_ROW)
			ids[n++] = sqlite3_column_int64(st, 0);
		if (st)
			sqlite3_reset(st);
		for (size_t i = 0; i < n; i++) {
			db_exec(c, "UPDATE deliveries SET state = 'queued', attempts = 0, next_try = 0 "
				"WHERE object = ? AND state = 'failed'", "i", ids[i]);
			object_update_state(c, ids[i]);
		}
		total += n;
	} while (n == 512);
	/* Objects a step failed run again from that step. */
	n = db_ids(c, db_stmt(c, "SELECT id FROM objects WHERE state = 'failed' AND fstep IS NOT NULL "
			      "AND (?1 IS NULL OR flow = ?1)", "t", f ? f->id : NULL), &stepped);
	for (size_t i = 0; i < n; i++) {
		if (db_exec(c, "UPDATE objects SET state = 'sealing', fstep = NULL, error = NULL "
			    "WHERE id = ?", "i", stepped[i]) == 0) {
			packer_enqueue(c, stepped[i]);
			total++;
		}
	}
	free(stepped);
	/* Deliveries waiting for their backoff are retried now too. */
	db_exec(c, "UPDATE deliveries SET next_try = 0 WHERE state = 'queued' AND object IN "
		"(SELECT id FROM objects WHERE ?1 IS NULL OR flow = ?1)", "t", f ? f->id : NULL);
	pthread_cond_broadcast(&c->work_cond);
	buf_printf(a, "ok requeued %zu\n", total);
	return 0;
}

static int cmd_pending(struct cache *c, int64_t mark, struct buf *a)
{
	int64_t pending = db_int(c, "SELECT count(*) FROM objects WHERE id <= ? AND state IN "
				 "('sealing', 'queued', 'split')", "i", mark);
	/* failed deliveries, which flowctl retry sends again; and files not
	 * delivered because a write failed (their writers got the error) */
	int64_t failed = db_int(c, "SELECT count(*) FROM objects WHERE id <= ? AND state = 'failed' "
				"AND (error IS NULL OR fstep IS NOT NULL)", "i", mark);
	int64_t rejected = db_int(c, "SELECT count(*) FROM objects WHERE id <= ? AND state = 'failed' "
				  "AND error IS NOT NULL AND fstep IS NULL", "i", mark);
	sqlite3_stmt *st;
	char ts[40];

	for (size_t i = 0; i < c->seal_retry_n; i++)	/* closed, not yet 'sealing' in the db */
		pending += c->seal_retry[i].id <= mark;
	pending += c->tails_kept != 0;	/* a closed writer's last bytes, not yet in a chunk */
	buf_printf(a, "ok pending %lld failed %lld rejected %lld\n", (long long)pending,
		   (long long)failed, (long long)rejected);
	st = db_stmt(c, "SELECT f.name, CASE WHEN o.dir = '' THEN o.name ELSE o.dir || '/' || o.name END, "
		     "o.kind, o.state, d.sink, d.state, d.last_error, d.next_try, d.attempts, o.error "
		     "FROM objects o JOIN flows f ON f.id = o.flow "
		     "LEFT JOIN deliveries d ON d.object = o.id AND d.state != 'delivered' "
		     "WHERE o.id <= ? AND o.state IN ('sealing', 'queued', 'split', 'failed') "
		     "ORDER BY o.id LIMIT 20", "i", mark);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *err = (const char *)sqlite3_column_text(st, 6);
		double next = sqlite3_column_double(st, 7);

		ts_iso(next, ts, sizeof(ts));
		if (sqlite3_column_text(st, 9)) {
			buf_printf(a, "%s/%s (%s) not delivered: %s\n", sqlite3_column_text(st, 0),
				   sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
				   sqlite3_column_text(st, 9));
			continue;
		}
		buf_printf(a, "%s/%s (%s) %s: sink %s %s%s%s%s%s\n", sqlite3_column_text(st, 0),
			   sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
			   sqlite3_column_text(st, 3),
			   sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "-",
			   sqlite3_column_text(st, 5) ? (const char *)sqlite3_column_text(st, 5) : "packing",
			   err ? ": " : "", err ? err : "",
			   sqlite3_column_int(st, 8) > 0 && next > 0 ? ", next retry " : "",
			   sqlite3_column_int(st, 8) > 0 && next > 0 ? ts : "");
	}
	if (st)
		sqlite3_reset(st);
	return 0;
}

static void table_flows(struct cache *c, struct buf *a)
{
	buf_printf(a, "%-20s %-12s %8s %8s %10s %8s %14s\n", "FLOW", "ID", "STAGING", "QUEUED",
		   "DELIVERED", "FAILED", "QUEUED_BYTES");
	for (struct flow *f = c->flows; f; f = f->next) {
		int64_t n[4];
		static const char *const q[] = {
			"SELECT count(*) FROM objects WHERE flow = ? AND state IN ('staging', 'held') AND kind = 'upload'",
			"SELECT count(*) FROM objects WHERE flow = ? AND state IN ('sealing', 'queued', 'split') "
			"AND kind != 'derived'",
			"SELECT count(*) FROM objects WHERE flow = ? AND state = 'delivered' AND kind != 'derived'",
			"SELECT count(*) FROM objects WHERE flow = ? AND state = 'failed' AND kind != 'derived'",
		};
		for (int i = 0; i < 4; i++)
			n[i] = db_int(c, q[i], "t", f->id);
		buf_printf(a, "%-20s %-12s %8lld %8lld %10lld %8lld %14lld\n", f->name, f->id,
			   (long long)n[0], (long long)n[1], (long long)n[2], (long long)n[3],
			   (long long)db_int(c, "SELECT coalesce(sum(size), 0) FROM objects WHERE flow = ? "
					     "AND state IN ('sealing', 'queued')", "t", f->id));
	}
}

static void table_streams(struct cache *c, struct buf *a)
{
	double now = now_real();

	buf_printf(a, "\n%-32s %12s %10s %8s %8s %8s %10s\n", "STREAM", "OPEN_BYTES", "LINES",
		   "AGE_S", "SEALED", "QUEUED", "DELIVERED");
	for (struct stream *s = c->streams; s; s = s->next) {
		struct flow *f = flow_by_id(c, s->flow_id);
		char name[600];

		if (s->deleted || !f)
			continue;
		snprintf(name, sizeof(name), "%s/%s%s%s", f->name, s->dir, *s->dir ? "/" : "", s->name);
		buf_printf(a, "%-32s %12llu %10llu %8.0f %8llu %8lld %10lld\n", name,
			   (unsigned long long)s->bytes, (unsigned long long)s->lines,
			   s->chunk ? now - s->first : 0.0, (unsigned long long)s->sealed,
			   (long long)db_int(c, "SELECT count(*) FROM objects WHERE stream = ? AND state IN "
					     "('sealing', 'queued')", "i", s->id),
			   (long long)db_int(c, "SELECT count(*) FROM objects WHERE stream = ? AND "
					     "state = 'delivered'", "i", s->id));
	}
}

static void table_sinks(struct cache *c, struct buf *a)
{
	char ok[40], errat[40], next[40];

	buf_printf(a, "\n%-16s %-6s %7s %8s %10s %7s  %-27s %-27s %s\n", "SINK", "TYPE", "QUEUED",
		   "INFLIGHT", "DELIVERED", "FAILED", "LAST_SUCCESS", "NEXT_RETRY", "LAST_ERROR");
	for (size_t i = 0; i < c->nsinks; i++) {
		struct sink_slot *s = &c->sinks[i];
		const char *name = s->sink->name;
		int64_t nt = db_int(c, "SELECT CAST(min(next_try) * 1000 AS INT) FROM deliveries WHERE "
				    "sink = ? AND state = 'queued' AND attempts > 0", "t", name);

		ts_iso(s->last_success, ok, sizeof(ok));
		ts_iso(s->last_error_at, errat, sizeof(errat));
		ts_iso(nt > 0 ? (double)nt / 1000 : 0, next, sizeof(next));
		buf_printf(a, "%-16s %-6s %7lld %8lld %10lld %7lld  %-27s %-27s %s%s%s%s\n", name,
			   s->sink->ops->type,
			   (long long)db_int(c, "SELECT count(*) FROM deliveries WHERE sink = ? AND state = 'queued'", "t", name),
			   (long long)db_int(c, "SELECT count(*) FROM deliveries WHERE sink = ? AND state = 'inflight'", "t", name),
			   (long long)db_int(c, "SELECT count(*) FROM deliveries WHERE sink = ? AND state = 'delivered'", "t", name),
			   (long long)db_int(c, "SELECT count(*) FROM deliveries WHERE sink = ? AND state = 'failed'", "t", name),
			   s->last_success > 0 ? ok : "-", nt > 0 ? next : "-",
			   s->last_error ? s->last_error : "-", s->last_error ? " (at " : "",
			   s->last_error ? errat : "", s->last_error ? ")" : "");
	}
}

/* "FLOW|- DAYS": the runs of FLOW (or "-": all) at least DAYS old go. */
static int cmd_clean_history(struct cache *c, const char *arg, struct buf *a)
{
	char flow[128];
	double days = -1;
	struct flow *f = NULL;
	int64_t n;

	if (sscanf(arg, "%127s %lf", flow, &days) != 2 || days < 0) {
		buf_puts(a, "error usage: clean-history FLOW|- DAYS\n");
		return -EINVAL;
	}
	if (strcmp(flow, "-") != 0 && !(f = flow_find(c, flow))) {
		buf_printf(a, "error no flow named %s\n", flow);
		return -ENOENT;
	}
	n = history_clean(c, f, days);
	if (n < 0) {
		buf_puts(a, "error the spool database refuses the delete\n");
		return -EIO;
	}
	buf_printf(a, "ok removed %lld\n", (long long)n);
	return 0;
}

int control_command(struct cache *c, const char *cmd, size_t len, struct buf *a)
{
	char line[256], *arg;
	int rc = 0;

	if (len >= sizeof(line) || memchr(cmd, '\0', len)) {
		buf_puts(a, "error command too long\n");
		return -EINVAL;
	}
	memcpy(line, cmd, len);
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (arg && !*arg)
		arg = NULL;
	if (strcmp(line, "rotate") == 0 || strcmp(line, "mark") == 0) {
		int n = streams_rotate(c, arg, false);	/* takes the locks itself */
		pthread_mutex_lock(&c->lock);
		if (strcmp(line, "mark") == 0)
			buf_printf(a, "ok mark %lld\n", (long long)db_int(c, "SELECT coalesce(max(id), 0) FROM objects", NULL));
		else
			buf_printf(a, "ok sealed %d\n", n);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	if (strcmp(line, "retry") == 0) {
		rc = cmd_retry(c, arg, a);
	} else if (strcmp(line, "pending") == 0 && arg) {
		rc = cmd_pending(c, strtoll(arg, NULL, 10), a);
	} else if (strcmp(line, "clean-history") == 0 && arg) {
		rc = cmd_clean_history(c, arg, a);
	} else if (strcmp(line, "status") == 0) {
		buf_puts(a, "ok\n");
		table_flows(c, a);
		table_streams(c, a);
		table_sinks(c, a);
		if (c->space_low)
			buf_printf(a, "\nspool %s: its file system is full; writes get ENOSPC until "
				   "deliveries free room\n", c->spool);
	} else {
		buf_printf(a, "error unknown command '%s' (rotate, retry, mark, pending, status, clean-history)\n", line);
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

ssize_t control_write(struct cache_file *f, const char *buf, size_t size)
{
	struct buf a;

	buf_init(&a);
	control_command(f->c, buf, size, &a);
	free(f->vdata);
	f->vdata = buf_steal(&a, &f->vlen);
	return f->vdata ? (ssize_t)size : -ENOMEM;
}
