/*
 * cache/db.c - the spool database: schema, cached statements, transactions.
 *
 * SQLite runs in WAL mode with synchronous = NORMAL: a commit survives a
 * crash of the process (kill -9) because the WAL lives in the page cache;
 * fsync() of a file checkpoints the WAL for power-loss durability.  One
 * connection, used under c->lock.  Statements are prepared once and cached
 * by the address of their SQL text, which is always a string literal.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "internal.h"
#include "readside.h"

struct stmt_cache {
	const char *sql;
	sqlite3_stmt *st;
	struct stmt_cache *next;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS flows("
	"  id TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL,"
	"  sinks TEXT NOT NULL DEFAULT '', created REAL NOT NULL, updated REAL NOT NULL,"
	"  deleted REAL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS flows_name ON flows(name) WHERE deleted IS NULL;"
	"CREATE TABLE IF NOT EXISTS dirs("
	"  flow TEXT NOT NULL, dir TEXT NOT NULL, name TEXT NOT NULL,"
	"  mode INT NOT NULL, uid INT NOT NULL, gid INT NOT NULL, mtime REAL NOT NULL,"
	"  PRIMARY KEY(flow, dir, name));"
	"CREATE TABLE IF NOT EXISTS objects("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, flow TEXT NOT NULL,"
	"  dir TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'upload',"
	"  state TEXT NOT NULL, open INT NOT NULL DEFAULT 1, listed INT NOT NULL DEFAULT 1,"
	"  size INT NOT NULL DEFAULT 0, synced INT, sha256 TEXT,"
	"  mode INT NOT NULL, uid INT NOT NULL, gid INT NOT NULL,"
	"  mtime REAL NOT NULL, ctime REAL NOT NULL, created REAL NOT NULL,"
	"  sealed REAL, done REAL,"
	"  stream INT, part INT, seq INT, packed TEXT, psize INT, psha256 TEXT, error TEXT,"
	"  parent INT, dkey TEXT, compress TEXT, stepped INT, fstep INT);"
	"CREATE INDEX IF NOT EXISTS objects_stream ON objects(stream, state);"
	"CREATE TABLE IF NOT EXISTS streams("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, flow TEXT NOT NULL, dir TEXT NOT NULL,"
	"  name TEXT NOT NULL, next_part INT NOT NULL DEFAULT 0, mode INT NOT NULL,"
	"  uid INT NOT NULL, gid INT NOT NULL, created REAL NOT NULL, mtime REAL NOT NULL,"
	"  deleted INT NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX IF NOT EXISTS streams_path ON streams(flow, dir, name) WHERE deleted = 0;"
	"CREATE UNIQUE INDEX IF NOT EXISTS objects_path ON objects(flow, dir, name) WHERE listed = 1;"
	"CREATE INDEX IF NOT EXISTS objects_state ON objects(state);"
	/* delivered files still listed: what the spool can take back, oldest first */
	"CREATE INDEX IF NOT EXISTS objects_reclaim ON objects(done) WHERE state = 'delivered' AND listed = 1;"
	"CREATE TABLE IF NOT EXISTS xmeta("
	"  object INT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,"
	"  PRIMARY KEY(object, name));"
	"CREATE TABLE IF NOT EXISTS parts("
	"  object INT NOT NULL, idx INT NOT NULL, off INT NOT NULL, len INT NOT NULL,"
	"  sha256 TEXT NOT NULL, PRIMARY KEY(object, idx));"
	"CREATE TABLE IF NOT EXISTS deliveries("
	"  object INT NOT NULL, sink TEXT NOT NULL, state TEXT NOT NULL,"
	"  attempts INT NOT NULL DEFAULT 0, next_try REAL NOT NULL DEFAULT 0,"
	"  last_error TEXT, key TEXT, done REAL, upload_id TEXT, early_rel TEXT,"
	"  PRIMARY KEY(object, sink));"
	/* the queue in claim order: a claim reads its first rows, not all queued */
	"DROP INDEX IF EXISTS deliveries_state;"
	"CREATE INDEX IF NOT EXISTS deliveries_queue ON deliveries(state, next_try, object);"
	"CREATE TABLE IF NOT EXISTS part_ids("
	"  object INT NOT NULL, sink TEXT NOT NULL, idx INT NOT NULL, part_id TEXT NOT NULL, sha256 TEXT,"
	"  PRIMARY KEY(object, sink, idx));"
	"CREATE TABLE IF NOT EXISTS sinks("
	"  name TEXT PRIMARY KEY, last_success REAL, last_error TEXT, last_error_at REAL);"
	"CREATE TABLE IF NOT EXISTS schemas(flow TEXT PRIMARY KEY, text TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS record_counts("
	"  flow TEXT NOT NULL, source TEXT NOT NULL, rin INT NOT NULL DEFAULT 0,"
	"  rout INT NOT NULL DEFAULT 0, rerr INT NOT NULL DEFAULT 0, PRIMARY KEY(flow, source));"
	"CREATE TABLE IF NOT EXISTS history("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, t REAL NOT NULL, flow TEXT NOT NULL,"
	"  object INT, key TEXT, source TEXT, step TEXT NOT NULL, status TEXT NOT NULL,"
	"  exit INT, signal INT, seconds REAL, bytes_in INT, bytes_out INT, why TEXT,"
	"  stderr TEXT);"
	"CREATE INDEX IF NOT EXISTS history_flow ON history(flow, id);"
	"CREATE INDEX IF NOT EXISTS history_t ON history(t);"
	"CREATE TABLE IF NOT EXISTS seq("
	"  flow TEXT NOT NULL, name TEXT NOT NULL, n INT NOT NULL, PRIMARY KEY(flow, name));";

