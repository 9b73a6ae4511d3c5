/*
 * tests/unit/test_dir.c - the dir sink (backend/dir.c) and the sink
 * registry helpers (backend/sink.c), on real files in a temp directory:
 * delivered bytes, nested keys, empty objects, overwrite, corrupt parts,
 * refused keys and prefixes, a sink directory that is missing at open or
 * vanishes later, metadata xattrs, and no temp file left behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../backend/sink.h"
#include "../../cache/cache.h"
#include "../../util/hash.h"
#include "unit.h"

static const struct cfg_schema schema = {
	.global = cache_global_keys, .flow = cache_flow_keys, .transform = cache_transform_keys, .sink_keys = sink_keys,
};

static char root[256];		/* the test's temp directory */
static char out[300];		/* the sink directory */
static char data[300];		/* the spool data file */

/* An open sink with what it borrows. */
struct fix {
	struct cfg *cfg;
	struct sink *sink;
	char err[1024];
	int rc;
};

/* An object with its parts, made from the data file; RES keeps what the
 * sink saves for resuming in memory, as the spool keeps it in its db. */
struct obj {
	struct sink_object o;
	struct sink_part parts[16];
	char key[1024];
	struct sink_resume res;
	char upload_id[NAME_MAX + 1];
};

static int mem_save_upload(struct sink_resume *r, const char *id)
{
	struct obj *ob = r->arg;

	snprintf(ob->upload_id, sizeof(ob->upload_id), "%s", id ? id : "");
	r->upload_id = id ? ob->upload_id : NULL;
	return 0;
}

static int mem_save_part(struct sink_resume *r, size_t idx, const char *id)
{
	return 0;
}

static void fix_free(struct fix *f)
{
	sink_free(f->sink);
	cfg_free(f->cfg);
	f->sink = NULL;
	f->cfg = NULL;
}

/* Loads an INI with [sink.archive] (PATH, then EXTRA lines) and opens it. */
static int fix_open(struct fix *f, const char *path, const char *extra)
{
	char ini[300];
	FILE *fp;

	memset(f, 0, sizeof(*f));
	snprintf(ini, sizeof(ini), "%s/flowfs.ini", root);
	fp = fopen(ini, "w");
	if (!fp)
		return -errno;
	fprintf(fp, "[flowfs]\nspool = %s/spool\nlog = stderr\n\n[sink.archive]\ntype = dir\n"
		"path = %s\n%s\n", root, path, extra ? extra : "");
	fclose(fp);
	f->rc = cfg_load(&f->cfg, ini, &schema, f->err, sizeof(f->err));
	if (f->rc)
		return f->rc;
	if (f->cfg->nsinks != 1)
		return f->rc = -EINVAL;
	f->rc = sink_new(&f->sink, f->cfg->sinks[0], f->err, sizeof(f->err));
	return f->rc;
}

static int write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, p, n);
	close(fd);
	return w == (ssize_t)n ? 0 : -EIO;
}

/* Fills the data file with N pseudo-random bytes, seeded by SEED. */
static int make_data(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n ? n : 1);
	int rc;

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
	rc = write_file(data, p, n);
	free(p);
	return rc;
}

/* Splits the data file into NPARTS parts and hashes them, as the spool does. */
static int make_obj(struct obj *ob, const char *key, size_t nparts)
{
	struct stat st;
	uint64_t size, off = 0;
	int fd, rc = 0;

	memset(ob, 0, sizeof(*ob));
	snprintf(ob->key, sizeof(ob->key), "%s", key);
	fd = open(data, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	size = (uint64_t)st.st_size;
	for (size_t i = 0; i < nparts && rc == 0; i++) {
		uint64_t len = i + 1 == nparts ? size - off : size / nparts;
		ob->parts[i].offset = off;
		ob->parts[i].length = len;
		rc = sha256_fd_range(fd, off, len, ob->parts[i].sha256);
		off += len;
	}
	if (rc == 0)
		rc = sha256_fd_range(fd, 0, size, ob->o.sha256);
	close(fd);
	ob->o.id = 1;
	ob->o.flow = "web";
	ob->o.key = ob->key;
	ob->o.data = data;
	ob->o.size = size;
	ob->o.nparts = nparts;
	ob->o.parts = ob->parts;
	ob->o.content_type = sink_content_type(key);
	ob->o.mtime = 1795350896;
	ob->o.mode = 0640;
	ob->res.arg = ob;
	ob->res.save_upload = mem_save_upload;
	ob->res.save_part = mem_save_part;
	ob->o.resume = &ob->res;
	return rc;
}

static int file_sha(const char *path, char hex[65])
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	int rc;

	if (fd < 0)
		return -errno;
	rc = fstat(fd, &st) < 0 ? -errno : sha256_fd_range(fd, 0, (uint64_t)st.st_size, hex);
	close(fd);
	return rc;
}

