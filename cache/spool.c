/*
 * cache/spool.c - opening, recovering and closing the spool.
 *
 * cache_new() takes the spool lock (flock on SPOOL/flowfs.lock, so a second
 * daemon is refused at once), opens the sinks and the database and recovers
 * what a crash left behind, all before any thread exists:
 *   - deliveries that were in flight are queued again (sinks overwrite the
 *     same key, so a repeat is harmless);
 *   - staged objects that were flushed (their close() returned) are sealed;
 *     objects still open at the crash are discarded (nothing acknowledged
 *     them), unless fsync() succeeded on them: then the fsynced length is
 *     sealed;
 *   - the unterminated line a stream writer had given (its write returned)
 *     is appended from SPOOL/tails, unless it reached a chunk already;
 *   - data files that belong to no live object are removed.
 * cache_start() then starts the packer, the workers and the timer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../util/log.h"
#include "internal.h"
#include "readside.h"

double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ts_iso(double t, char *out, size_t outlen)
{
	time_t s = (time_t)t;
	struct tm tm;
	size_t n;

	gmtime_r(&s, &tm);
	n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, outlen - n, ".%06ldZ", (long)((t - (double)s) * 1e6));
}

void cache_data_path(const struct cache *c, int64_t id, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%lld", c->datadir, (long long)id);
}

void cache_packed_path(const struct cache *c, int64_t id, const char *packed, char *out,
		       size_t outlen)
{
	if (packed && *packed)
		snprintf(out, outlen, "%s/%lld.%s", c->datadir, (long long)id, packed);
	else
		cache_data_path(c, id, out, outlen);
}

void unlink_counted(struct cache *c, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return;
	if (unlink(path) < 0) {
		if (errno != ENOENT)
			log_warn("spool", "unlink %s: %m", path);
		return;
	}
	c->used = c->used > (uint64_t)st.st_size ? c->used - (uint64_t)st.st_size : 0;
}

void cache_unlink_data(struct cache *c, int64_t id, unsigned forms)
{
	char path[4096];

	if (forms & DATA_RAW) {
		cache_data_path(c, id, path, sizeof(path));
		unlink_counted(c, path);
	}
	for (size_t i = 0; (forms & DATA_PACKED) && compress_kinds[i]; i++) {
		cache_packed_path(c, id, compress_kinds[i], path, sizeof(path));
		unlink_counted(c, path);
	}
	if (forms & DATA_PACKED) {	/* a step's output; the earlier ones went as it came */
		char form[8];

		step_form(c, id, form);
		cache_packed_path(c, id, form, path, sizeof(path));
		if (*form)
			unlink_counted(c, path);
	}
}

struct flow *flow_find(struct cache *c, const char *name)
{
	for (struct flow *f = c->flows; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

struct flow *flow_by_id(struct cache *c, const char *id)
{
	for (struct flow *f = c->flows; f; f = f->next)
		if (strcmp(f->id, id) == 0)
			return f;
	return NULL;
}

struct sink_slot *sink_slot_find(struct cache *c, const char *name)
{
	for (size_t i = 0; i < c->nsinks; i++)
		if (strcmp(c->sinks[i].sink->name, name) == 0)
			return &c->sinks[i];
	return NULL;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int spool_lock(struct cache *c, char *err, size_t errlen)
{
	char path[4096], pid[32] = "";
	int fd, n;

	snprintf(path, sizeof(path), "%s/flowfs.lock", c->spool);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		n = -errno;
		snprintf(err, errlen, "%s: %m", path);
		return n;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = (int)pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errlen, "spool %s is in use by flowfs pid %s (lock file %s)",
			 c->spool, pid[0] ? pid : "?", path);
		close(fd);
		return -EBUSY;
	}
	c->lock_fd = fd;
	return 0;
}

/* Records our pid in the lock file; called again after daemonizing. */
static void spool_lock_pid(struct cache *c)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

