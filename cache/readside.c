/*
 * cache/readside.c - the read side: deliveries by time, the latest one, a
 * live log of them, health and tags.
 *
 * When an object becomes delivered (every sink has it), readside_settle()
 * writes, in the transaction that marks it so, one row of delivery_log: its
 * JSON line (flow, key, path, size, sha256, delivered time, per sink the
 * URL a client fetches it from), the UTC minute and a name unique within
 * that minute.  FLOW/.time/YYYY/MM/DD/HH/MM/ and FLOW/.latest answer from
 * that table alone, by index: a directory of N entries costs one range
 * scan of N rows, a day or an hour one probe per child (skip-scan on
 * (flow, minute)), never the network.  The timer deletes rows older than
 * the flow's `history_keep`.  Objects leave the listing after `retain`;
 * their rows stay.
 *
 * FLOW/.events and /.events are logs kept in memory (struct rs_log), at
 * most `events_size` bytes each, seeded from delivery_log at mount.  Their
 * size grows with every line, a read at the end returns 0 (tail -f polls
 * the size), and a reader whose offset fell behind the oldest line kept
 * reads one {"missed": N} line, then goes on from the oldest line: its
 * handle remembers how far its offsets are from the log's (rs_handle.skip).
 *
 * Locking: rs->lock guards the logs and nothing else; it is taken alone
 * (readers of .events) or inside c->lock (delivery), and takes nothing,
 * so a slow reader never holds up a delivery for more than a memcpy.
 * Everything else here runs under c->lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../util/log.h"
#include "readside.h"

#define NAME_KEEP	200		/* bytes of a key kept in a .time name */
#define SEED_ROWS	50000		/* rows read back into the logs at mount */
#define TAG_MAX		48
#define TAGS_MAX	20
#define PRUNE_EVERY	60.0		/* seconds between two prunes of the log */
#define PRUNE_BATCH	5000

const char readside_schema[] =
	"CREATE TABLE IF NOT EXISTS delivery_log("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, flow TEXT NOT NULL, minute INT NOT NULL,"
	"  name TEXT NOT NULL, done REAL NOT NULL, object INT NOT NULL, line TEXT NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS delivery_log_name ON delivery_log(flow, minute, name);"
	"CREATE INDEX IF NOT EXISTS delivery_log_flow ON delivery_log(flow, id);"
	"CREATE TABLE IF NOT EXISTS notifications("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, flow TEXT NOT NULL, sink TEXT NOT NULL,"
	"  object INT NOT NULL, body TEXT NOT NULL, attempts INT NOT NULL DEFAULT 0,"
	"  next_try REAL NOT NULL DEFAULT 0, last_error TEXT, created REAL NOT NULL);"
	"CREATE INDEX IF NOT EXISTS notifications_sink ON notifications(sink, id);";

struct rs_log {				/* FLOW/.events, or /.events (flow "") */
	char flow[FLOW_ID_LEN + 1];
	char *buf;			/* the bytes [start, end) of the log */
	size_t cap;
	uint64_t start, end;		/* offsets of the log held */
	uint64_t start_line;		/* lines that left before start */
	double mtime;			/* of the last line */
	struct rs_log *next;
};

struct readside {
	pthread_mutex_t lock;		/* guards logs (see the top of the file) */
	struct rs_log *logs;		/* protected by lock */
	size_t max;			/* events_size */
	pthread_cond_t notify_cond;	/* callbacks queued, or stop; with c->lock */
	pthread_t notifier;
	bool notifier_started;
	double pruned;			/* last prune; protected by c->lock */
};

struct rs_handle {			/* an open .events */
	char flow[FLOW_ID_LEN + 1];
	uint64_t skip;			/* log offset = handle offset + skip */
	uint64_t next_off;		/* log offset after the last read */
	uint64_t next_line;		/* lines before next_off */
};

/* ---- config ---- */

static bool tag_valid(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > TAG_MAX)
		return false;
	for (const char *s = t; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return true;
}

static int check_section(const struct cfg *cfg, const struct cfg_section *sec, char *err, size_t errlen)
{
	const char *notify = cfg_str(sec, "notify");
	char msg[256];
	size_t n;
	char **tags = cfg_list(sec, "tags", &n);
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!tag_valid(tags[i])) {
			snprintf(msg, sizeof(msg), "'%.60s' is not a tag (letters, digits and '_', at most %d)",
				 tags[i], TAG_MAX);
			rc = key_error(cfg, sec, "tags", msg, err, errlen);
		}
	}
	cfg_list_free(tags);
	if (rc == 0 && n > TAGS_MAX) {
		snprintf(msg, sizeof(msg), "%zu tags: at most %d", n, TAGS_MAX);
		rc = key_error(cfg, sec, "tags", msg, err, errlen);
	}
	if (rc == 0 && notify && *notify) {
		const struct cfg_section *s = cfg_find_sink(cfg, notify);
		const char *type = s ? cfg_str(s, "type") : NULL;

		if (!type || strcmp(type, "http") != 0) {
			snprintf(msg, sizeof(msg), "'%.60s' is not an http sink", notify);
			rc = key_error(cfg, sec, "notify", msg, err, errlen);
		}
	}
	return rc;
}

