/*
 * cache/status.c - the JSON of the virtual files /.status, FLOW/.status and
 * FLOW/.flow.  Rendered when the file is opened; caller holds c->lock.
 * Secrets never appear: sink keys flagged CFG_SECRET are left out.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const char *const pub_states[] = { "staging", "queued", "delivered", "failed" };
static const char *const dlv_states[] = { "queued", "inflight", "delivered", "failed" };

static void json_ts(struct buf *b, double t)
{
	char ts[40];

	if (t <= 0) {
		buf_puts(b, "null");
		return;
	}
	ts_iso(t, ts, sizeof(ts));
	buf_json_str(b, ts);
}

static void json_counts(struct buf *b, const char *name, int64_t count, int64_t bytes, bool comma)
{
	buf_printf(b, "%s\"%s\":{\"count\":%lld,\"bytes\":%lld}", comma ? "," : "", name,
		   (long long)count, (long long)bytes);
}

/* Objects per public state; FLOW NULL: every flow. */
static int objects_json(struct cache *c, const struct flow *f, struct buf *b)
{
	int64_t count[4] = { 0 }, bytes[4] = { 0 };
	sqlite3_stmt *st;

	st = db_stmt(c, "SELECT state, count(*), coalesce(sum(size), 0) FROM objects "
		     "WHERE (?1 IS NULL OR flow = ?1) AND state NOT IN ('cancelled', 'discarded') "
		     "GROUP BY state", "t", f ? f->id : NULL);
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *s = state_public((const char *)sqlite3_column_text(st, 0));
		for (int i = 0; i < 4; i++) {
			if (strcmp(s, pub_states[i]) == 0) {
				count[i] += sqlite3_column_int64(st, 1);
				bytes[i] += sqlite3_column_int64(st, 2);
			}
		}
	}
	sqlite3_reset(st);
	buf_puts(b, "\"objects\":{");
	for (int i = 0; i < 4; i++)
		json_counts(b, pub_states[i], count[i], bytes[i], i > 0);
	buf_puts(b, "}");
	return 0;
}

static int sink_json(struct cache *c, const struct flow *f, const struct sink_slot *s, struct buf *b)
{
	int64_t count[4] = { 0 }, bytes[4] = { 0 };
	sqlite3_stmt *st;
	int64_t next;

	st = db_stmt(c, "SELECT d.state, count(*), coalesce(sum(o.size), 0) FROM deliveries d "
		     "JOIN objects o ON o.id = d.object WHERE d.sink = ?1 AND (?2 IS NULL OR o.flow = ?2) "
		     "GROUP BY d.state", "tt", s->sink->name, f ? f->id : NULL);
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 0);
		for (int i = 0; i < 4; i++) {
			if (strcmp(state, dlv_states[i]) == 0) {
				count[i] = sqlite3_column_int64(st, 1);
				bytes[i] = sqlite3_column_int64(st, 2);
			}
		}
	}
	sqlite3_reset(st);
	next = db_int(c, "SELECT CAST(min(d.next_try) * 1000 AS INT) FROM deliveries d "
		      "JOIN objects o ON o.id = d.object WHERE d.sink = ?1 AND d.state = 'queued' "
		      "AND d.attempts > 0 AND (?2 IS NULL OR o.flow = ?2)", "tt", s->sink->name,
		      f ? f->id : NULL);
	buf_json_str(b, s->sink->name);
	buf_printf(b, ":{\"type\":\"%s\"", s->sink->ops->type);
	for (int i = 0; i < 4; i++)
		json_counts(b, dlv_states[i], count[i], bytes[i], true);
	buf_puts(b, ",\"last_success\":");
	json_ts(b, s->last_success);
	buf_puts(b, ",\"last_error\":");
	buf_json_str(b, s->last_error);
	buf_puts(b, ",\"last_error_at\":");
	json_ts(b, s->last_error_at);
	buf_puts(b, ",\"next_retry\":");
	json_ts(b, next > 0 ? (double)next / 1000 : 0);
	buf_puts(b, "}");
	return 0;
}