/* Columns added after the first release, for spools made before them:
 * packed form's size and hash (size and sha256 are the file's own), why an
 * upload failed, what records made of an object (its parent, key and
 * compression), and its pipeline steps (how many done, which failed).  Added when missing. */
static const char *const added_columns[][3] = {
	{ "objects", "psize", "INT" }, { "objects", "psha256", "TEXT" }, { "objects", "error", "TEXT" },
	{ "objects", "parent", "INT" }, { "objects", "dkey", "TEXT" }, { "objects", "compress", "TEXT" },
	{ "objects", "stepped", "INT" }, { "objects", "fstep", "INT" },
	/* uploads sent while written: the hash of each part sent, the path
	 * the upload was started for */
	{ "part_ids", "sha256", "TEXT" }, { "deliveries", "early_rel", "TEXT" },
};

static int db_migrate(sqlite3 *db, char **msg)
{
	char sql[160];
	int rc = SQLITE_OK;

	for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]) && rc == SQLITE_OK; i++) {
		sqlite3_stmt *st;
		bool have = false;

		if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?",
				       -1, &st, NULL) != SQLITE_OK)
			return SQLITE_ERROR;
		sqlite3_bind_text(st, 1, added_columns[i][0], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, added_columns[i][1], -1, SQLITE_STATIC);
		have = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
		if (have)
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s", added_columns[i][0],
			 added_columns[i][1], added_columns[i][2]);
		rc = sqlite3_exec(db, sql, NULL, NULL, msg);
	}
	if (rc == SQLITE_OK)	/* on the added columns */
		rc = sqlite3_exec(db, "CREATE INDEX IF NOT EXISTS objects_parent ON objects(parent) "
				  "WHERE parent IS NOT NULL", NULL, NULL, msg);
	return rc;
}

int db_open(struct cache *c, const char *path, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, c->db ? sqlite3_errmsg(c->db) : "out of memory");
		goto out_close;
	}
	sqlite3_busy_timeout(c->db, 5000);
	rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			  "PRAGMA foreign_keys = OFF;", NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db, schema, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db, readside_schema, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = db_migrate(c->db, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		goto out_close;
	}
	return 0;
out_close:
	sqlite3_close(c->db);
	c->db = NULL;
	return -EIO;
}