/* Number of entries under DIR whose name contains ".flowfs-" (recursive). */
static int temps_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char sub[1024];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (strstr(e->d_name, ".flowfs-"))
			n++;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			n += temps_in(sub);
	}
	closedir(d);
	return n;
}

static int entries_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh, empty sink directory for each case. */
static void reset_out(void)
{
	rm_rf(out);
	mkdir(out, 0755);
}

/* Delivers OB; an error is printed as a TAP comment to help a failing case. */
static int put(struct fix *f, struct obj *ob)
{
	int rc = sink_put(f->sink, NULL, &ob->o, f->err, sizeof(f->err));

	if (rc)
		printf("# put %.60s: %d: %s\n", ob->key, rc, f->err);
	return rc;
}

static void delivers_identical_bytes(void)
{
	struct fix f;
	struct obj ob;
	char path[1024], hex[65];
	struct stat st;

	reset_out();
	/* Not a multiple of the 1 MiB copy buffer, nor of the part size. */
	CHECK(make_data((5u << 20) / 2 + 12345, 1) == 0);
	CHECK(make_obj(&ob, "report.csv", 3) == 0);
	CHECK(fix_open(&f, out, NULL) == 0);
	CHECK(put(&f, &ob) == 0);
	CHECK_STR(f.err, "");
	snprintf(path, sizeof(path), "%s/report.csv", out);
	CHECK(file_sha(path, hex) == 0);
	CHECK_STR(hex, ob.o.sha256);
	CHECK(stat(path, &st) == 0);
	CHECK((st.st_mode & 07777) == 0640);
	CHECK(st.st_mtime == ob.o.mtime);
	CHECK((uint64_t)st.st_size == ob.o.size);
	CHECK(temps_in(out) == 0);
	fix_free(&f);
}

static void nested_key_creates_dirs(void)
{
	struct fix f;
	struct obj ob;
	char path[1024], hex[65];
	struct stat st;

	reset_out();
	CHECK(make_data(1000, 2) == 0);
	CHECK(make_obj(&ob, "web/2026/q4/a.bin", 1) == 0);
	ob.o.mode = 0;	/* unknown: 0644 */
	CHECK(fix_open(&f, out, NULL) == 0);
	CHECK(put(&f, &ob) == 0);
	snprintf(path, sizeof(path), "%s/web/2026/q4", out);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK((st.st_mode & 0777) == 0755);
	snprintf(path, sizeof(path), "%s/web/2026/q4/a.bin", out);
	CHECK(file_sha(path, hex) == 0);
	CHECK_STR(hex, ob.o.sha256);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
	/* A sibling in the directories that now exist. */
	CHECK(make_obj(&ob, "web/2026/q4/b.bin", 1) == 0);
	CHECK(put(&f, &ob) == 0);
	CHECK(temps_in(out) == 0);
	fix_free(&f);
}

static void zero_byte_object(void)
{
	struct fix f;
	struct obj ob;
	char path[1024], hex[65];
	struct stat st;

	reset_out();
	CHECK(make_data(0, 3) == 0);
	CHECK(make_obj(&ob, "empty.txt", 1) == 0);
	CHECK_STR(ob.parts[0].sha256,
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK(fix_open(&f, out, "fsync = no") == 0);
	CHECK(put(&f, &ob) == 0);
	snprintf(path, sizeof(path), "%s/empty.txt", out);
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0);
	CHECK(file_sha(path, hex) == 0);
	CHECK_STR(hex, ob.o.sha256);
	fix_free(&f);
}