	if (ftruncate(c->lock_fd, 0) < 0 || pwrite(c->lock_fd, pid, (size_t)n, 0) != n)
		log_warn("spool", "cannot record pid in the lock file: %m");
}

static void flow_id_new(char id[FLOW_ID_LEN + 1])
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[FLOW_ID_LEN];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		for (int i = 0; i < FLOW_ID_LEN; i++)
			rnd[i] = (unsigned char)rand();
	for (int i = 0; i < FLOW_ID_LEN; i++)
		id[i] = alphabet[rnd[i] % 62];
	id[FLOW_ID_LEN] = '\0';
}

static char *join_list(char **v)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			buf_puts(&b, ",");
		buf_puts(&b, v[i]);
	}
	return buf_steal(&b, NULL);
}

static char **split_list(const char *s, size_t *n)
{
	size_t cap = 1, k = 0;
	char **v;

	for (const char *p = s; *p; p++)
		cap += *p == ',';
	v = calloc(cap + 1, sizeof(*v));
	if (!v)
		return NULL;
	while (*s) {
		size_t len = strcspn(s, ",");
		if (len)
			v[k++] = strndup(s, len);
		s += len + (s[len] == ',');
	}
	*n = k;
	return v;
}

static void flow_free(struct flow *f)
{
	if (!f)
		return;
	cfg_list_free(f->sinks);
	free(f->steps);
	free(f->name);
	free(f);
}

/* Adds a flow to the in-memory list.  SINKS_DB is the stored sink list for
 * flows that are not in the config. */
struct flow *flow_add(struct cache *c, const char *id, const char *name, const char *sinks_db,
		      double created, double updated)
{
	struct flow *f = calloc(1, sizeof(*f));
	const char *bad;
	char msg[256];

	if (!f)
		return NULL;
	snprintf(f->id, sizeof(f->id), "%s", id);
	f->name = strdup(name);
	f->sec = cfg_find_flow(c->cfg, name);
	f->from_config = f->sec != NULL;
	if (!f->sec)
		f->sec = c->cfg->global;
	if (f->from_config || !sinks_db)
		f->sinks = cfg_list(f->sec, "sinks", &f->nsinks);
	else
		f->sinks = split_list(sinks_db, &f->nsinks);
	f->retain = cfg_seconds(f->sec, "retain");
	f->maxsize = cfg_size(f->sec, "maxsize");
	f->maxlines = (uint64_t)cfg_int(f->sec, "maxlines");
	f->rotate = cfg_seconds(f->sec, "rotate");
	f->compress = cfg_str(f->sec, "compress");
	f->upload_compress = cfg_str(f->sec, "upload_compress");
	f->level = (int)cfg_int(f->sec, "compress_level");
	f->close_durable = strcmp(cfg_str(f->sec, "durability"), "close") == 0;
	if (flow_perm(f->sec, &f->perm, &bad, msg, sizeof(msg)))	/* checked at mount */
		f->perm = (struct flow_perm){ .mode = 0755 };
	f->created = created;
	f->updated = updated;
	if (!f->name || !f->sinks || flow_steps(c, f) != 0) {
		flow_free(f);
		return NULL;
	}
	f->next = c->flows;
	c->flows = f;
	return f;
}

/* Creates a flow in the database and in memory: mkdir, or a new [flow.NAME]. */
int flow_create(struct cache *c, const char *name, const char *source, struct flow **out)
{
	char id[FLOW_ID_LEN + 1];
	double now = now_real();
	const struct cfg_section *sec = cfg_find_flow(c->cfg, name);
	size_t n;
	char **sinks = cfg_list(sec ? sec : c->cfg->global, "sinks", &n);
	char *joined = join_list(sinks);
	int rc;

	cfg_list_free(sinks);
	if (!joined)
		return -ENOMEM;
	flow_id_new(id);
	rc = db_exec(c, "INSERT INTO flows(id, name, source, sinks, created, updated) "
		     "VALUES (?, ?, ?, ?, ?, ?)", "ttttdd", id, name, source, joined, now, now);
	if (rc == 0) {
		*out = flow_add(c, id, name, joined, now, now);
		if (!*out)
			rc = -ENOMEM;
	}
	free(joined);
	return rc;
}

