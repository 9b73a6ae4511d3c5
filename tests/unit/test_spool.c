/*
 * tests/unit/test_spool.c - the spool (cache/) through its real API with a
 * real dir sink in a temp directory: seal, split, hash, queue states,
 * hidden names, cancellation, ENOSPC and restart recovery.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../backend/sink.h"
#include "../../cache/internal.h"
#include "../../util/hash.h"
#include "../../util/log.h"
#include "unit.h"

static char tmp[256], ini[512], out[512];

static const struct cfg_schema schema = {
	.global = cache_global_keys, .flow = cache_flow_keys, .transform = cache_transform_keys, .sink_keys = sink_keys,
};

static struct cfg *load(const char *extra)
{
	char err[1024];
	struct cfg *cfg = NULL;
	FILE *f = fopen(ini, "w");

	fprintf(f, "[flowfs]\nspool = %s/spool\npart_size = 4K\nworkers = 2\nlog = stderr\n%s\n"
		"[sink.out]\ntype = dir\npath = %s\n[flow.f1]\nsinks = out\n", tmp, extra, out);
	fclose(f);
	if (cfg_load(&cfg, ini, &schema, err, sizeof(err)) != 0)
		printf("# cfg: %s\n", err);
	return cfg;
}

static int put_file(struct cache *c, const char *path, const char *data, size_t n, bool close_it,
		    struct cache_file **keep)
{
	struct cache_file *f;
	int rc = cache_create(c, path, O_WRONLY | O_CREAT, 0644, 0, 0, &f);

	if (rc)
		return rc;
	if (cache_write(f, data, n, 0) != (ssize_t)n)
		return -EIO;
	if (keep)
		*keep = f;
	if (!close_it)
		return 0;
	cache_flush(f);
	return cache_release(f);
}

static char *state_of(struct cache *c, const char *path)
{
	static char v[64];
	int n = cache_getxattr(c, path, "user.flowfs.state", v, sizeof(v) - 1);

	v[n > 0 ? n : 0] = '\0';
	return v;
}

static bool wait_state(struct cache *c, const char *path, const char *want)
{
	for (int i = 0; i < 500; i++) {
		if (strcmp(state_of(c, path), want) == 0)
			return true;
		usleep(20000);
	}
	return false;
}

static bool file_equals(const char *path, const char *data, size_t n)
{
	char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t got;

	if (fd < 0)
		return false;
	got = read(fd, buf, sizeof(buf));
	close(fd);
	return got == (ssize_t)n && memcmp(buf, data, n) == 0;
}

static void seal_split_hash(void)
{
	struct cfg *cfg = load("");
	struct cache *c;
	char err[512], data[10000], hex[65], got[65], path[600];
	int64_t id;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(cache_start(c) == 0);
	CHECK(put_file(c, "/f1/a.bin", data, sizeof(data), true, NULL) == 0);
	CHECK(wait_state(c, "/f1/a.bin", "delivered"));
	snprintf(path, sizeof(path), "%s/f1/a.bin", out);
	CHECK(file_equals(path, data, sizeof(data)));
	sha256_buf_hex(data, sizeof(data), hex);
	CHECK(cache_getxattr(c, "/f1/a.bin", "user.flowfs.sha256", got, 64) == 64);
	got[64] = '\0';
	CHECK_STR(got, hex);
	pthread_mutex_lock(&c->lock);
	id = db_int(c, "SELECT id FROM objects WHERE name = 'a.bin'", NULL);
	CHECK(db_int(c, "SELECT count(*) FROM parts WHERE object = ?", "i", id) == 3);
	CHECK(db_int(c, "SELECT len FROM parts WHERE object = ? AND idx = 2", "i", id) == 10000 - 8192);
	pthread_mutex_unlock(&c->lock);
	sha256_buf_hex(data + 4096, 4096, hex);
	pthread_mutex_lock(&c->lock);
	sqlite3_stmt *st = db_stmt(c, "SELECT sha256 FROM parts WHERE object = ? AND idx = 1", "i", id);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	snprintf(got, sizeof(got), "%s", sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	pthread_mutex_unlock(&c->lock);
	CHECK_STR(got, hex);
	cache_free(c);
	cfg_free(cfg);
}

static void hidden_held_until_rename(void)
{
	struct cfg *cfg = load("");
	struct cache *c;
	char err[512], path[600];

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(cache_start(c) == 0);
	CHECK(put_file(c, "/f1/.tmp.x", "hello\n", 6, true, NULL) == 0);
	CHECK(put_file(c, "/f1/marker", "m", 1, true, NULL) == 0);
	CHECK(wait_state(c, "/f1/marker", "delivered"));
	CHECK_STR(state_of(c, "/f1/.tmp.x"), "staging");
	CHECK(cache_rename(c, "/f1/.tmp.x", "/f1/final", 0) == 0);
	CHECK(wait_state(c, "/f1/final", "delivered"));
	snprintf(path, sizeof(path), "%s/f1/final", out);
	CHECK(file_equals(path, "hello\n", 6));
	snprintf(path, sizeof(path), "%s/f1/.tmp.x", out);
	CHECK(access(path, F_OK) != 0);
	cache_free(c);
	cfg_free(cfg);
}

/* A new upload's data file is a spare file made ahead, renamed; with
 * none left it is created.  A mount keeps the empty spares a last one
 * left and removes anything else there. */