/* The sinks of F (all sinks when F is NULL). */
static int sinks_json(struct cache *c, const struct flow *f, struct buf *b)
{
	bool first = true;
	int rc = 0;

	buf_puts(b, "\"sinks\":{");
	for (size_t i = 0; i < c->nsinks && rc == 0; i++) {
		bool used = !f;
		for (size_t k = 0; f && k < f->nsinks; k++)
			used |= strcmp(f->sinks[k], c->sinks[i].sink->name) == 0;
		if (!used)
			continue;
		if (!first)
			buf_puts(b, ",");
		first = false;
		rc = sink_json(c, f, &c->sinks[i], b);
	}
	buf_puts(b, "}");
	return rc;
}

#define FAILED_SHOWN 20

/* The latest failed files of F, each with why it is not delivered. */
static int failed_json(struct cache *c, const struct flow *f, struct buf *b)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT CASE WHEN o.dir = '' THEN o.name ELSE o.dir || '/' || "
				   "o.name END, " OBJ_WHY_FAILED " FROM objects o WHERE o.flow = ? AND "
				   "o.state = 'failed' ORDER BY o.id DESC LIMIT ?", "tn", f->id, FAILED_SHOWN);
	bool first = true;

	if (!st)
		return -EIO;
	buf_puts(b, "\"failed_files\":[");
	while (sqlite3_step(st) == SQLITE_ROW) {
		buf_puts(b, first ? "{\"path\":" : ",{\"path\":");
		buf_json_str(b, (const char *)sqlite3_column_text(st, 0));
		buf_puts(b, ",\"error\":");
		buf_json_str(b, (const char *)sqlite3_column_text(st, 1));
		buf_puts(b, "}");
		first = false;
	}
	sqlite3_reset(st);
	buf_puts(b, "]");
	return 0;
}

/* Records read, written and sent to errors (format != bytes): the flow's,
 * and per stream ("uploads" for the uploaded files). */
static int records_json(struct cache *c, const struct flow *f, struct buf *b)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT source, rin, rout, rerr FROM record_counts WHERE flow = ? "
				   "ORDER BY source", "t", f->id);
	int64_t sum[3] = { 0 };
	struct buf per;

	if (!st)
		return -EIO;
	buf_init(&per);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *src = (const char *)sqlite3_column_text(st, 0);

		for (int i = 0; i < 3; i++)
			sum[i] += sqlite3_column_int64(st, i + 1);
		buf_puts(&per, per.len ? "," : "");
		buf_json_str(&per, *src ? src : "uploads");
		buf_printf(&per, ":{\"in\":%lld,\"out\":%lld,\"errors\":%lld}",
			   (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2),
			   (long long)sqlite3_column_int64(st, 3));
	}
	sqlite3_reset(st);
	buf_printf(b, "\"records\":{\"in\":%lld,\"out\":%lld,\"errors\":%lld,\"sources\":{%s}}",
		   (long long)sum[0], (long long)sum[1], (long long)sum[2], per.len ? per.p : "");
	buf_free(&per);
	return per.oom ? -ENOMEM : 0;
}

int status_flow_json(struct cache *c, struct flow *f, struct buf *b)
{
	int rc;

	buf_puts(b, "{\"flow\":");
	buf_json_str(b, f->name);
	buf_puts(b, ",\"id\":");
	buf_json_str(b, f->id);
	buf_puts(b, ",");
	rc = objects_json(c, f, b);
	buf_puts(b, ",");
	if (rc == 0)
		rc = failed_json(c, f, b);
	buf_puts(b, ",");
	if (rc == 0)
		rc = records_json(c, f, b);
	buf_puts(b, ",");
	stream_status_json(c, f, b);
	buf_puts(b, ",");
	if (rc == 0)
		rc = sinks_json(c, f, b);
	buf_puts(b, "}");
	return rc;
}