static int flows_load(struct cache *c)
{
	sqlite3_stmt *st;
	int rc = 0;

	for (size_t i = 0; i < c->cfg->nflows; i++) {
		const char *name = c->cfg->flows[i]->name;
		size_t n;
		char **sinks = cfg_list(c->cfg->flows[i], "sinks", &n);
		char *joined = join_list(sinks);

		cfg_list_free(sinks);
		if (!joined)
			return -ENOMEM;
		if (db_int(c, "SELECT count(*) FROM flows WHERE name = ? AND deleted IS NULL",
			   "t", name) == 0) {
			char id[FLOW_ID_LEN + 1];
			double now = now_real();

			flow_id_new(id);
			rc = db_exec(c, "INSERT INTO flows(id, name, source, sinks, created, updated) "
				     "VALUES (?, ?, 'config', ?, ?, ?)", "tttdd", id, name, joined, now, now);
		} else {
			rc = db_exec(c, "UPDATE flows SET source = 'config', sinks = ?1, "
				     "updated = CASE WHEN sinks = ?1 THEN updated ELSE ?2 END "
				     "WHERE name = ?3 AND deleted IS NULL", "tdt", joined, now_real(), name);
		}
		free(joined);
		if (rc)
			return rc;
	}
	st = db_stmt(c, "SELECT id, name, sinks, created, updated FROM flows "
		     "WHERE deleted IS NULL ORDER BY name DESC", NULL);
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (!flow_add(c, (const char *)sqlite3_column_text(st, 0),
			      (const char *)sqlite3_column_text(st, 1),
			      (const char *)sqlite3_column_text(st, 2),
			      sqlite3_column_double(st, 3), sqlite3_column_double(st, 4))) {
			rc = -ENOMEM;
			break;
		}
	}
	sqlite3_reset(st);
	return rc;
}

/* Objects still open at a crash: seal what fsync() made durable, discard
 * the rest (their writer never saw a successful close). */
static int recover_staging(struct cache *c)
{
	sqlite3_stmt *st;
	char path[4096];
	size_t n = 0, cap = 0;
	struct { int64_t id; int64_t synced; int open; bool chunk; char path[256]; } *v = NULL, *tmp;
	int rc = 0;

	st = db_stmt(c, "SELECT o.id, o.open, coalesce(o.synced, -1), o.kind = 'chunk', "
		     "coalesce(f.name, '?') || '/' || CASE WHEN o.dir = '' THEN o.name "
		     "ELSE o.dir || '/' || o.name END FROM objects o LEFT JOIN flows f ON f.id = o.flow "
		     "WHERE o.state = 'staging'", NULL);
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			tmp = realloc(v, cap * sizeof(*v));
			if (!tmp) {
				rc = -ENOMEM;
				break;
			}
			v = tmp;
		}
		v[n].id = sqlite3_column_int64(st, 0);
		v[n].open = sqlite3_column_int(st, 1);
		v[n].synced = sqlite3_column_int64(st, 2);
		v[n].chunk = sqlite3_column_int(st, 3) != 0;
		snprintf(v[n].path, sizeof(v[n].path), "%s", sqlite3_column_text(st, 4));
		n++;
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n && rc == 0; i++) {
		cache_data_path(c, v[i].id, path, sizeof(path));
		if (v[i].chunk) {
			/* Every whole line in an open chunk was acknowledged. */
			struct stat sb;
			chunk_trim(path, v[i].synced);
			rc = db_exec(c, "UPDATE objects SET state = 'sealing', size = ?, sealed = ? "
				     "WHERE id = ?", "idi", stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0,
				     now_real(), v[i].id);
			continue;
		}
		if (v[i].open && v[i].synced < 0) {
			log_warn("spool", "%s (object %lld) was still being written when flowfs "
				 "stopped: discarded, it was never closed", v[i].path, (long long)v[i].id);
			unlink(path);
			rc = db_exec(c, "UPDATE objects SET state = 'discarded', listed = 0, done = ? "
				     "WHERE id = ?", "di", now_real(), v[i].id);
			continue;
		}
		if (v[i].open) {
			log_warn("spool", "%s (object %lld) was still being written when flowfs "
				 "stopped: sealing the %lld bytes made durable by fsync()",
				 v[i].path, (long long)v[i].id, (long long)v[i].synced);
			if (truncate(path, v[i].synced) < 0)
				log_warn("spool", "truncate %s: %m", path);
		}
		rc = db_exec(c, "UPDATE objects SET state = 'sealing', open = 0, sealed = ? WHERE id = ?",
			     "di", now_real(), v[i].id);
	}
	free(v);
	return rc;
}