static void overwrite_same_key(void)
{
	struct fix f;
	struct obj ob;
	char path[1024], hex[65];

	reset_out();
	CHECK(fix_open(&f, out, NULL) == 0);
	CHECK(make_data(300000, 4) == 0);
	CHECK(make_obj(&ob, "d/same.log", 2) == 0);
	CHECK(put(&f, &ob) == 0);
	CHECK(make_data(1234, 5) == 0);
	CHECK(make_obj(&ob, "d/same.log", 2) == 0);
	CHECK(put(&f, &ob) == 0);
	snprintf(path, sizeof(path), "%s/d/same.log", out);
	CHECK(file_sha(path, hex) == 0);
	CHECK_STR(hex, ob.o.sha256);
	snprintf(path, sizeof(path), "%s/d", out);
	CHECK(entries_in(path) == 1);
	fix_free(&f);
}

static void corrupt_part_is_never_delivered(void)
{
	struct fix f;
	struct obj ob;
	char path[1024];
	unsigned char c;
	int fd;

	reset_out();
	CHECK(make_data(3u << 20, 6) == 0);
	CHECK(make_obj(&ob, "x/corrupt.bin", 3) == 0);
	/* Flip one byte of the second part after it was hashed. */
	fd = open(data, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pread(fd, &c, 1, (off_t)ob.parts[1].offset + 17) == 1);
	c ^= 0x5a;
	CHECK(pwrite(fd, &c, 1, (off_t)ob.parts[1].offset + 17) == 1);
	close(fd);
	CHECK(fix_open(&f, out, NULL) == 0);
	CHECK(put(&f, &ob) == -EBADMSG);
	CHECK(strstr(f.err, "part 2 of x/corrupt.bin: sha256 mismatch") != NULL);
	CHECK(strstr(f.err, ob.parts[1].sha256) != NULL);
	snprintf(path, sizeof(path), "%s/x/corrupt.bin", out);
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	CHECK(temps_in(out) == 0);
	/* A data file shorter than its parts is refused too. */
	CHECK(make_data(3u << 20, 6) == 0);
	CHECK(truncate(data, (off_t)ob.parts[2].offset + 10) == 0);
	CHECK(put(&f, &ob) == -EBADMSG);
	CHECK(strstr(f.err, "part 3 of x/corrupt.bin: the spool data file ends") != NULL);
	CHECK(access(path, F_OK) < 0);
	CHECK(temps_in(out) == 0);
	fix_free(&f);
}

static void bad_keys_are_refused(void)
{
	static const char *const bad[] = {
		"../x", "/abs", "a//b", "a/./b", "a/../b", "..", ".", "a/", "", "a/b\nc", "tab\there",
		"del\x7f", "a/..",
	};
	struct fix f;
	struct obj ob;
	char longkey[600];

	reset_out();
	CHECK(make_data(10, 7) == 0);
	CHECK(fix_open(&f, out, NULL) == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(make_obj(&ob, bad[i], 1) == 0);
		if (put(&f, &ob) != -EINVAL) {
			printf("# key '%s' was not refused\n", bad[i]);
			CHECK(0);
		}
		CHECK(strstr(f.err, "refused key") != NULL);
	}
	/* The message never carries a raw control character. */
	CHECK(make_obj(&ob, "a/b\nc", 1) == 0);
	CHECK(put(&f, &ob) == -EINVAL);
	CHECK(strstr(f.err, "'a/b\\x0ac'") != NULL);
	/* A segment longer than NAME_MAX. */
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	CHECK(make_obj(&ob, longkey, 1) == 0);
	CHECK(put(&f, &ob) == -EINVAL);
	CHECK(entries_in(out) == 0);
	fix_free(&f);
}

static void long_name_gets_a_short_temp(void)
{
	struct fix f;
	struct obj ob;
	char key[256], path[1024], hex[65];

	reset_out();
	memset(key, 'n', 255);
	key[255] = '\0';	/* NAME_MAX: the temp name must be cut */
	CHECK(make_data(100, 8) == 0);
	CHECK(make_obj(&ob, key, 1) == 0);
	CHECK(fix_open(&f, out, NULL) == 0);
	CHECK(put(&f, &ob) == 0);
	snprintf(path, sizeof(path), "%s/%s", out, key);
	CHECK(file_sha(path, hex) == 0);
	CHECK_STR(hex, ob.o.sha256);
	CHECK(temps_in(out) == 0);
	fix_free(&f);
}