int readside_check(const struct cfg *cfg, char *err, size_t errlen)
{
	int rc = 0;

	for (size_t i = 0; i <= cfg->nflows && rc == 0; i++)
		rc = check_section(cfg, i < cfg->nflows ? cfg->flows[i] : cfg->global, err, errlen);
	return rc;
}

/* ---- the logs behind .events ---- */

static struct rs_log *log_find(struct readside *rs, const char *flow, bool create)
{
	struct rs_log *l;

	for (l = rs->logs; l; l = l->next)
		if (strcmp(l->flow, flow) == 0)
			return l;
	if (!create || !(l = calloc(1, sizeof(*l))))
		return NULL;
	snprintf(l->flow, sizeof(l->flow), "%s", flow);
	l->next = rs->logs;
	rs->logs = l;
	return l;
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t lines = 0;

	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		lines++;
	return lines;
}

/* Drops the oldest whole lines of L until NEED more bytes fit in MAX: at
 * least a quarter of MAX goes at once, so the memmove is amortized. */
static void log_trim(struct rs_log *l, size_t need, size_t max)
{
	size_t len = (size_t)(l->end - l->start), drop;
	const char *nl;

	if (len + need <= max)
		return;
	drop = len + need - max;
	if (drop < max / 4)
		drop = max / 4;
	if (drop >= len) {
		drop = len;
	} else {
		nl = memchr(l->buf + drop - 1, '\n', len - drop + 1);
		drop = nl ? (size_t)(nl - l->buf) + 1 : len;
	}
	l->start_line += count_lines(l->buf, drop);
	memmove(l->buf, l->buf + drop, len - drop);
	l->start += drop;
}

/* Appends LINE (LEN bytes, ending in '\n') to L; rs->lock held. */
static void log_add(struct readside *rs, struct rs_log *l, const char *line, size_t len, double t)
{
	size_t have;

	if (len > rs->max)
		return;
	log_trim(l, len, rs->max);
	have = (size_t)(l->end - l->start);
	if (have + len > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		char *p;

		while (cap < have + len)
			cap *= 2;
		if (cap > rs->max)
			cap = rs->max;
		p = realloc(l->buf, cap);
		if (!p)
			return;
		l->buf = p;
		l->cap = cap;
	}
	memcpy(l->buf + have, line, len);
	l->end += len;
	l->mtime = t;
}

/* LINE goes to FLOW's log and to the log of every flow. */
static void logs_append(struct cache *c, const char *flow, const char *line, size_t len, double t)
{
	struct readside *rs = c->rs;
	struct rs_log *l;

	if (!rs)
		return;	/* recovery, before the logs exist: they are seeded at start */
	pthread_mutex_lock(&rs->lock);
	if ((l = log_find(rs, flow, true)))
		log_add(rs, l, line, len, t);
	if ((l = log_find(rs, "", true)))
		log_add(rs, l, line, len, t);
	pthread_mutex_unlock(&rs->lock);
}

static void logs_seed(struct cache *c)
{
	int64_t last = db_int(c, "SELECT max(id) FROM delivery_log", NULL);
	sqlite3_stmt *st = db_stmt(c, "SELECT flow, line, done FROM delivery_log WHERE id > ? ORDER BY id",
				   "i", last - SEED_ROWS);
	struct buf b;

	buf_init(&b);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		b.len = 0;
		buf_puts(&b, (const char *)sqlite3_column_text(st, 1));
		buf_puts(&b, "\n");
		if (!b.oom)
			logs_append(c, (const char *)sqlite3_column_text(st, 0), b.p, b.len,
				    sqlite3_column_double(st, 2));
	}
	if (st)
		sqlite3_reset(st);
	buf_free(&b);
}

/* ---- recording a delivery ---- */

/* The .time name of KEY: '/' becomes '_', a long key keeps its start and
 * its end; unique in the minute (then "~2", "~3", ...). */
static void time_name(struct cache *c, const char *flow, int64_t minute, const char *key,
		      char *out, size_t outlen)
{
	char base[NAME_KEEP + 8];
	size_t n = strlen(key);

	if (n <= NAME_KEEP) {
		snprintf(base, sizeof(base), "%s", key);
	} else {
		size_t head = NAME_KEEP / 2, tail = n - (NAME_KEEP / 2 - 1);

		while (head > 0 && ((unsigned char)key[head] & 0xc0) == 0x80)
			head--;	/* cut between UTF-8 characters */
		while (key[tail] && ((unsigned char)key[tail] & 0xc0) == 0x80)
			tail++;
		snprintf(base, sizeof(base), "%.*s~%s", (int)head, key, key + tail);
	}
	for (char *s = base; *s; s++)
		if (*s == '/')
			*s = '_';
	snprintf(out, outlen, "%s", base);
	for (int i = 2; i < 1000000 &&
	     db_int(c, "SELECT count(*) FROM delivery_log WHERE flow = ? AND minute = ? AND name = ?",
		    "tit", flow, minute, out) > 0; i++)
		snprintf(out, outlen, "%s~%d", base, i);
}