/*
 * A kill between the statements that record a delivery and the one that
 * updates its object leaves an object 'queued' with no delivery left to
 * make: its state is worked out again from its deliveries (and an object
 * that has none gets them).
 */
/* A kill between an output's outcome and its parent's settling. */
static void settle_split(struct cache *c)
{
	int64_t *v;
	size_t n = db_ids(c, db_stmt(c, "SELECT id FROM objects WHERE state = 'split'", NULL), &v);

	for (size_t i = 0; i < n; i++)
		parent_settle(c, v[i]);
	free(v);
}

static int settle_queued(struct cache *c)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT id FROM objects o WHERE state = 'queued' AND NOT EXISTS "
				   "(SELECT 1 FROM deliveries d WHERE d.object = o.id AND d.state IN "
				   "('queued', 'inflight'))", NULL);
	int64_t *v = NULL;
	size_t n = 0, cap = 0;

	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW && ids_push(&v, &n, &cap, sqlite3_column_int64(st, 0)))
		;
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++) {
		log_info("spool", "object %lld: its state is settled from its deliveries",
			 (long long)v[i]);
		if (db_int(c, "SELECT count(*) FROM deliveries WHERE object = ?", "i", v[i]) == 0)
			object_queue_deliveries(c, v[i]);
		else
			object_update_state(c, v[i]);
	}
	free(v);
	return 0;
}

/* Data file NAME ("ID" or "ID.KIND") belongs to a live object: the file
 * as written of an object not yet delivered (unless a chunk packed it) or
 * of a delivered upload still listed; the packed form of one waiting for
 * delivery. */
static bool data_wanted(struct cache *c, const char *name)
{
	char *end;
	long long id = strtoll(name, &end, 10);

	if (end == name || (*end && *end != '.') || strchr(end + (*end == '.'), '.'))
		return false;
	if (end[0] == '.' && end[1] == 's' && end[2] >= '1' && end[2] <= '9')	/* a step's output */
		return db_int(c, "SELECT count(*) FROM objects WHERE id = ? AND stepped = ? AND state IN "
			      "('sealing','held','queued','failed')", "ii", (int64_t)id,
			      (int64_t)strtoll(end + 2, NULL, 10)) > 0;
	if (*end == '.')
		return db_int(c, "SELECT count(*) FROM objects WHERE id = ? AND packed = ? AND state IN "
			      "('sealing','held','queued','failed')", "it", (int64_t)id, end + 1) > 0;
	return db_int(c, "SELECT count(*) FROM objects WHERE id = ? AND ((state IN "
		      "('staging','sealing','held','queued','failed') AND (packed IS NULL OR "
		      "kind = 'upload')) OR (state IN ('delivered', 'split') AND listed = 1 AND "
		      "kind = 'upload'))", "i", (int64_t)id) > 0;
}

/* Removes data files of objects that hold no data any more, and counts
 * the bytes of the others: c->used. */