static void bad_parts_are_refused(void)
{
	struct fix f;
	struct obj ob;

	reset_out();
	CHECK(make_data(1000, 9) == 0);
	CHECK(make_obj(&ob, "gap.bin", 2) == 0);
	ob.parts[1].offset++;
	CHECK(fix_open(&f, out, NULL) == 0);
	CHECK(put(&f, &ob) == -EINVAL);
	CHECK(strstr(f.err, "parts") != NULL);
	CHECK(make_obj(&ob, "gap.bin", 2) == 0);
	ob.o.nparts = 0;
	CHECK(put(&f, &ob) == -EINVAL);
	CHECK(entries_in(out) == 0);
	fix_free(&f);
}

static void missing_data_file_is_permanent(void)
{
	struct fix f;
	struct obj ob;

	reset_out();
	CHECK(make_data(10, 10) == 0);
	CHECK(make_obj(&ob, "gone.bin", 1) == 0);
	CHECK(unlink(data) == 0);
	CHECK(fix_open(&f, out, NULL) == 0);
	CHECK(put(&f, &ob) == -ENOENT);
	CHECK(strstr(f.err, data) != NULL);
	CHECK(temps_in(out) == 0);
	CHECK(entries_in(out) == 0);
	fix_free(&f);
}

static void missing_dir_at_open(void)
{
	struct fix f;
	char path[300];

	snprintf(path, sizeof(path), "%s/nope", root);
	CHECK(fix_open(&f, path, NULL) == -ENOENT);
	CHECK(f.sink == NULL);
	CHECK(strstr(f.err, "[sink.archive] path: ") != NULL);
	CHECK(strstr(f.err, path) != NULL);
	CHECK(strstr(f.err, "No such file or directory") != NULL);
	fix_free(&f);
	/* A file is not a directory. */
	CHECK(make_data(10, 15) == 0);
	CHECK(fix_open(&f, data, NULL) == -ENOTDIR);
	CHECK(strstr(f.err, data) != NULL);
	fix_free(&f);
}

static void missing_dir_at_put_is_retried(void)
{
	struct fix f;
	struct obj ob;

	reset_out();
	CHECK(make_data(10, 11) == 0);
	CHECK(make_obj(&ob, "later.bin", 1) == 0);
	CHECK(fix_open(&f, out, NULL) == 0);
	rm_rf(out);
	CHECK(put(&f, &ob) == -EAGAIN);
	CHECK(strstr(f.err, out) != NULL);
	/* An admin puts it back: the retry succeeds. */
	CHECK(mkdir(out, 0755) == 0);
	CHECK(put(&f, &ob) == 0);
	CHECK(entries_in(out) == 1);
	fix_free(&f);
}

static void file_in_the_way_is_permanent(void)
{
	struct fix f;
	struct obj ob;
	char path[1024];

	reset_out();
	snprintf(path, sizeof(path), "%s/a", out);
	CHECK(write_file(path, "x", 1) == 0);
	CHECK(make_data(10, 12) == 0);
	CHECK(make_obj(&ob, "a/b.bin", 1) == 0);
	CHECK(fix_open(&f, out, NULL) == 0);
	CHECK(put(&f, &ob) == -ENOTDIR);
	CHECK(strstr(f.err, "mkdir a") != NULL);
	fix_free(&f);
}

struct racer {
	struct sink *sink;
	struct obj ob;
	int rc;
};

static void *race_put(void *arg)
{
	struct racer *r = arg;
	struct sink_io *io = sink_io_new();
	char err[512];

	r->rc = sink_put(r->sink, io, &r->ob.o, err, sizeof(err));
	if (r->rc)
		printf("# racer %s: %s\n", r->ob.key, err);
	sink_io_free(io);
	return NULL;
}