static void spare_files_become_data_files(void)
{
	struct cfg *cfg = load("");
	struct cache *c;
	struct cache_file *f, *g;
	char err[512], path[600];
	struct stat sp, st;
	int fd;

	snprintf(path, sizeof(path), "rm -rf %s/spool", tmp);	/* no spares yet */
	CHECK(system(path) == 0);
	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(spare_fill(c, 2) == 2 && c->nspare == 2);
	snprintf(path, sizeof(path), "%s/%llu", c->sparedir, (unsigned long long)c->spares[1]);
	CHECK(stat(path, &sp) == 0);
	CHECK(put_file(c, "/f1/spare1", "abc", 3, false, &f) == 0);
	CHECK(fstat(f->fd, &st) == 0 && st.st_ino == sp.st_ino && st.st_size == 3);
	CHECK(access(path, F_OK) != 0 && c->nspare == 1);
	CHECK(put_file(c, "/f1/spare2", "de", 2, false, &g) == 0);
	CHECK(c->nspare == 0);
	CHECK(!spare_idle(c, now_real()) && spare_idle(c, now_real() + 1.5));	/* one just taken */
	cache_release(g);
	CHECK(put_file(c, "/f1/created", "fgh", 3, true, NULL) == 0);	/* none left */
	CHECK(cache_open(c, "/f1/created", O_RDONLY, &g) == 0);
	memset(err, 0, sizeof(err));
	CHECK(cache_read(g, err, sizeof(err) - 1, 0) == 3);
	CHECK_STR(err, "fgh");
	cache_release(g);
	cache_release(f);
	CHECK(spare_fill(c, 3) == 3);
	snprintf(path, sizeof(path), "%s/%llu", c->sparedir, (unsigned long long)c->spares[0]);
	CHECK((fd = open(path, O_WRONLY)) >= 0 && write(fd, "x", 1) == 1);	/* not empty */
	close(fd);
	snprintf(path, sizeof(path), "%s/junk", c->sparedir);
	CHECK((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	cache_free(c);
	CHECK(cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(c->nspare == 2);
	CHECK(access(path, F_OK) != 0);
	CHECK(cache_start(c) == 0);	/* an idle spool: the timer makes more */
	for (int i = 0; i < 100 && c->nspare <= 2; i++)
		usleep(50000);
	CHECK(c->nspare > 2);
	cache_free(c);
	cfg_free(cfg);
}

static void unlink_cancels(void)
{
	struct cfg *cfg = load("");
	struct cache *c;
	struct cache_file *f;
	char err[512], path[600];

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(cache_start(c) == 0);
	CHECK(put_file(c, "/f1/gone", "x", 1, false, &f) == 0);
	CHECK_STR(state_of(c, "/f1/gone"), "staging");
	CHECK(cache_unlink(c, "/f1/gone") == 0);
	cache_flush(f);
	cache_release(f);
	CHECK(put_file(c, "/f1/after", "y", 1, true, NULL) == 0);
	CHECK(wait_state(c, "/f1/after", "delivered"));
	snprintf(path, sizeof(path), "%s/f1/gone", out);
	CHECK(access(path, F_OK) != 0);
	pthread_mutex_lock(&c->lock);
	CHECK(db_int(c, "SELECT count(*) FROM objects WHERE name = 'gone' AND state = 'cancelled'", NULL) == 1);
	pthread_mutex_unlock(&c->lock);
	cache_free(c);
	cfg_free(cfg);
}

static void full_spool_enospc(void)
{
	struct cfg *cfg = load("spool_max = 8K\n");
	struct cache *c;
	struct cache_file *f;
	char err[512], data[6000] = { 0 };

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(put_file(c, "/f1/one", data, sizeof(data), false, &f) == 0);
	CHECK(cache_write(f, data, sizeof(data), (off_t)sizeof(data)) == -ENOSPC);
	CHECK(cache_write(f, data, 100, (off_t)sizeof(data)) == 100);
	cache_flush(f);
	cache_release(f);
	/* the refused write fails the file for good: never sealed */
	CHECK_STR(state_of(c, "/f1/one"), "failed");
	char why[256];
	int n = cache_getxattr(c, "/f1/one", "user.flowfs.error", why, sizeof(why) - 1);
	CHECK(n > 0);
	why[n] = '\0';
	CHECK_STR(why, "a write failed: No space left on device");
	pthread_mutex_lock(&c->lock);
	CHECK(db_int(c, "SELECT count(*) FROM objects WHERE name = 'one' AND sealed IS NOT NULL "
		     "AND open = 0 AND state = 'failed'", NULL) == 1);
	pthread_mutex_unlock(&c->lock);
	/* O_TRUNC starts it clean */
	CHECK(cache_open(c, "/f1/one", O_WRONLY | O_TRUNC, &f) == 0);
	CHECK(cache_write(f, "ok", 2, 0) == 2);
	cache_flush(f);
	cache_release(f);
	CHECK_STR(state_of(c, "/f1/one"), "queued");
	cache_free(c);
	cfg_free(cfg);
}

/* A delivered file reads back while listed; the spool takes its room
 * back, oldest delivery first, before a write would get ENOSPC. */
static void delivered_reads_back_then_reclaimed(void)
{
	struct cfg *cfg = load("spool_max = 12K\n");
	struct cache *c;
	struct cache_file *f;
	char err[512], a[5000], b[5000], got[5000], cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/spool'", tmp);	/* a spool of its own */
	CHECK(system(cmd) == 0);

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(cache_start(c) == 0);
	CHECK(put_file(c, "/f1/a", a, sizeof(a), true, NULL) == 0);
	CHECK(wait_state(c, "/f1/a", "delivered"));
	CHECK(put_file(c, "/f1/b", b, sizeof(b), true, NULL) == 0);
	CHECK(wait_state(c, "/f1/b", "delivered"));
	CHECK(cache_open(c, "/f1/a", O_RDONLY, &f) == 0);
	CHECK(cache_read(f, got, sizeof(got), 0) == (ssize_t)sizeof(a));
	CHECK(memcmp(got, a, sizeof(a)) == 0);
	cache_release(f);
	pthread_mutex_lock(&c->lock);
	CHECK(spool_reclaimable(c) == sizeof(a) + sizeof(b));
	pthread_mutex_unlock(&c->lock);
	/* 5000 more bytes pass 12K: a, the oldest, leaves the listing */
	CHECK(put_file(c, "/f1/c", a, sizeof(a), true, NULL) == 0);
	CHECK(cache_open(c, "/f1/a", O_RDONLY, &f) == -ENOENT);
	CHECK_STR(state_of(c, "/f1/b"), "delivered");
	CHECK(cache_open(c, "/f1/b", O_RDONLY, &f) == 0);
	CHECK(cache_read(f, got, sizeof(got), 0) == (ssize_t)sizeof(b));
	cache_release(f);
	cache_free(c);
	cfg_free(cfg);
}

/* Closed (flushed) files survive a crash; files still open are discarded. */
static void restart_recovery(void)
{
	struct cfg *cfg = load("");
	struct cache *c;
	struct cache_file *closed, *open_f;
	char err[512], path[600];

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(put_file(c, "/f1/closed", "done\n", 5, false, &closed) == 0);
	CHECK(cache_flush(closed) == 0);	/* close() returned; release never came */
	CHECK(put_file(c, "/f1/open", "half", 4, false, &open_f) == 0);
	free(closed);				/* the "crash": handles vanish */
	free(open_f);
	for (struct open_obj *o = c->open, *next; o; o = next) {
		next = o->next;
		free(o);
	}
	c->open = NULL;
	cache_free(c);
	CHECK(cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(cache_start(c) == 0);
	CHECK(wait_state(c, "/f1/closed", "delivered"));
	snprintf(path, sizeof(path), "%s/f1/closed", out);
	CHECK(file_equals(path, "done\n", 5));
	struct stat st;
	CHECK(cache_getattr(c, "/f1/open", &st) == -ENOENT);
	pthread_mutex_lock(&c->lock);
	CHECK(db_int(c, "SELECT count(*) FROM objects WHERE name = 'open' AND state = 'discarded'", NULL) == 1);
	pthread_mutex_unlock(&c->lock);
	cache_free(c);
	cfg_free(cfg);
}

/* A kill between recording a delivery and updating its object left the
 * object 'queued' with nothing left to send: the next start settles it. */
static void restart_settles_queued(void)
{
	struct cfg *cfg = load("");
	struct cache *c;
	char err[512];

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(cache_start(c) == 0);
	CHECK(put_file(c, "/f1/settle", "data\n", 5, true, NULL) == 0);
	CHECK(wait_state(c, "/f1/settle", "delivered"));
	cache_free(c);
	CHECK(cache_new(&c, cfg, err, sizeof(err)) == 0);
	pthread_mutex_lock(&c->lock);	/* as the kill left it */
	CHECK(db_exec(c, "UPDATE objects SET state = 'queued', done = 0 WHERE name = 'settle'", NULL) == 0);
	pthread_mutex_unlock(&c->lock);
	cache_free(c);
	CHECK(cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(cache_start(c) == 0);
	CHECK(strcmp(state_of(c, "/f1/settle"), "delivered") == 0);
	pthread_mutex_lock(&c->lock);
	CHECK(db_int(c, "SELECT count(*) FROM objects WHERE state = 'queued'", NULL) == 0);
	pthread_mutex_unlock(&c->lock);
	cache_free(c);
	cfg_free(cfg);
}

/* A claim reads the due rows in the order of deliveries_queue: no sort of
 * every queued row under the lock (1.6 ms a claim with 1,000 queued). */
static void claim_reads_the_index_in_order(void)
{
	struct cfg *cfg = load("");
	struct cache *c;
	sqlite3_stmt *st;
	char err[512] = "", plan[2048] = "", sql[1200];
	size_t n = 0;

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", claim_sql);
	CHECK(sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) == SQLITE_OK);
	sqlite3_bind_double(st, 1, 1.0);
	while (sqlite3_step(st) == SQLITE_ROW)
		n += (size_t)snprintf(plan + n, sizeof(plan) - n, "%s; ", sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	CHECK(strstr(plan, "deliveries_queue") != NULL);
	CHECK(strstr(plan, "TEMP B-TREE") == NULL);
	if (strstr(plan, "TEMP B-TREE") || !strstr(plan, "deliveries_queue"))
		printf("# plan: %s\n", plan);
	cache_free(c);
	cfg_free(cfg);
}

static void second_spool_user_refused(void)
{
	struct cfg *cfg = load("");
	struct cache *c, *c2;
	char err[512] = "";

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(cache_new(&c2, cfg, err, sizeof(err)) == -EBUSY);
	CHECK(strstr(err, "is in use by flowfs pid") != NULL);
	cache_free(c);
	cfg_free(cfg);
}

/* The flow keys mode, owner and group give the flow's directories their
 * attributes; unknown names and bad modes refuse cache_new() with the line. */
static void flow_perm_keys(void)
{
	struct cfg *cfg = load("mode = 0750\nowner = nobody\ngroup = 65534");
	struct cache *c;
	struct stat st;
	char err[512] = "";

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(cache_getattr(c, "/f1", &st) == 0);
	CHECK(st.st_mode == (S_IFDIR | 0750) && st.st_uid == 65534 && st.st_gid == 65534);
	CHECK(cache_mkdir(c, "/f1/sub", 0700, 5, 5) == 0);
	CHECK(cache_getattr(c, "/f1/sub", &st) == 0);
	CHECK(st.st_mode == (S_IFDIR | 0750) && st.st_uid == 65534 && st.st_gid == 65534);
	CHECK(cache_getattr(c, "/", &st) == 0);
	CHECK(st.st_mode == (S_IFDIR | 0755) && st.st_uid == 0);
	cache_free(c);
	cfg_free(cfg);
	cfg = load("owner = no-such-user-zz");
	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, ":6: [flowfs] owner: unknown user 'no-such-user-zz'") != NULL);
	cfg_free(cfg);
	cfg = load("mode = 0800");
	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, ":6: [flowfs] mode: bad mode '0800'") != NULL);
	cfg_free(cfg);
}

int main(void)
{
	char cmd[600];

	log_open("stderr", "warn");
	snprintf(tmp, sizeof(tmp), "/tmp/flowfs-unit-XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	snprintf(ini, sizeof(ini), "%s/test.ini", tmp);
	snprintf(out, sizeof(out), "%s/out", tmp);
	mkdir(out, 0755);
	RUN(seal_split_hash);
	RUN(hidden_held_until_rename);
	RUN(unlink_cancels);
	RUN(spare_files_become_data_files);
	RUN(full_spool_enospc);
	RUN(restart_recovery);
	RUN(restart_settles_queued);
	RUN(second_spool_user_refused);
	RUN(claim_reads_the_index_in_order);
	RUN(flow_perm_keys);
	RUN(delivered_reads_back_then_reclaimed);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmp);
	return unit_done();
}