void db_close(struct cache *c)
{
	struct stmt_cache *s, *next;

	for (s = c->stmts; s; s = next) {
		next = s->next;
		sqlite3_finalize(s->st);
		free(s);
	}
	c->stmts = NULL;
	if (c->db)
		sqlite3_close(c->db);
	c->db = NULL;
}

static sqlite3_stmt *db_vstmt(struct cache *c, const char *sql, const char *fmt, va_list ap)
{
	struct stmt_cache *s;
	int i = 1;

	for (s = c->stmts; s; s = s->next)
		if (s->sql == sql)
			break;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st,
				       NULL) != SQLITE_OK) {
			log_err("spool", "prepare: %s: %s", sqlite3_errmsg(c->db), sql);
			free(s);
			return NULL;
		}
		s->sql = sql;
		s->next = c->stmts;
		c->stmts = s;
	}
	sqlite3_reset(s->st);
	sqlite3_clear_bindings(s->st);
	for (const char *f = fmt; f && *f; f++, i++) {
		switch (*f) {
		case 'i':
			sqlite3_bind_int64(s->st, i, va_arg(ap, int64_t));
			break;
		case 'n':
			sqlite3_bind_int(s->st, i, va_arg(ap, int));
			break;
		case 'd':
			sqlite3_bind_double(s->st, i, va_arg(ap, double));
			break;
		case 't': {
			const char *t = va_arg(ap, const char *);
			if (t)
				sqlite3_bind_text(s->st, i, t, -1, SQLITE_TRANSIENT);
			else
				sqlite3_bind_null(s->st, i);
			break;
		}
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);
			sqlite3_bind_blob64(s->st, i, p, n, SQLITE_TRANSIENT);
			break;
		}
		}
	}
	return s->st;
}

sqlite3_stmt *db_stmt(struct cache *c, const char *sql, const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *st;

	va_start(ap, fmt);
	st = db_vstmt(c, sql, fmt, ap);
	va_end(ap);
	return st;
}

int db_errno(struct cache *c, int rc)
{
	if (rc == SQLITE_FULL)
		return -ENOSPC;
	log_err("spool", "database: %s", sqlite3_errmsg(c->db));
	return -EIO;
}

int db_exec(struct cache *c, const char *sql, const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *st;
	int rc;

	va_start(ap, fmt);
	st = db_vstmt(c, sql, fmt, ap);
	va_end(ap);
	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_errno(c, rc);
	return 0;
}

int64_t db_int(struct cache *c, const char *sql, const char *fmt, ...)
{
	va_list ap;
	sqlite3_stmt *st;
	int64_t v = -1;

	va_start(ap, fmt);
	st = db_vstmt(c, sql, fmt, ap);
	va_end(ap);
	if (!st)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

size_t db_ids(struct cache *c, sqlite3_stmt *st, int64_t **out)
{
	size_t n = 0, cap = 0;

	*out = NULL;
	while (st && sqlite3_step(st) == SQLITE_ROW && ids_push(out, &n, &cap, sqlite3_column_int64(st, 0)))
		;
	if (st)
		sqlite3_reset(st);
	return n;
}

bool db_wal_restartable(struct cache *c)
{
	int log = 0, done = 0;

	if (!sqlite3_get_autocommit(c->db) ||
	    sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) != SQLITE_OK)
		return false;
	return log > 0 && done == log;
}

int db_begin(struct cache *c)
{
	return db_exec(c, "BEGIN IMMEDIATE", NULL);
}

/* Ends the transaction db_begin() opened: commits it if RC is 0, else rolls
 * it back, and rolls back too a commit the db refused (SQLITE_FULL or BUSY
 * leave it open, and the next BEGIN would fail).  RC or the commit's error. */
int db_end(struct cache *c, int rc)
{
	if (rc == 0)
		rc = db_exec(c, "COMMIT", NULL);
	if (rc && !sqlite3_get_autocommit(c->db))
		db_exec(c, "ROLLBACK", NULL);
	return rc;
}