/* The sinks part of the line and the callback's uris; KEY gets the key
 * without the first sink's prefix. */
static int sinks_json(struct cache *c, int64_t id, struct buf *line, struct buf *uris,
		      char *key, size_t keylen)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT sink, key FROM deliveries WHERE object = ? AND "
				   "state = 'delivered' ORDER BY rowid", "i", id);
	char url[8192];
	bool first = true;

	if (!st)
		return -EIO;
	buf_puts(line, ",\"sinks\":{");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *sink = (const char *)sqlite3_column_text(st, 0);
		const char *k = (const char *)sqlite3_column_text(st, 1);
		struct sink_slot *slot = sink_slot_find(c, sink);

		if (!k)
			continue;
		if (!slot || sink_url(slot->sink, k, url, sizeof(url)) != 0)
			snprintf(url, sizeof(url), "%s", k);
		if (first) {
			size_t pl = slot ? strlen(slot->sink->prefix) : 0;
			snprintf(key, keylen, "%s", strncmp(k, slot ? slot->sink->prefix : "", pl) == 0 ?
				 k + pl : k);
		}
		buf_puts(line, first ? "" : ",");
		buf_json_str(line, sink);
		buf_puts(line, ":");
		buf_json_str(line, url);
		buf_puts(uris, first ? "" : ",");
		buf_json_str(uris, url);
		first = false;
	}
	sqlite3_reset(st);
	buf_puts(line, "}}");
	return 0;
}

/* The line of delivered object ID into LINE and its callback's uris into
 * URIS; *F its flow (NULL: none, nothing to record). */
static int delivery_json(struct cache *c, int64_t id, double done, struct flow **f, struct buf *line,
			 struct buf *uris, char *key, size_t keylen)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT flow, coalesce(psize, size), coalesce(psha256, sha256, ''), "
				   "CASE WHEN dir = '' THEN name ELSE dir || '/' || name END "
				   "FROM objects WHERE id = ?", "i", id);
	char ts[40];
	int rc = -ENOENT;

	*f = NULL;
	if (!st)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*f = flow_by_id(c, (const char *)sqlite3_column_text(st, 0));
		buf_puts(line, "{\"flow\":");
		buf_json_str(line, *f ? (*f)->name : "?");
		buf_puts(line, ",\"key\":\"\",\"path\":");	/* key filled in below */
		buf_json_str(line, (const char *)sqlite3_column_text(st, 3));
		ts_iso(done, ts, sizeof(ts));
		buf_printf(line, ",\"size\":%lld,\"sha256\":\"%s\",\"delivered\":\"%s\"",
			   (long long)sqlite3_column_int64(st, 1), sqlite3_column_text(st, 2), ts);
		rc = 0;
	}
	sqlite3_reset(st);
	if (rc == 0)
		rc = sinks_json(c, id, line, uris, key, keylen);
	return rc;
}

/* LINE with its empty "key" filled in. */
static char *line_with_key(const struct buf *line, const char *key)
{
	const char *at = strstr(line->p, "\"key\":\"\"");
	struct buf b;

	buf_init(&b);
	buf_add(&b, line->p, (size_t)(at - line->p) + 6);
	buf_json_str(&b, key);
	buf_puts(&b, at + 8);
	return buf_steal(&b, NULL);
}

/* Writes the rows of delivered object ID; *OUT its line (caller frees),
 * *F its flow, *NOTIFIED whether a callback was queued. */
