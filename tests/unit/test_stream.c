/*
 * tests/unit/test_stream.c - the rotator: chunks cut by maxsize, maxlines
 * and age, never inside a line; writers' partial lines kept apart.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../backend/sink.h"
#include "../../cache/internal.h"
#include "../../util/log.h"
#include "unit.h"

static char tmp[256], ini[512];

static const struct cfg_schema schema = {
	.global = cache_global_keys, .flow = cache_flow_keys, .transform = cache_transform_keys, .sink_keys = sink_keys,
};

static struct cfg *load(const char *flow_keys)
{
	char err[1024], cmd[1024];
	struct cfg *cfg = NULL;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "rm -rf %s/spool %s/out && mkdir -p %s/out", tmp, tmp, tmp);
	if (system(cmd) != 0)
		return NULL;
	f = fopen(ini, "w");
	fprintf(f, "[flowfs]\nspool = %s/spool\nworkers = 1\nlog = stderr\n"
		"[sink.out]\ntype = dir\npath = %s/out\n[flow.s]\nsinks = out\ncompress = none\n%s\n",
		tmp, tmp, flow_keys);
	fclose(f);
	if (cfg_load(&cfg, ini, &schema, err, sizeof(err)) != 0)
		printf("# cfg: %s\n", err);
	return cfg;
}

static struct cache_file *appender(struct cache *c, const char *path)
{
	struct cache_file *f = NULL;

	if (cache_create(c, path, O_WRONLY | O_APPEND | O_CREAT, 0644, 0, 0, &f) != 0)
		return NULL;
	return f;
}

static ssize_t put(struct cache_file *f, const char *s)
{
	return cache_write(f, s, strlen(s), 0);
}

/* Sizes of the stream's chunks, in order; "open" for the open one. */
static void chunks(struct cache *c, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	size_t n = 0;

	out[0] = '\0';
	pthread_mutex_lock(&c->lock);
	st = db_stmt(c, "SELECT state, size, id FROM objects WHERE kind = 'chunk' ORDER BY id", NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 0);
		n += (size_t)snprintf(out + n, outlen - n, "%s%lld", n ? "," : "",
				      strcmp(state, "staging") == 0 ? -1LL : sqlite3_column_int64(st, 1));
	}
	sqlite3_reset(st);
	pthread_mutex_unlock(&c->lock);
}

static void maxsize_cuts_at_lines(void)
{
	struct cfg *cfg = load("maxsize = 10");
	struct cache *c;
	struct cache_file *f;
	char err[256], got[256];

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK((f = appender(c, "/s/app.log")));
	CHECK(put(f, "aaaa\n") == 5);		/* 5 */
	CHECK(put(f, "bbbb\n") == 5);		/* 10: full, sealed */
	CHECK(put(f, "cc\n") == 3);
	CHECK(put(f, "dddddddd\n") == 9);	/* 3 + 9 > 10: seal first */
	CHECK(put(f, "a line much longer than ten\n") == 28);	/* a chunk of its own */
	CHECK(put(f, "e\n") == 2);
	chunks(c, got, sizeof(got));
	CHECK_STR(got, "10,3,9,28,-1");
	cache_release(f);
	cache_free(c);
	cfg_free(cfg);
}

static void maxlines_counts_lines(void)
{
	struct cfg *cfg = load("maxlines = 3");
	struct cache *c;
	struct cache_file *f;
	char err[256], got[256];

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK((f = appender(c, "/s/app.log")));
	CHECK(put(f, "1\n2\n") == 4);
	CHECK(put(f, "3\n4\n5\n6\n7\n") == 10);	/* one write, cut between lines */
	chunks(c, got, sizeof(got));
	CHECK_STR(got, "6,6,-1");
	cache_release(f);
	cache_free(c);
	cfg_free(cfg);
}

/* One write of many lines is cut at the last line that fits; a writer's
 * last piece without a newline goes whole into the next chunk. */