/* Workers create the same new directories and write the same key at once. */
static void concurrent_puts(void)
{
	struct racer r[8];
	pthread_t t[8];
	struct fix f;
	char path[1024], hex[65];

	reset_out();
	CHECK(make_data(200000, 16) == 0);
	CHECK(fix_open(&f, out, NULL) == 0);
	for (int i = 0; i < 8; i++) {
		char key[64];

		snprintf(key, sizeof(key), i % 2 ? "race/a/b/same.bin" : "race/a/b/f%d.bin", i);
		CHECK(make_obj(&r[i].ob, key, 2) == 0);
		r[i].sink = f.sink;
		CHECK(pthread_create(&t[i], NULL, race_put, &r[i]) == 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK(r[i].rc == 0);
	}
	snprintf(path, sizeof(path), "%s/race/a/b/same.bin", out);
	CHECK(file_sha(path, hex) == 0);
	CHECK_STR(hex, r[1].ob.o.sha256);
	snprintf(path, sizeof(path), "%s/race/a/b", out);
	CHECK(entries_in(path) == 5);
	CHECK(temps_in(out) == 0);
	fix_free(&f);
}

static void metadata_becomes_xattrs(void)
{
	static const struct sink_meta meta[] = {
		{ "owner", "alice" }, { "project", "q4 report" },
	};
	struct fix f;
	struct obj ob;
	char path[1024], v[64];
	ssize_t n;

	reset_out();
	CHECK(make_data(100, 13) == 0);
	CHECK(make_obj(&ob, "m/meta.json", 1) == 0);
	ob.o.nmeta = 2;
	ob.o.meta = meta;
	CHECK(fix_open(&f, out, NULL) == 0);
	CHECK(put(&f, &ob) == 0);
	snprintf(path, sizeof(path), "%s/m/meta.json", out);
	n = getxattr(path, "user.meta.owner", v, sizeof(v) - 1);
	if (n < 0 && errno == ENOTSUP) {
		printf("# SKIP xattr checks: %s has no user xattrs\n", out);
		fix_free(&f);
		return;
	}
	CHECK(n == 5);
	v[n] = '\0';
	CHECK_STR(v, "alice");
	n = getxattr(path, "user.meta.project", v, sizeof(v) - 1);
	CHECK(n == 9);
	v[n] = '\0';
	CHECK_STR(v, "q4 report");
	fix_free(&f);
}

static void prefix_is_checked(void)
{
	static const char *const bad[] = {
		"prefix = /abs/", "prefix = a/../b/", "prefix = a//b/", "prefix = ./a", "prefix = ..",
	};
	struct fix f;
	struct obj ob;

	reset_out();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fix_open(&f, out, bad[i]) != -EINVAL || !strstr(f.err, "[sink.archive] prefix")) {
			printf("# '%s' was not refused: %s\n", bad[i], f.err);
			fix_free(&f);
			CHECK(0);
		}
		CHECK(f.sink == NULL);
		fix_free(&f);
	}
	CHECK(fix_open(&f, out, "prefix = prod/") == 0);
	CHECK_STR(f.sink->prefix, "prod/");
	CHECK_STR(f.sink->name, "archive");
	CHECK(make_data(10, 14) == 0);
	CHECK(make_obj(&ob, "prod/web/a.txt", 1) == 0);
	CHECK(put(&f, &ob) == 0);
	CHECK(make_obj(&ob, "web/a.txt", 1) == 0);
	CHECK(put(&f, &ob) == -EINVAL);
	fix_free(&f);
	CHECK(fix_open(&f, out, "prefix = a/b") == 0);
	CHECK_STR(f.sink->prefix, "a/b");
	fix_free(&f);
	CHECK(fix_open(&f, out, NULL) == 0);
	CHECK_STR(f.sink->prefix, "");
	fix_free(&f);
}