static int delivery_record(struct cache *c, int64_t id, double done, char **out, struct flow **f,
			   bool *notified)
{
	struct buf line, uris;
	char key[4096] = "", name[NAME_KEEP + 32];
	int64_t minute = (int64_t)(done / 60);
	const char *notify;
	int rc;

	*out = NULL;
	*notified = false;
	buf_init(&line);
	buf_init(&uris);
	rc = delivery_json(c, id, done, f, &line, &uris, key, sizeof(key));
	if (rc == 0 && !*f)
		goto out_free;	/* its flow is gone */
	if (rc == 0 && (line.oom || uris.oom || !(*out = line_with_key(&line, key))))
		rc = -ENOMEM;
	if (rc)
		goto out_free;
	time_name(c, (*f)->id, minute, key, name, sizeof(name));
	rc = db_exec(c, "INSERT INTO delivery_log(flow, minute, name, done, object, line) "
		     "VALUES (?, ?, ?, ?, ?, ?)", "titdit", (*f)->id, minute, name, done, id, *out);
	notify = cfg_str((*f)->sec, "notify");
	if (rc == 0 && notify && *notify) {
		struct buf body;

		buf_init(&body);
		buf_puts(&body, "{\"name\":");
		buf_json_str(&body, (*f)->name);
		buf_printf(&body, ",\"uris\":[%s]}", uris.p ? uris.p : "");
		rc = body.oom ? -ENOMEM :
		     db_exec(c, "INSERT INTO notifications(flow, sink, object, body, created) "
			     "VALUES (?, ?, ?, ?, ?)", "ttitd", (*f)->id, notify, id, body.p, done);
		*notified = rc == 0;
		buf_free(&body);
	}
out_free:
	buf_free(&line);
	buf_free(&uris);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

int readside_settle(struct cache *c, int64_t id, const char *state, double done)
{
	bool outer = !sqlite3_get_autocommit(c->db), notified = false;
	struct flow *f = NULL;
	char *line = NULL;
	int rc;

	if (strcmp(state, "delivered") != 0)
		return db_exec(c, "UPDATE objects SET state = ?, done = ? WHERE id = ?", "tdi", state,
			       done, id);
	rc = db_exec(c, "SAVEPOINT readside", NULL);
	if (rc)
		return rc;
	rc = db_exec(c, "UPDATE objects SET state = ?, done = ? WHERE id = ?", "tdi", state, done, id);
	if (rc == 0)
		rc = delivery_record(c, id, done, &line, &f, &notified);
	if (rc)
		db_exec(c, "ROLLBACK TO readside", NULL);
	if (db_exec(c, "RELEASE readside", NULL) != 0 && rc == 0)
		rc = -EIO;	/* the commit was refused */
	if (rc && !outer && !sqlite3_get_autocommit(c->db))
		db_exec(c, "ROLLBACK", NULL);
	if (rc == 0 && line) {
		struct buf b;

		buf_init(&b);
		buf_printf(&b, "%s\n", line);
		if (!b.oom)
			logs_append(c, f->id, b.p, b.len, done);
		buf_free(&b);
		if (notified)
			notify_wake(c);
	}
	free(line);
	return rc;
}

/* ---- start, stop, the timer ---- */

int readside_start(struct cache *c)
{
	struct readside *rs = calloc(1, sizeof(*rs));
	int rc;

	if (!rs)
		return -ENOMEM;
	pthread_mutex_init(&rs->lock, NULL);
	pthread_cond_init(&rs->notify_cond, NULL);
	rs->max = (size_t)cfg_size(c->cfg->global, "events_size");
	pthread_mutex_lock(&c->lock);
	c->rs = rs;
	logs_seed(c);
	pthread_mutex_unlock(&c->lock);
	rc = pthread_create(&rs->notifier, NULL, notify_main, c);
	rs->notifier_started = rc == 0;
	return -rc;
}

void readside_stop(struct cache *c)
{
	if (!c->rs || !c->rs->notifier_started)
		return;
	pthread_mutex_lock(&c->lock);
	pthread_cond_broadcast(&c->rs->notify_cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->rs->notifier, NULL);
	c->rs->notifier_started = false;
}

void readside_free(struct cache *c)
{
	struct readside *rs = c->rs;

	if (!rs)
		return;
	for (struct rs_log *l = rs->logs, *next; l; l = next) {
		next = l->next;
		free(l->buf);
		free(l);
	}
	pthread_mutex_destroy(&rs->lock);
	pthread_cond_destroy(&rs->notify_cond);
	free(rs);
	c->rs = NULL;
}

void notify_wake(struct cache *c)
{
	if (c->rs)
		pthread_cond_broadcast(&c->rs->notify_cond);
}

pthread_cond_t *notify_cond(struct cache *c)
{
	return &c->rs->notify_cond;
}

/* At most PRUNE_BATCH rows per flow and tick, so the lock is never held
 * long: a flow with more to go is pruned again at the next tick. */
void readside_tick(struct cache *c)
{
	double now = now_real();
	bool more = false;

	if (!c->rs || now - c->rs->pruned < PRUNE_EVERY)
		return;
	for (struct flow *f = c->flows; f; f = f->next) {
		int64_t before = (int64_t)((now - (double)cfg_seconds(f->sec, "history_keep")) / 60);

		if (db_exec(c, "DELETE FROM delivery_log WHERE id IN (SELECT id FROM delivery_log "
			    "WHERE flow = ? AND minute < ? LIMIT ?)", "tin", f->id, before, PRUNE_BATCH) == 0 &&
		    sqlite3_changes(c->db) == PRUNE_BATCH)
			more = true;
	}
	if (!more)
		c->rs->pruned = now;
}

/* ---- paths ---- */

bool readside_name(const char *name)
{
	return strcmp(name, ".time") == 0 || strcmp(name, ".latest") == 0 || strcmp(name, ".events") == 0;
}

bool readside_path(const struct cpath *p)
{
	if (p->flow)
		return strcmp(p->rel, ".latest") == 0 || strcmp(p->rel, ".events") == 0 ||
		       (strncmp(p->rel, ".time", 5) == 0 && (p->rel[5] == '\0' || p->rel[5] == '/'));
	if (strcmp(p->flowname, ".tags") == 0)
		return true;
	return !*p->rel && (strcmp(p->flowname, ".events") == 0 || strcmp(p->flowname, ".health") == 0);
}

/* A .time path: DEPTH components after .time (0-5: a directory, 6: an
 * entry NAME) and the minutes [LO, HI) it covers. */
struct tpath {
	int depth;
	int v[5];			/* year, month, day, hour, minute */
	int64_t lo, hi;			/* minutes since the epoch */
	const char *name;
};

static const int part_len[5] = { 4, 2, 2, 2, 2 };

/* The minute of the first instant of V[0..DEPTH) (DEPTH >= 1), and of the
 * next one at that depth. */
static void tpath_range(struct tpath *t, int depth)
{
	struct tm tm = { .tm_year = t->v[0] - 1900, .tm_mon = depth > 1 ? t->v[1] - 1 : 0,
			 .tm_mday = depth > 2 ? t->v[2] : 1, .tm_hour = depth > 3 ? t->v[3] : 0,
			 .tm_min = depth > 4 ? t->v[4] : 0 };
	struct tm next = tm;

	t->lo = (int64_t)timegm(&tm) / 60;
	switch (depth) {
	case 1: next.tm_year++; break;
	case 2: next.tm_mon++; break;
	case 3: next.tm_mday++; break;
	case 4: next.tm_hour++; break;
	default: next.tm_min++; break;
	}
	t->hi = (int64_t)timegm(&next) / 60;
}

/* REL ".time/2026/05/01" into T; -ENOENT if it is no such path. */
static int tpath_parse(const char *rel, struct tpath *t)
{
	const char *s = rel + 5;
	static const int lo[5] = { 1970, 1, 1, 0, 0 }, hi[5] = { 9999, 12, 31, 23, 59 };

	memset(t, 0, sizeof(*t));
	t->lo = 0;
	t->hi = INT64_MAX / 2;
	while (*s == '/' && s[1]) {
		size_t n = strcspn(++s, "/");

		if (t->depth == 5) {
			if (s[n])
				return -ENOENT;
			t->name = s;
			t->depth = 6;
			s += n;
			break;
		}
		if (n != (size_t)part_len[t->depth] || strspn(s, "0123456789") < n)
			return -ENOENT;
		t->v[t->depth] = (int)strtol(s, NULL, 10);
		if (t->v[t->depth] < lo[t->depth] || t->v[t->depth] > hi[t->depth])
			return -ENOENT;
		t->depth++;
		s += n;
	}
	if (*s)
		return -ENOENT;
	if (t->depth > 0) {
		struct tm tm;
		time_t at;

		tpath_range(t, t->depth < 5 ? t->depth : 5);
		at = (time_t)(t->lo * 60);
		gmtime_r(&at, &tm);	/* 2026/02/30 is no day */
		if ((t->depth > 1 && tm.tm_mon + 1 != t->v[1]) || (t->depth > 2 && tm.tm_mday != t->v[2]))
			return -ENOENT;
	}
	return 0;
}

/* The first minute with a delivery of FLOW in [LO, HI), or -1. */
static int64_t minute_probe(struct cache *c, const struct flow *f, int64_t lo, int64_t hi)
{
	return db_int(c, "SELECT minute FROM delivery_log WHERE flow = ? AND minute >= ? AND minute < ? "
		      "ORDER BY minute LIMIT 1", "tii", f->id, lo, hi);
}

static void dir_stat(struct stat *st, double t)
{
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_mtim.tv_sec = st->st_ctim.tv_sec = st->st_atim.tv_sec = (time_t)t;
}

static void file_stat(struct stat *st, double t, size_t size)
{
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_mtim.tv_sec = (time_t)t;
	st->st_mtim.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
	st->st_ctim = st->st_atim = st->st_mtim;
}

/* The line of .time entry T of F into OUT (malloc'd, with its '\n'). */
static int entry_line(struct cache *c, const struct flow *f, const struct tpath *t, char **out,
		      size_t *len, double *done)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT line, done FROM delivery_log WHERE flow = ? AND minute = ? "
				   "AND name = ?", "tit", f->id, t->lo, t->name);
	int rc = -ENOENT;

	if (!st)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*len = (size_t)sqlite3_column_bytes(st, 0) + 1;
		*done = sqlite3_column_double(st, 1);
		rc = 0;
		if (out && asprintf(out, "%s\n", sqlite3_column_text(st, 0)) < 0)
			rc = -ENOMEM;
	}
	sqlite3_reset(st);
	return rc;
}