static void maxsize_cuts_inside_a_write(void)
{
	struct cfg *cfg = load("maxsize = 10");
	struct cache *c;
	struct cache_file *f;
	char err[256], got[256];
	struct stat st;

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK((f = appender(c, "/s/app.log")));
	CHECK(cache_fgetattr(f, &st) == 0 && st.st_blksize >= 1 << 20);	/* cat writes 1 MiB */
	CHECK(put(f, "aaa\nbbb\nccc\n") == 12);	/* 8 fit, then a new chunk */
	CHECK(put(f, "dddddd") == 6);			/* 4 + 6 fits, but held: no newline */
	CHECK(put(f, "\neeee") == 5);			/* "dddddd\n" does not fit 10 - 4 */
	cache_release(f);				/* "eeee" appended as is */
	chunks(c, got, sizeof(got));
	CHECK_STR(got, "8,4,7,4");
	cache_free(c);
	cfg_free(cfg);
}

/* Lines counted across one long write: maxlines cuts it exactly. */
static void maxlines_counts_a_long_write(void)
{
	struct cfg *cfg = load("maxlines = 100");
	struct cache *c;
	struct cache_file *f;
	char err[256], got[256], buf[400];

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK((f = appender(c, "/s/app.log")));
	for (int i = 0; i < 150; i++)
		memcpy(buf + 2 * i, "x\n", 2);
	CHECK(cache_write(f, buf, 300, 0) == 300);	/* 100 lines sealed, 50 open */
	CHECK(f->stream->lines == 50);
	CHECK(cache_write(f, buf, 120, 0) == 120);	/* 50 more fill it, 10 open */
	CHECK(f->stream->lines == 10);
	chunks(c, got, sizeof(got));
	CHECK_STR(got, "200,200,-1");
	cache_release(f);
	cache_free(c);
	cfg_free(cfg);
}

static void partial_lines_stay_apart(void)
{
	struct cfg *cfg = load("maxsize = 1M");
	struct cache *c;
	struct cache_file *a, *b;
	char err[256], buf[256] = "", got[256];

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK((a = appender(c, "/s/app.log")));
	CHECK((b = appender(c, "/s/app.log")));
	CHECK(put(a, "A1 start") == 8);		/* no newline yet: held by writer a */
	CHECK(put(b, "B1 whole\n") == 9);
	CHECK(put(a, " end\nA2") == 7);
	CHECK(put(b, "B2\n") == 3);
	struct cache_file *r;
	CHECK(cache_open(c, "/s/app.log", O_RDONLY, &r) == 0);
	CHECK(cache_read(r, buf, sizeof(buf) - 1, 0) == 25);
	CHECK_STR(buf, "B1 whole\nA1 start end\nB2\n");
	cache_release(r);
	cache_release(a);			/* "A2" appended as is at close: it ends the chunk */
	CHECK(put(b, "B3\n") == 3);		/* so B3 does not join it */
	cache_release(b);
	chunks(c, got, sizeof(got));
	CHECK_STR(got, "27,-1");
	char path[4096];
	int fd;
	pthread_mutex_lock(&c->lock);
	cache_data_path(c, db_int(c, "SELECT min(id) FROM objects WHERE kind = 'chunk'", NULL), path,
			sizeof(path));
	pthread_mutex_unlock(&c->lock);
	memset(buf, 0, sizeof(buf));
	CHECK((fd = open(path, O_RDONLY)) >= 0 && read(fd, buf, sizeof(buf) - 1) == 27);
	CHECK_STR(buf, "B1 whole\nA1 start end\nB2\nA2");
	close(fd);
	cache_free(c);
	cfg_free(cfg);
}

static void rotate_by_age_without_writes(void)
{
	struct cfg *cfg = load("rotate = 1s");
	struct cache *c;
	struct cache_file *f;
	char err[256], got[256];

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK(cache_start(c) == 0);
	CHECK((f = appender(c, "/s/app.log")));
	CHECK(put(f, "tick\n") == 5);
	for (int i = 0; i < 100; i++) {	/* the timer seals it: nobody writes */
		chunks(c, got, sizeof(got));
		if (strcmp(got, "5") == 0)
			break;
		usleep(50000);
	}
	CHECK_STR(got, "5");
	cache_release(f);
	cache_free(c);
	cfg_free(cfg);
}