static void remove_orphans(struct cache *c)
{
	DIR *d = opendir(c->datadir);
	struct dirent *e;
	struct stat st;

	c->used = 0;
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (!data_wanted(c, e->d_name)) {
			log_info("spool", "removing orphan data file %s", e->d_name);
			unlinkat(dirfd(d), e->d_name, 0);
		} else if (fstatat(dirfd(d), e->d_name, &st, 0) == 0) {
			c->used += (uint64_t)st.st_size;
		}
	}
	closedir(d);
}

/* A delivered file whose data is gone (a spool from before delivered files
 * kept it) leaves the listing: a listed file always reads back. */
static void unlist_unreadable(struct cache *c)
{
	int64_t *v;
	char path[4096];
	size_t n = db_ids(c, db_stmt(c, "SELECT id FROM objects WHERE state = 'delivered' AND "
				     "listed = 1", NULL), &v);

	for (size_t i = 0; i < n; i++) {
		cache_data_path(c, v[i], path, sizeof(path));
		if (access(path, F_OK) < 0)
			obj_unlist(c, v[i]);
	}
	free(v);
}

static int recover(struct cache *c)
{
	sqlite3_stmt *st;
	int rc;

	rc = db_exec(c, "UPDATE deliveries SET state = 'queued' WHERE state = 'inflight'", NULL);
	if (!rc)	/* uploads sent while written: resumed if sealed, else gone */
		rc = db_exec(c, "UPDATE deliveries SET state = CASE WHEN (SELECT state FROM objects o "
			     "WHERE o.id = object) = 'queued' THEN 'queued' ELSE 'early' END "
			     "WHERE state = 'sending'", NULL);
	if (!rc) {
		tails_settle(c);	/* before open chunks are trimmed and sealed */
		rc = recover_staging(c);
	}
	if (rc)
		return rc;
	rc = db_exec(c, "DELETE FROM deliveries WHERE state = 'early' AND object IN (SELECT id "
		     "FROM objects WHERE state NOT IN ('staging', 'sealing', 'held'))", NULL);
	rc = rc ? rc : settle_queued(c);
	if (rc)
		return rc;
	settle_split(c);
	held_release(c);	/* renamed visible, but not queued before a crash */
	remove_orphans(c);
	unlist_unreadable(c);
	st = db_stmt(c, "SELECT id FROM objects WHERE state = 'sealing' ORDER BY id", NULL);
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW)
		packer_enqueue(c, sqlite3_column_int64(st, 0));
	sqlite3_reset(st);
	if (!tails_append(c)) {	/* unterminated lines writers left */
		log_err("stream", "unterminated lines in %s cannot be appended now; trying again "
			"every second", c->taildir);
		c->tails_kept = 1;
	}
	st = db_stmt(c, "SELECT name, last_success, last_error, last_error_at FROM sinks", NULL);
	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct sink_slot *s = sink_slot_find(c, (const char *)sqlite3_column_text(st, 0));
		const unsigned char *e = sqlite3_column_text(st, 2);

		if (!s)
			continue;
		s->last_success = sqlite3_column_double(st, 1);
		s->last_error_at = sqlite3_column_double(st, 3);
		s->last_error = e ? strdup((const char *)e) : NULL;
	}
	sqlite3_reset(st);
	return 0;
}

static int sinks_open(struct cache *c, char *err, size_t errlen)
{
	c->sinks = calloc(c->cfg->nsinks ? c->cfg->nsinks : 1, sizeof(*c->sinks));
	if (!c->sinks)
		return -ENOMEM;
	for (size_t i = 0; i < c->cfg->nsinks; i++) {
		const struct cfg_section *sec = c->cfg->sinks[i];
		char msg[768];
		int rc = sink_new(&c->sinks[i].sink, sec, msg, sizeof(msg));

		if (rc) {	/* "[sink.a] path: ..." from the sink: say where */
			snprintf(err, errlen, "%s:%d: %s", c->cfg->path, sec->line, msg);
			return rc;
		}
		c->nsinks++;
	}
	return 0;
}

/* ERR = "FILE:LINE: [SECTION] KEY: MSG" for KEY of SEC (or the line of the
 * section when KEY comes from [flowfs]); -EINVAL. */