static int latest_line(struct cache *c, const struct flow *f, char **out, size_t *len, double *done)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT line, done FROM delivery_log WHERE flow = ? "
				   "ORDER BY id DESC LIMIT 1", "t", f->id);

	*len = 0;
	*done = f->created;
	if (out)
		*out = strdup("");
	if (!st || (out && !*out))
		return st ? -ENOMEM : -EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*len = (size_t)sqlite3_column_bytes(st, 0) + 1;
		*done = sqlite3_column_double(st, 1);
		if (out) {
			free(*out);
			if (asprintf(out, "%s\n", sqlite3_column_text(st, 0)) < 0)
				*out = NULL;
		}
	}
	sqlite3_reset(st);
	return out && !*out ? -ENOMEM : 0;
}

/* ---- health ---- */

static void health_json(struct cache *c, struct buf *b)
{
	uint64_t after = cfg_seconds(c->cfg->global, "unhealthy_after");
	double now = now_real();
	struct buf why;

	buf_init(&why);
	if (c->space_low || (c->refused && !spool_room(c, c->refused)))
		buf_printf(&why, "; the spool is full (%llu of %llu bytes used%s): writes get ENOSPC",
			   (unsigned long long)c->used, (unsigned long long)c->spool_max,
			   c->space_low ? ", its file system is full" : "");
	if (c->unrecorded || c->seal_retry_n)
		buf_puts(&why, "; the spool database refuses writes");
	for (size_t i = 0; i < c->nsinks; i++) {
		const struct sink_slot *s = &c->sinks[i];

		if (s->failing_since <= 0 || s->last_success >= s->failing_since ||
		    now - s->failing_since <= (double)after)
			continue;
		buf_printf(&why, "; sink %s has failed every attempt for %.0fs: %s", s->sink->name,
			   now - s->failing_since, s->last_error ? s->last_error : "?");
	}
	buf_printf(b, "{\"healthy\":%s,\"description\":", why.len ? "false" : "true");
	buf_json_str(b, why.len ? why.p + 2 : "OK");
	buf_puts(b, ",\"version\":");
	buf_json_str(b, FLOWFS_VERSION);
	buf_puts(b, "}\n");
	buf_free(&why);
}