static void crash_keeps_whole_lines(void)
{
	struct cfg *cfg = load("");
	struct cache *c;
	struct cache_file *f;
	char err[256], got[256], path[600];
	int64_t id;
	int fd;

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	CHECK((f = appender(c, "/s/app.log")));
	CHECK(put(f, "one\ntwo\n") == 8);
	id = f->stream->chunk;
	cache_data_path(c, id, path, sizeof(path));
	fd = open(path, O_WRONLY | O_APPEND);	/* a write the kill cut short */
	CHECK(write(fd, "thr", 3) == 3);
	close(fd);
	free(f);				/* the crash: no release */
	cache_free(c);
	CHECK(cache_new(&c, cfg, err, sizeof(err)) == 0);
	chunks(c, got, sizeof(got));
	CHECK_STR(got, "8");			/* trimmed to whole lines and sealed */
	cache_free(c);
	cfg_free(cfg);
}

/* All the stream's chunks, in order, as their data files hold them. */
static void chunk_bytes(struct cache *c, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	st = db_stmt(c, "SELECT id FROM objects WHERE kind = 'chunk' ORDER BY id", NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char path[4096];
		int fd;
		ssize_t k;

		cache_data_path(c, sqlite3_column_int64(st, 0), path, sizeof(path));
		fd = open(path, O_RDONLY);
		if (fd >= 0 && (k = read(fd, out + n, outlen - n - 1)) > 0)
			n += (size_t)k;
		if (fd >= 0)
			close(fd);
	}
	sqlite3_reset(st);
	pthread_mutex_unlock(&c->lock);
	out[n] = '\0';
}

struct early_page {
	struct cache_file *f;
	ssize_t rc;
};

static void *page_13(void *arg)
{
	struct early_page *e = arg;

	e->rc = cache_write_back(e->f, "ee\n", 3, 13);	/* before bytes 10-12 came */
	return NULL;
}

/* durability = close: pages by offset, rewritten, early, then a truncate. */
static void writeback_pages_by_offset(void)
{
	struct cfg *cfg = load("durability = close");
	struct cache *c;
	struct cache_file *f, *g;
	struct early_page e = { 0 };
	pthread_t t;
	struct stat st;
	char err[256], got[256];

	CHECK(cfg && cache_new(&c, cfg, err, sizeof(err)) == 0);
	cache_set_writeback(c, true);
	CHECK((f = appender(c, "/s/wb.log")) && cache_file_cached(f) && !cache_file_direct(f));
	CHECK(cache_write_back(f, "aaa\nbb", 6, 0) == 6);
	CHECK(cache_write_back(f, "aaa\nbbb\ncc", 10, 0) == 10);	/* the page again, longer */
	e.f = f;
	CHECK(pthread_create(&t, NULL, page_13, &e) == 0);
	usleep(100 * 1000);
	CHECK(e.rc == 0);	/* still waiting */
	CHECK(cache_write_back(f, "dd\n", 3, 10) == 3);
	pthread_join(t, NULL);
	CHECK(e.rc == 3);
	CHECK(cache_write_back(f, "ff", 2, 16) == 2);
	CHECK(cache_fgetattr(f, &st) == 0 && st.st_size == 18);	/* the kernel's size */
	CHECK(cache_flush(f) == 0);
	chunk_bytes(c, got, sizeof(got));
	CHECK_STR(got, "aaa\nbbb\nccdd\nee\n");	/* "ff" waits for its line or the close */
	cache_release(f);
	chunk_bytes(c, got, sizeof(got));
	CHECK_STR(got, "aaa\nbbb\nccdd\nee\nff");	/* the last writer's end, as it is */
	CHECK(cache_create(c, "/s/wb.log", O_WRONLY | O_APPEND | O_TRUNC, 0644, 0, 0, &g) == 0);
	CHECK(cache_write_back(g, "zz\n", 3, 0) == 3);	/* the offsets start over */
	cache_release(g);
	chunk_bytes(c, got, sizeof(got));
	CHECK_STR(got, "aaa\nbbb\nccdd\nee\nffzz\n");
	cache_free(c);
	cfg_free(cfg);
}

int main(void)
{
	char cmd[300];

	log_open("stderr", "error");
	snprintf(tmp, sizeof(tmp), "/tmp/flowfs-stream-XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	snprintf(ini, sizeof(ini), "%s/test.ini", tmp);
	RUN(maxsize_cuts_at_lines);
	RUN(maxlines_counts_lines);
	RUN(maxsize_cuts_inside_a_write);
	RUN(maxlines_counts_a_long_write);
	RUN(partial_lines_stay_apart);
	RUN(rotate_by_age_without_writes);
	RUN(crash_keeps_whole_lines);
	RUN(writeback_pages_by_offset);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmp);
	return unit_done();
}