int key_error(const struct cfg *cfg, const struct cfg_section *sec, const char *key,
	      const char *msg, char *err, size_t errlen)
{
	const struct cfg_entry *e = cfg_entry(sec, key);

	snprintf(err, errlen, "%s:%d: [%s%s%s] %s: %s", cfg->path, e && e->line ? e->line : sec->line,
		 sec->kind, sec == cfg->global ? "" : ".", sec == cfg->global ? "" : sec->name, key, msg);
	return -EINVAL;
}

/* A template that cannot give a valid key is a config error. */
static int check_templates(const struct cfg *cfg, char *err, size_t errlen)
{
	struct tmpl_vars v = { .flow = "flow", .flowid = "id", .stream = "stream",
			       .path = "dir/file", .host = "host", .t = 0 };
	const char *keys[] = { "uploads", "filename", "errors" };
	char out[1024], msg[1024];

	for (size_t i = 0; i <= cfg->nflows; i++) {
		const struct cfg_section *sec = i < cfg->nflows ? cfg->flows[i] : cfg->global;
		for (size_t k = 0; k < 3; k++) {
			const struct cfg_entry *e = cfg_entry(sec, keys[k]);
			if (!e || !e->value || tmpl_render(e->value, &v, out, sizeof(out)) == 0)
				continue;
			snprintf(msg, sizeof(msg), "template gives an invalid key (empty, absolute, or "
				 "with an empty, '.' or '..' segment): '%.900s'", e->value);
			return key_error(cfg, sec, keys[k], msg, err, errlen);
		}
	}
	return 0;
}

/* The record keys of SEC agree with each other (see Transforms in flowfs.ini(5)). */
static int check_records_section(const struct cfg *cfg, const struct cfg_section *sec, char *err,
				 size_t errlen)
{
	static const char *const tmpls[] = { "filename", "uploads", "errors" };
	bool records = strcmp(cfg_str(sec, "format"), "bytes") != 0;
	bool parquet = strcmp(cfg_str(sec, "output"), "parquet") == 0;

	for (size_t i = 0; i < 3; i++) {
		const char *t = cfg_str(sec, tmpls[i]);

		if (t && (strstr(t, "<FIELD:>") || strstr(t, "<FIELD:|")))
			return key_error(cfg, sec, tmpls[i], "<FIELD:...> needs a field name", err, errlen);
		if (tmpl_has_fields(t) && (!records || i == 2))
			return key_error(cfg, sec, tmpls[i], i == 2 ? "the errors key cannot hold <FIELD:...>" :
					 "<FIELD:...> needs records (format = jsonl, csv or auto)", err, errlen);
	}
	if (!records && *cfg_str(sec, "output"))
		return key_error(cfg, sec, "output", "needs records (format = jsonl, csv or auto)", err, errlen);
	if (!records && cfg_str(sec, "columns"))
		return key_error(cfg, sec, "columns", "needs records (format = jsonl, csv or auto)", err, errlen);
	if (!records && *cfg_str(sec, "time_field"))
		return key_error(cfg, sec, "time_field", "needs records (format = jsonl, csv or auto), "
				 "not format = bytes", err, errlen);
	for (size_t i = 0; parquet && i < 2; i++) {
		const char *k = i ? "upload_compress" : "compress", *v = cfg_str(sec, k);

		if (strcmp(v, "xz") == 0 || strcmp(v, "bz2") == 0)
			return key_error(cfg, sec, k, "output = parquet compresses its pages with none, "
					 "gz or zst", err, errlen);
	}
	return 0;
}

static int check_records(const struct cfg *cfg, char *err, size_t errlen)
{
	int rc = 0;

	for (size_t i = 0; i <= cfg->nflows && rc == 0; i++)
		rc = check_records_section(cfg, i < cfg->nflows ? cfg->flows[i] : cfg->global, err, errlen);
	return rc;
}