/* ---- tags ---- */

static bool flow_has_tag(const struct flow *f, const char *tag)
{
	size_t n;
	char **tags = cfg_list(f->sec, "tags", &n);
	bool has = false;

	for (size_t i = 0; i < n && !has; i++)
		has = strcmp(tags[i], tag) == 0;
	cfg_list_free(tags);
	return has;
}

/* Calls FILL once for every tag of any flow. */
static void tags_fill(struct cache *c, cache_fill_fn fill, void *arg)
{
	struct stat st = { .st_mode = S_IFDIR | 0555, .st_nlink = 2 };

	for (struct flow *f = c->flows; f; f = f->next) {
		size_t n;
		char **tags = cfg_list(f->sec, "tags", &n);

		for (size_t i = 0; i < n; i++) {
			bool seen = false;
			for (struct flow *g = c->flows; g != f && !seen; g = g->next)
				seen = flow_has_tag(g, tags[i]);
			if (!seen)
				fill(arg, tags[i], &st);
		}
		cfg_list_free(tags);
	}
}

static bool tag_exists(struct cache *c, const char *tag)
{
	for (struct flow *f = c->flows; f; f = f->next)
		if (flow_has_tag(f, tag))
			return true;
	return false;
}

/* ".tags", ".tags/TAG" or ".tags/TAG/FLOW" of P into TAG and FLOW ("" if absent). */
static int tags_parse(const struct cpath *p, char *tag, size_t taglen, char *flow, size_t flowlen)
{
	const char *slash = strchr(p->rel, '/');

	*tag = *flow = '\0';
	if (!*p->rel)
		return 0;
	snprintf(tag, taglen, "%.*s", slash ? (int)(slash - p->rel) : (int)strlen(p->rel), p->rel);
	if (slash) {
		if (strchr(slash + 1, '/') || !slash[1])
			return -ENOENT;
		snprintf(flow, flowlen, "%s", slash + 1);
	}
	return 0;
}

int cache_readlink(struct cache *c, const char *path, char *buf, size_t size)
{
	struct cpath p;
	char tag[64], flow[300];
	struct flow *f;
	int rc;

	rc = cpath_lock(c, path, &p);
	if (rc == 0 && (p.flow || strcmp(p.flowname, ".tags") != 0))
		rc = -EINVAL;
	if (rc == 0)
		rc = tags_parse(&p, tag, sizeof(tag), flow, sizeof(flow));
	if (rc == 0 && !*flow)
		rc = -EINVAL;
	if (rc == 0 && (!(f = flow_find(c, flow)) || !flow_has_tag(f, tag)))
		rc = -ENOENT;
	if (rc == 0)
		snprintf(buf, size, "../../%s", flow);
	cpath_unlock(c, &p);
	return rc;
}

static int tags_getattr(struct cache *c, const struct cpath *p, struct stat *st)
{
	char tag[64], flow[300];
	struct flow *f;
	int rc = tags_parse(p, tag, sizeof(tag), flow, sizeof(flow));

	if (rc)
		return rc;
	if (*tag && !tag_exists(c, tag))
		return -ENOENT;
	if (!*flow) {
		dir_stat(st, now_real());
		return 0;
	}
	f = flow_find(c, flow);
	if (!f || !flow_has_tag(f, tag))
		return -ENOENT;
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_size = (off_t)strlen(flow) + 6;
	st->st_mtim.tv_sec = st->st_ctim.tv_sec = st->st_atim.tv_sec = (time_t)f->updated;
	return 0;
}