int status_root_json(struct cache *c, struct buf *b)
{
	int rc;

	buf_printf(b, "{\"version\":\"%s\",\"pid\":%ld,\"spool\":{\"path\":", FLOWFS_VERSION,
		   (long)getpid());
	buf_json_str(b, c->spool);
	buf_printf(b, ",\"used\":%llu,\"reclaimable\":%llu,\"max\":%llu,\"disk_full\":%s},",
		   (unsigned long long)c->used, (unsigned long long)spool_reclaimable(c),
		   (unsigned long long)c->spool_max, c->space_low ? "true" : "false");
	rc = objects_json(c, NULL, b);
	buf_puts(b, ",");
	if (rc == 0)
		rc = sinks_json(c, NULL, b);
	buf_puts(b, ",\"flows\":{");
	for (struct flow *f = c->flows; f && rc == 0; f = f->next) {
		buf_json_str(b, f->name);
		buf_puts(b, ":{\"id\":");
		buf_json_str(b, f->id);
		buf_puts(b, ",");
		rc = objects_json(c, f, b);
		buf_puts(b, f->next ? "}," : "}");
	}
	buf_puts(b, "}}");
	return rc;
}

/* One sink of .flow: its name, type and every key that is not secret. */
static void flow_sink_json(const struct sink_slot *s, struct buf *b)
{
	const struct cfg_section *sec = s->sink->sec;

	buf_puts(b, "{\"name\":");
	buf_json_str(b, s->sink->name);
	for (size_t i = 0; i < sec->n; i++) {
		const struct cfg_entry *e = &sec->entries[i];
		if ((e->key->flags & CFG_SECRET) || !e->value)
			continue;
		buf_puts(b, ",");
		buf_json_str(b, e->key->name);
		buf_puts(b, ":");
		buf_json_str(b, e->value);
	}
	buf_puts(b, "}");
}

int flow_json(struct cache *c, struct flow *f, struct buf *b)
{
	static const char *const file_keys[] = { "rotate", "maxsize", "maxlines", "compress",
						  "compress_level", "filename", "durability" };

	buf_puts(b, "{\"id\":");
	buf_json_str(b, f->id);
	buf_puts(b, ",\"created\":");
	json_ts(b, f->created);
	buf_puts(b, ",\"updated\":");
	json_ts(b, f->updated);
	buf_puts(b, ",\"deleted\":null,\"name\":");
	buf_json_str(b, f->name);
	buf_printf(b, ",\"source\":\"%s\",\"transforms\":[{\"type\":\"file\"",
		   f->from_config ? "config" : "mkdir");
	for (size_t i = 0; i < sizeof(file_keys) / sizeof(file_keys[0]); i++) {
		buf_printf(b, ",\"%s\":", file_keys[i]);
		buf_json_str(b, cfg_str(f->sec, file_keys[i]));
	}
	buf_puts(b, "},{\"type\":\"upload\",\"uploads\":");
	buf_json_str(b, cfg_str(f->sec, "uploads"));
	buf_puts(b, ",\"compress\":");
	buf_json_str(b, cfg_str(f->sec, "upload_compress"));
	buf_puts(b, ",\"retain\":");
	buf_json_str(b, cfg_str(f->sec, "retain"));
	buf_puts(b, "}");
	for (size_t i = 0; i < f->nsteps; i++) {	/* its pipeline, in order */
		buf_puts(b, ",{\"type\":\"step\",\"name\":");
		buf_json_str(b, f->steps[i]->name);
		buf_puts(b, ",\"command\":");
		buf_json_str(b, cfg_str(cfg_find_transform(c->cfg, f->steps[i]->name), "command"));
		buf_printf(b, ",\"timeout\":%llu}", (unsigned long long)f->steps[i]->cmd.timeout);
	}
	buf_puts(b, "],\"sinks\":[");
	for (size_t i = 0; i < f->nsinks; i++) {
		struct sink_slot *s = sink_slot_find(c, f->sinks[i]);
		if (i)
			buf_puts(b, ",");
		if (s) {
			flow_sink_json(s, b);
		} else {
			buf_puts(b, "{\"name\":");
			buf_json_str(b, f->sinks[i]);
			buf_puts(b, ",\"error\":\"no sink of this name in the config\"}");
		}
	}
	buf_puts(b, "]}");
	return b->oom ? -ENOMEM : 0;
}