int cache_new(struct cache **out, const struct cfg *cfg, char *err, size_t errlen)
{
	const struct cfg_section *g = cfg->global;
	struct cache *c = calloc(1, sizeof(*c));
	char dbpath[4096];
	int rc;

	if (!c)
		return -ENOMEM;
	rc = check_records(cfg, err, errlen);
	if (!rc)
		rc = check_templates(cfg, err, errlen);
	if (!rc)
		rc = check_flow_perms(cfg, err, errlen);
	if (!rc)
		rc = readside_check(cfg, err, errlen);
	if (rc) {
		free(c);
		return rc;
	}
	c->cfg = cfg;
	c->lock_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work_cond, NULL);
	pthread_cond_init(&c->pack_cond, NULL);
	pthread_cond_init(&c->step_cond, NULL);
	c->spool = strdup(cfg_str(g, "spool"));
	c->spool_max = cfg_size(g, "spool_max");
	c->part_size = cfg_size(g, "part_size");
	c->retry_max = cfg_seconds(g, "retry_max");
	c->drain_timeout = cfg_seconds(g, "drain_timeout");
	c->nworkers = (int)cfg_int(g, "workers");
	if (!c->spool || asprintf(&c->datadir, "%s/data", c->spool) < 0 ||
	    asprintf(&c->taildir, "%s/tails", c->spool) < 0 ||
	    asprintf(&c->stepdir, "%s/steps", c->spool) < 0) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = mkdir_p(c->datadir, 0700);
	if (!rc)
		rc = mkdir_p(c->taildir, 0700);
	if (rc) {
		snprintf(err, errlen, "[flowfs] spool: cannot create %s/{data,tails}: %s", c->spool,
			 strerror_r(-rc, dbpath, sizeof(dbpath)));
		goto out_free;
	}
	rc = spool_lock(c, err, errlen);
	if (rc)
		goto out_free;
	rc = spare_init(c);
	if (rc) {
		snprintf(err, errlen, "[flowfs] spool: cannot use %s/spare: %s", c->spool,
			 strerror_r(-rc, dbpath, sizeof(dbpath)));
		goto out_free;
	}
	rc = transforms_load(c, err, errlen);
	if (rc)
		goto out_free;
	spool_lock_pid(c);
	rc = sinks_open(c, err, errlen);
	if (rc)
		goto out_free;
	snprintf(dbpath, sizeof(dbpath), "%s/flowfs.db", c->spool);
	rc = db_open(c, dbpath, err, errlen);
	if (rc)
		goto out_free;
	reserve_init(c);
	rc = flows_load(c);
	if (!rc)
		rc = streams_load(c);
	if (!rc)
		rc = RESERVE_RETRY(c, recover(c));	/* a full disk: recovery frees space */
	if (rc) {
		snprintf(err, errlen, "%s: recovery failed: %s", dbpath, sqlite3_errmsg(c->db));
		goto out_free;
	}
	*out = c;
	return 0;
out_free:
	cache_free(c);
	return rc;
}