static int tags_readdir(struct cache *c, const struct cpath *p, cache_fill_fn fill, void *arg)
{
	char tag[64], flow[300];
	struct stat st = { .st_mode = S_IFLNK | 0777, .st_nlink = 1 };
	int rc = tags_parse(p, tag, sizeof(tag), flow, sizeof(flow));

	if (rc)
		return rc;
	if (*flow)
		return -ENOTDIR;
	if (!*tag) {
		tags_fill(c, fill, arg);
		return 0;
	}
	if (!tag_exists(c, tag))
		return -ENOENT;
	for (struct flow *f = c->flows; f; f = f->next)
		if (flow_has_tag(f, tag))
			fill(arg, f->name, &st);
	return 0;
}

/* ---- getattr, readdir, open ---- */

static uint64_t log_size(struct cache *c, const char *flow, double *mtime)
{
	struct rs_log *l;
	uint64_t end = 0;

	*mtime = now_real();
	if (!c->rs)
		return 0;
	pthread_mutex_lock(&c->rs->lock);
	if ((l = log_find(c->rs, flow, false))) {
		end = l->end;
		*mtime = l->mtime;
	}
	pthread_mutex_unlock(&c->rs->lock);
	return end;
}

static int time_getattr(struct cache *c, const struct cpath *p, struct stat *st)
{
	struct tpath t;
	size_t len;
	double done;
	int rc = tpath_parse(p->rel, &t);

	if (rc)
		return rc;
	if (t.depth == 6) {
		rc = entry_line(c, p->flow, &t, NULL, &len, &done);
		if (rc == 0)
			file_stat(st, done, len);
		return rc;
	}
	if (t.depth > 0 && minute_probe(c, p->flow, t.lo, t.hi) < 0)
		return -ENOENT;
	dir_stat(st, t.depth > 0 ? (double)(t.lo * 60) : p->flow->created);
	return 0;
}

int readside_getattr(struct cache *c, const struct cpath *p, struct stat *st)
{
	struct buf b;
	size_t len;
	double t;

	memset(st, 0, sizeof(*st));
	if (!p->flow && strcmp(p->flowname, ".tags") == 0)
		return tags_getattr(c, p, st);
	if (!p->flow && strcmp(p->flowname, ".health") == 0) {
		buf_init(&b);
		health_json(c, &b);
		file_stat(st, now_real(), b.len);
		buf_free(&b);
		return 0;
	}
	if (strcmp(p->rel, ".latest") == 0) {
		int rc = latest_line(c, p->flow, NULL, &len, &t);
		if (rc == 0)
			file_stat(st, t, len);
		return rc;
	}
	if (!p->flow || strcmp(p->rel, ".events") == 0) {
		uint64_t end = log_size(c, p->flow ? p->flow->id : "", &t);
		file_stat(st, t, (size_t)end);
		return 0;
	}
	return time_getattr(c, p, st);
}

/* FILL every child of directory T of F: one probe per child. */
static void time_children(struct cache *c, const struct flow *f, struct tpath *t, cache_fill_fn fill,
			  void *arg)
{
	struct stat st;
	int64_t lo = t->lo, hi = t->hi, m;
	char name[8];

	memset(&st, 0, sizeof(st));
	while ((m = minute_probe(c, f, lo, hi)) >= 0) {
		time_t at = (time_t)(m * 60);
		struct tm tm;
		struct tpath child = *t;
		int v;

		gmtime_r(&at, &tm);
		v = (int[]){ tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min }[t->depth];
		snprintf(name, sizeof(name), "%0*d", part_len[t->depth], v);
		child.v[t->depth] = v;
		for (int i = 0; i < t->depth; i++)
			child.v[i] = t->v[i];
		if (t->depth == 0)	/* fill the rest for the range */
			child.v[0] = v;
		tpath_range(&child, t->depth + 1);
		dir_stat(&st, (double)(child.lo * 60));
		if (fill(arg, name, &st))
			return;
		if (child.hi <= lo)
			return;
		lo = child.hi;
	}
}

static int time_readdir(struct cache *c, const struct cpath *p, cache_fill_fn fill, void *arg)
{
	struct tpath t;
	struct stat st;
	int rc = tpath_parse(p->rel, &t);

	if (rc)
		return rc;
	if (t.depth == 6)
		return entry_line(c, p->flow, &t, NULL, &(size_t){ 0 }, &(double){ 0 }) == 0 ? -ENOTDIR : -ENOENT;
	if (t.depth > 0 && minute_probe(c, p->flow, t.lo, t.hi) < 0)
		return -ENOENT;
	if (t.depth < 5) {
		time_children(c, p->flow, &t, fill, arg);
		return 0;
	}
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0444;
	return fill_names(db_stmt(c, "SELECT name FROM delivery_log WHERE flow = ? AND minute = ? "
				  "ORDER BY name", "ti", p->flow->id, t.lo), &st, fill, arg);
}

int readside_readdir(struct cache *c, const struct cpath *p, cache_fill_fn fill, void *arg)
{
	if (!p->flow && strcmp(p->flowname, ".tags") == 0)
		return tags_readdir(c, p, fill, arg);
	if (!p->flow || strcmp(p->rel, ".latest") == 0 || strcmp(p->rel, ".events") == 0)
		return -ENOTDIR;
	return time_readdir(c, p, fill, arg);
}