static void registry_and_helpers(void)
{
	struct sink_io *io = sink_io_new();
	bool has_dir = false;

	CHECK(io != NULL);
	sink_io_free(io);
	sink_io_free(NULL);
	sink_free(NULL);
	for (size_t i = 0; sink_types[i]; i++)
		has_dir |= strcmp(sink_types[i]->type, "dir") == 0;
	CHECK(has_dir);
	CHECK(sink_find("dir") != NULL);
	CHECK(sink_find("nope") == NULL);
	CHECK(sink_keys("dir") == sink_find("dir")->keys);
	CHECK(sink_keys("nope") == NULL);

	CHECK_STR(sink_content_type("a/b/report.CSV"), "text/csv");
	CHECK_STR(sink_content_type("x.log"), "text/plain");
	CHECK_STR(sink_content_type("x.ndjson"), "application/x-ndjson");
	CHECK_STR(sink_content_type("x.log.gz"), "application/gzip");
	CHECK_STR(sink_content_type("x.tar"), "application/x-tar");
	CHECK_STR(sink_content_type("x.parquet"), "application/vnd.apache.parquet");
	CHECK_STR(sink_content_type("dir.json/noext"), "application/octet-stream");
	CHECK_STR(sink_content_type("trailing."), "application/octet-stream");
	CHECK_STR(sink_content_type(NULL), "application/octet-stream");

	CHECK(http_status_to_errno(200) == 0);
	CHECK(http_status_to_errno(204) == 0);
	CHECK(http_status_to_errno(408) == -EAGAIN);
	CHECK(http_status_to_errno(429) == -EAGAIN);
	CHECK(http_status_to_errno(503) == -EAGAIN);
	CHECK(http_status_to_errno(0) == -EAGAIN);
	CHECK(http_status_to_errno(301) == -EAGAIN);
	CHECK(http_status_to_errno(400) == -EINVAL);
	CHECK(http_status_to_errno(401) == -EACCES);
	CHECK(http_status_to_errno(403) == -EACCES);
	CHECK(http_status_to_errno(404) == -ENOENT);
	CHECK(http_status_to_errno(412) == -EEXIST);
	CHECK(http_status_to_errno(413) == -EFBIG);
	CHECK(http_status_to_errno(418) == -EPROTO);
}

/* A put cut short by a crash leaves its temp file; the next attempt at the
 * same object removes it (its name was saved before it was created). */
static void crashed_temp_is_removed_by_retry(void)
{
	struct fix f;
	struct obj ob;
	char path[1024], left[1024];

	reset_out();
	CHECK(fix_open(&f, out, NULL) == 0);
	CHECK(make_data(3000, 21) == 0);
	CHECK(make_obj(&ob, "web/c.bin", 1) == 0);
	CHECK(put(&f, &ob) == 0);
	CHECK(ob.res.upload_id != NULL);
	CHECK(strstr(ob.upload_id, ".c.bin.flowfs-") == ob.upload_id);
	/* as if the daemon died mid-copy: the saved temp name exists, half written */
	snprintf(left, sizeof(left), "%s/web/%s", out, ob.upload_id);
	CHECK(write_file(left, "half", 4) == 0);
	CHECK(temps_in(out) == 1);
	CHECK(put(&f, &ob) == 0);
	CHECK(temps_in(out) == 0);
	snprintf(path, sizeof(path), "%s/web/c.bin", out);
	CHECK(access(path, F_OK) == 0);
	/* a saved id that is not one of our temp names is never unlinked */
	snprintf(path, sizeof(path), "%s/web/keep", out);
	CHECK(write_file(path, "x", 1) == 0);
	ob.res.upload_id = "keep";
	CHECK(put(&f, &ob) == 0);
	CHECK(access(path, F_OK) == 0);
	ob.res.upload_id = "../web/keep";
	CHECK(put(&f, &ob) == 0);
	CHECK(access(path, F_OK) == 0);
	fix_free(&f);
}

static void unknown_type_is_refused(void)
{
	struct cfg_section sec = { .kind = "sink", .name = "x" };
	struct sink *s = (struct sink *)1;
	char err[256];

	/* cfg_str() of an empty section gives NULL: no type. */
	CHECK(sink_new(&s, &sec, err, sizeof(err)) == -EINVAL);
	CHECK(s == NULL);
	CHECK(strstr(err, "[sink.x] type") != NULL);
}

int main(void)
{
	snprintf(root, sizeof(root), "%s/flowfs-test-dir-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(out, sizeof(out), "%s/out", root);
	snprintf(data, sizeof(data), "%s/data", root);

	RUN(delivers_identical_bytes);
	RUN(nested_key_creates_dirs);
	RUN(zero_byte_object);
	RUN(overwrite_same_key);
	RUN(corrupt_part_is_never_delivered);
	RUN(bad_keys_are_refused);
	RUN(long_name_gets_a_short_temp);
	RUN(bad_parts_are_refused);
	RUN(missing_data_file_is_permanent);
	RUN(missing_dir_at_open);
	RUN(missing_dir_at_put_is_retried);
	RUN(file_in_the_way_is_permanent);
	RUN(concurrent_puts);
	RUN(metadata_becomes_xattrs);
	RUN(prefix_is_checked);
	RUN(registry_and_helpers);
	RUN(crashed_temp_is_removed_by_retry);
	RUN(unknown_type_is_refused);

	rm_rf(root);
	return unit_done();
}