int cache_start(struct cache *c)
{
	char dbpath[4096], err[512];
	sigset_t all, old;
	int rc;

	spool_lock_pid(c);
	/* SQLite's locks do not survive fork(): open the database afresh. */
	db_close(c);
	snprintf(dbpath, sizeof(dbpath), "%s/flowfs.db", c->spool);
	rc = db_open(c, dbpath, err, sizeof(err));
	if (rc) {
		log_err("spool", "%s", err);
		return rc;
	}
	c->workers = calloc((size_t)c->nworkers, sizeof(*c->workers));
	c->steppers = calloc((size_t)c->nworkers, sizeof(*c->steppers));
	if (!c->workers || !c->steppers)
		return -ENOMEM;
	/* The spool's threads take no signal: SIGINT, SIGTERM and SIGHUP must
	 * reach the thread that runs the FUSE loop, which then unmounts (a
	 * worker that took one would leave the loop waiting for ever). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&c->packer, NULL, packer_main, c);
	if (rc == 0)
		rc = pthread_create(&c->timer, NULL, timer_main, c);
	for (int i = 0; i < c->nworkers && rc == 0; i++)
		rc = pthread_create(&c->workers[i], NULL, worker_main, c);
	/* steps: as many in parallel as workers, when a step is configured */
	c->nsteppers = c->ntransforms ? c->nworkers : 0;
	for (int i = 0; i < c->nsteppers && rc == 0; i++)
		rc = pthread_create(&c->steppers[i], NULL, stepper_main, c);
	if (rc == 0)
		rc = -readside_start(c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -rc;
	c->started = true;
	return 0;
}

static bool queues_empty(struct cache *c)
{
	return c->pack_n == 0 && c->step_n == 0 && c->stepping == 0 && c->pack_retry_n == 0 &&
	       c->seal_retry_n == 0 && !c->held_retry && !c->tails_kept &&
	       !c->packing && c->inflight == 0 &&
	       db_int(c, "SELECT count(*) FROM deliveries WHERE state IN ('queued', 'inflight')", NULL) == 0;
}

/* At unmount: open chunks are sealed, then packer and workers go on for up
 * to drain_timeout; what is left resumes at the next mount.  True if no
 * delivery is still in flight. */
static bool drain(struct cache *c)
{
	double deadline = now_real() + (double)c->drain_timeout;
	struct timespec ts;
	bool idle;

	streams_rotate(c, NULL, false);
	pthread_mutex_lock(&c->lock);
	while (!queues_empty(c) && now_real() < deadline) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->work_cond, &c->lock, &ts);
	}
	c->stopping = true;
	c->step_stop = true;	/* a step still running runs again at the next mount */
	pthread_cond_broadcast(&c->work_cond);
	pthread_cond_broadcast(&c->pack_cond);
	pthread_cond_broadcast(&c->step_cond);
	ts.tv_sec = (time_t)deadline + 1;
	ts.tv_nsec = 0;
	while (c->inflight > 0)
		if (pthread_cond_timedwait(&c->work_cond, &c->lock, &ts) != 0)
			break;
	idle = c->inflight == 0;
	pthread_mutex_unlock(&c->lock);
	if (!idle)
		log_warn("spool", "%d deliveries still in flight after drain_timeout; "
			 "they resume at the next mount", c->inflight);
	return idle;
}

void cache_free(struct cache *c)
{
	bool idle = true;

	if (!c)
		return;
	if (c->started) {
		idle = drain(c);
		if (!idle) {
			/* A worker is stuck in a sink and still uses the cache and the
			 * config: end the process here.  The spool is consistent;
			 * deliveries in flight are queued again at the next mount. */
			log_close();
			_exit(0);
		}
		for (int i = 0; i < c->nworkers; i++)
			pthread_join(c->workers[i], NULL);
		for (int i = 0; i < c->nsteppers; i++)
			pthread_join(c->steppers[i], NULL);
		pthread_join(c->packer, NULL);
		pthread_join(c->timer, NULL);
		readside_stop(c);
		outcomes_free(c);
	}
	readside_free(c);
	if (c->db)
		sqlite3_exec(c->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	db_close(c);
	streams_free(c);
	for (struct flow *f = c->flows, *next; f; f = next) {
		next = f->next;
		flow_free(f);
	}
	for (size_t i = 0; i < c->nsinks; i++) {
		sink_free(c->sinks[i].sink);
		free(c->sinks[i].last_error);
	}
	free(c->sinks);
	free(c->workers);
	free(c->steppers);
	free(c->step_q);
	free(c->step_retry);
	transforms_free(c);
	free(c->pack_q);
	free(c->early_q);
	early_free_all(c);
	free(c->pack_retry);
	free(c->seal_retry);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	spare_free(c);
	free(c->datadir);
	free(c->taildir);
	free(c->stepdir);
	free(c->spool);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->work_cond);
	pthread_cond_destroy(&c->pack_cond);
	pthread_cond_destroy(&c->step_cond);
	free(c);
}