void readside_fill(struct cache *c, const struct cpath *p, cache_fill_fn fill, void *arg)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0444;
	fill(arg, ".events", &st);
	if (p->flow) {
		fill(arg, ".latest", &st);
		st.st_mode = S_IFDIR | 0555;
		fill(arg, ".time", &st);
		return;
	}
	fill(arg, ".health", &st);
	st.st_mode = S_IFDIR | 0555;
	fill(arg, ".tags", &st);
}

/* A handle on a snapshot: DATA (taken). */
static int snapshot(struct cache *c, char *data, size_t len, struct cache_file **out)
{
	struct cache_file *f = data ? calloc(1, sizeof(*f)) : NULL;

	if (!f) {
		free(data);
		return -ENOMEM;
	}
	f->c = c;
	f->fd = -1;
	f->vdata = data;
	f->vlen = len;
	*out = f;
	return 0;
}

static int events_open(struct cache *c, const char *flow, struct cache_file **out)
{
	struct cache_file *f = calloc(1, sizeof(*f));

	if (!f || !(f->rs = calloc(1, sizeof(*f->rs)))) {
		free(f);
		return -ENOMEM;
	}
	snprintf(f->rs->flow, sizeof(f->rs->flow), "%s", flow);
	f->c = c;
	f->fd = -1;
	*out = f;
	return 0;
}

int readside_open(struct cache *c, const struct cpath *p, int flags, struct cache_file **out)
{
	struct stat st;
	struct tpath t;
	char *data = NULL;
	size_t len = 0;
	double done;
	int rc = readside_getattr(c, p, &st);

	if (rc)
		return rc;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	if (!p->flow && strcmp(p->flowname, ".health") == 0) {
		struct buf b;

		buf_init(&b);
		health_json(c, &b);
		data = buf_steal(&b, &len);
		return snapshot(c, data, len, out);
	}
	if (!p->flow || strcmp(p->rel, ".events") == 0)
		return events_open(c, p->flow ? p->flow->id : "", out);
	if (strcmp(p->rel, ".latest") == 0)
		rc = latest_line(c, p->flow, &data, &len, &done);
	else if ((rc = tpath_parse(p->rel, &t)) == 0)
		rc = entry_line(c, p->flow, &t, &data, &len, &done);
	if (rc)
		return rc;
	return snapshot(c, data, len, out);
}

/* ---- reading .events ---- */

/* The missed-lines line for H, at log offset LO below L's start, into BUF. */
static ssize_t missed_line(struct rs_handle *h, const struct rs_log *l, uint64_t lo, off_t off,
			   char *buf, size_t size)
{
	uint64_t had = lo == h->next_off ? h->next_line : 0;
	uint64_t missed = l->start_line > had ? l->start_line - had : 0;
	char line[160];
	int n = snprintf(line, sizeof(line), "{\"missed\":%llu,\"description\":\"%llu deliveries left "
			 "the log before this reader read them\"}\n", (unsigned long long)missed,
			 (unsigned long long)missed);

	if ((uint64_t)n > l->start - lo || (size_t)n > size) {
		h->skip += l->start - lo;	/* part of one line: no room to say so */
		return -EAGAIN;
	}
	memcpy(buf, line, (size_t)n);
	h->skip = l->start - ((uint64_t)off + (uint64_t)n);
	h->next_off = l->start;
	h->next_line = l->start_line;
	return n;
}

ssize_t readside_read(struct cache_file *f, char *buf, size_t size, off_t off)
{
	struct readside *rs = f->c->rs;
	struct rs_handle *h = f->rs;
	struct rs_log *l;
	uint64_t lo;
	ssize_t n = 0;

	if (!rs)
		return 0;
	pthread_mutex_lock(&rs->lock);
	l = log_find(rs, h->flow, false);
	for (int tries = 0; l && tries < 2; tries++) {
		lo = (uint64_t)off + h->skip;
		if (lo < l->start) {
			n = missed_line(h, l, lo, off, buf, size);
			if (n == -EAGAIN) {
				n = 0;
				continue;
			}
			break;
		}
		if (lo >= l->end)
			break;
		n = (ssize_t)(l->end - lo < size ? l->end - lo : size);
		memcpy(buf, l->buf + (lo - l->start), (size_t)n);
		if (lo != h->next_off)	/* a seek: count its lines again */
			h->next_line = l->start_line + count_lines(l->buf, (size_t)(lo - l->start));
		h->next_line += count_lines(buf, (size_t)n);
		h->next_off = lo + (uint64_t)n;
		break;
	}
	pthread_mutex_unlock(&rs->lock);
	return n;
}

int readside_fgetattr(struct cache_file *f, struct stat *st)
{
	double t;
	uint64_t end = log_size(f->c, f->rs->flow, &t);

	memset(st, 0, sizeof(*st));
	file_stat(st, t, (size_t)end);	/* as stat(2) sees it, whatever the handle skipped */
	return 0;
}
