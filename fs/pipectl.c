/*
 * fs/pipectl.c - flowctl's pipeline commands.
 *
 *   flowctl history MNT [FLOW] [--status S] [--json]
 *       the step runs of MNT/FLOW/.history (of every flow without FLOW),
 *       as a table, or as the JSON lines themselves
 *   flowctl clean-history MNT [--flow FLOW] [--days N]
 *       deletes runs at least N days old (default 0: all) of FLOW (or all)
 *   flowctl test CONFIG FLOW FILE [-o OUT] [--stream]
 *       runs FLOW's steps and records on FILE without a mount: the spool is
 *       a scratch directory and the only sink a scratch dir sink, so what
 *       comes out is what the mount delivers.  Prints each step's outcome
 *       and stderr; exit status 1 when a step failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../backend/sink.h"
#include "../cache/cache.h"
#include "../util/fsutil.h"
#include "../util/json.h"
#include "../util/log.h"
#include "flowctl.h"

#define LINE_MAX_LEN (64 * 1024)

/* ---- reading .history lines ---- */

struct run_line {
	char time[40], flow[128], key[1024], step[128], status[16], why[300], err[4200];
	char exit[16];
	double seconds;
	long long in, out;
};

static double jnum(const char *line, size_t n, const char *key, char *raw, size_t rawlen)
{
	const char *v;
	size_t vlen;

	if (json_get(line, n, key, &v, &vlen) != 0 || (vlen == 4 && strncmp(v, "null", 4) == 0)) {
		if (raw)
			snprintf(raw, rawlen, "-");
		return 0;
	}
	if (raw)
		snprintf(raw, rawlen, "%.*s", (int)vlen, v);
	return strtod(v, NULL);
}

static int run_parse(const char *line, size_t n, struct run_line *r)
{
	if (!json_is_object(line, n))
		return -EINVAL;
	json_get_str(line, n, "time", r->time, sizeof(r->time));
	json_get_str(line, n, "flow", r->flow, sizeof(r->flow));
	json_get_str(line, n, "key", r->key, sizeof(r->key));
	json_get_str(line, n, "step", r->step, sizeof(r->step));
	json_get_str(line, n, "status", r->status, sizeof(r->status));
	json_get_str(line, n, "why", r->why, sizeof(r->why));
	json_get_str(line, n, "stderr", r->err, sizeof(r->err));
	jnum(line, n, "exit", r->exit, sizeof(r->exit));
	r->seconds = jnum(line, n, "seconds", NULL, 0);
	r->in = (long long)jnum(line, n, "bytes_in", NULL, 0);
	r->out = (long long)jnum(line, n, "bytes_out", NULL, 0);
	return 0;
}

/* The last line of R's stderr that says something. */
static void err_last(const struct run_line *r, char *out, size_t outlen)
{
	size_t e = strlen(r->err), b;

	while (e > 0 && (r->err[e - 1] == '\n' || r->err[e - 1] == ' '))
		e--;
	for (b = e; b > 0 && r->err[b - 1] != '\n'; b--)
		;
	snprintf(out, outlen, "%.*s", (int)(e - b), r->err + b);
}

static void run_row(const struct run_line *r)
{
	char t[24], last[200];

	snprintf(t, sizeof(t), "%.19sZ", r->time);
	printf("%-20s %-12s %-12s %-7s %4s %8.3f %10lld %10lld  %s\n", t, r->flow, r->step,
	       r->status, r->exit, r->seconds, r->in, r->out, r->key);
	if (strcmp(r->status, "OK") == 0 || strcmp(r->status, "EMPTY") == 0)
		return;
	err_last(r, last, sizeof(last));
	printf("    %s%s%s\n", r->why, *last ? ": " : "", last);
}

/* Prints the runs in FILE that have STATUS (NULL: all); how many, or -1. */
static long history_file(const char *file, const char *status, bool json, char *line)
{
	FILE *f = fopen(file, "r");
	struct run_line *r = malloc(sizeof(*r));
	long n = 0;

	if (!f || !r) {
		if (f)
			fclose(f);
		free(r);
		fprintf(stderr, "flowctl: %s: %m\n", file);
		return -1;
	}
	while (fgets(line, LINE_MAX_LEN, f)) {
		size_t len = strcspn(line, "\n");

		if (run_parse(line, len, r) != 0 || (status && strcasecmp(r->status, status) != 0))
			continue;
		if (json)
			printf("%.*s\n", (int)len, line);
		else
			run_row(r);
		n++;
	}
	fclose(f);
	free(r);
	return n;
}

int history_main(int argc, char **argv)
{
	const char *mnt = NULL, *flow = NULL, *status = NULL;
	char path[4096], *line;
	bool json = false;
	int rc = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--status") == 0 && i + 1 < argc)
			status = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (argv[i][0] != '-' && !mnt)
			mnt = argv[i];
		else if (argv[i][0] != '-' && !flow)
			flow = argv[i];
		else
			return 64;
	}
	if (!mnt)
		return 64;
	line = malloc(LINE_MAX_LEN);
	if (!line)
		return 1;
	if (!json)
		printf("%-20s %-12s %-12s %-7s %4s %8s %10s %10s  %s\n", "TIME", "FLOW", "STEP",
		       "STATUS", "EXIT", "SECONDS", "IN", "OUT", "KEY");
	if (flow) {
		snprintf(path, sizeof(path), "%s/%s/.history", mnt, flow);
		rc = history_file(path, status, json, line) < 0;
	} else {
		DIR *d = opendir(mnt);
		struct dirent *e;

		if (!d) {
			fprintf(stderr, "flowctl: %s: %m (is a flowfs mounted there?)\n", mnt);
			free(line);
			return 1;
		}
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/.history", mnt, e->d_name);
			if (history_file(path, status, json, line) < 0)
				rc = 1;
		}
		closedir(d);
	}
	free(line);
	return rc;
}

int clean_history_main(int argc, char **argv)
{
	const char *mnt = NULL, *flow = "-";
	char cmd[300], buf[4096];
	double days = 0;
	int fd;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--flow") == 0 && i + 1 < argc) {
			flow = argv[++i];
		} else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
			char *end;
			days = strtod(argv[++i], &end);
			if (*end || days < 0) {
				fprintf(stderr, "flowctl: bad --days '%s'\n", argv[i]);
				return 64;
			}
		} else if (argv[i][0] != '-' && !mnt) {
			mnt = argv[i];
		} else {
			return 64;
		}
	}
	if (!mnt)
		return 64;
	fd = flowctl_open(mnt);
	if (fd < 0)
		return 1;
	snprintf(cmd, sizeof(cmd), "clean-history %.128s %g", flow, days);
	if (flowctl_ask(fd, cmd, buf, sizeof(buf)) < 0) {
		close(fd);
		return 1;
	}
	fputs(buf + 3, stdout);
	close(fd);
	return 0;
}

/* ---- flowctl test ---- */

static const struct cfg_schema schema = {
	.global = cache_global_keys,
	.flow = cache_flow_keys, .transform = cache_transform_keys,
	.sink_keys = sink_keys,
};

/* One command to the in-process cache's /.flowctl; the answer in BUF. */
static int test_ask(struct cache *c, const char *cmd, char *buf, size_t size)
{
	struct cache_file *h;
	ssize_t n = -1;

	if (cache_open(c, "/.flowctl", O_RDWR, &h) != 0)
		return -1;
	if (cache_write(h, cmd, strlen(cmd), 0) >= 0)
		n = cache_read(h, buf, size - 1, 0);
	cache_release(h);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return strncmp(buf, "ok", 2) == 0 ? 0 : -1;
}

/* FILE into the cache as PATH (an upload, or with STREAM a stream's lines). */
static int test_feed(struct cache *c, const char *file, const char *path, bool stream)
{
	struct cache_file *h = NULL;
	char *buf = malloc(1 << 20);
	int in = open(file, O_RDONLY | O_CLOEXEC), rc;
	off_t off = 0;
	ssize_t n = 0;

	if (in < 0 || !buf) {
		fprintf(stderr, "flowctl: test: %s: %m\n", file);
		free(buf);
		if (in >= 0)
			close(in);
		return -1;
	}
	rc = cache_create(c, path, O_WRONLY | O_CREAT | (stream ? O_APPEND : O_TRUNC), 0644,
			  getuid(), getgid(), &h);
	while (rc == 0 && (n = read(in, buf, 1 << 20)) > 0) {
		ssize_t w = cache_write(h, buf, (size_t)n, off);
		if (w < 0)
			rc = (int)w;
		off += n;
	}
	if (rc == 0 && n < 0)
		rc = -errno;
	if (h) {
		int rf = rc == 0 ? cache_flush(h) : 0;
		rc = rc ? rc : rf;
		cache_release(h);
	}
	if (rc)
		fprintf(stderr, "flowctl: test: writing %s into the scratch spool: %s\n", file,
			strerror_r(-rc, buf, 256) ? buf : "error");
	close(in);
	free(buf);
	return rc ? -1 : 0;
}

/* Waits until what was fed is delivered or failed. */
static int test_wait(struct cache *c, const char *flow, bool stream, char *buf, size_t size)
{
	long long mark, pending = 1, failed = 0, rejected = 0;
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rotate %s", flow);
	if (stream && test_ask(c, cmd, buf, size) != 0)
		return -1;
	if (test_ask(c, "mark", buf, size) != 0 || sscanf(buf, "ok mark %lld", &mark) != 1)
		return -1;
	snprintf(cmd, sizeof(cmd), "pending %lld", mark);
	while (pending > 0) {
		if (test_ask(c, cmd, buf, size) != 0 ||
		    sscanf(buf, "ok pending %lld failed %lld rejected %lld", &pending, &failed,
			   &rejected) != 3)
			return -1;
		if (pending)
			usleep(50 * 1000);
	}
	return (int)(failed + rejected);
}

/* Prints every run of the flow's .history; how many failed. */
static int test_history(struct cache *c, const char *flow)
{
	struct cache_file *h;
	struct run_line *r = malloc(sizeof(*r));
	char path[300], *text = malloc(1 << 22);
	ssize_t n;
	int bad = 0;

	snprintf(path, sizeof(path), "/%s/.history", flow);
	if (!r || !text || cache_open(c, path, O_RDONLY, &h) != 0) {
		free(r);
		free(text);
		return 1;
	}
	n = cache_read(h, text, (1 << 22) - 1, 0);
	cache_release(h);
	for (char *p = text, *e; n > 0 && p < text + n; p = e + 1) {
		e = memchr(p, '\n', (size_t)(text + n - p));
		if (!e)
			break;
		if (run_parse(p, (size_t)(e - p), r) != 0)
			continue;
		printf("step %s: %s (exit %s, %.3fs, %lld bytes in, %lld out)%s%s\n", r->step,
		       r->status, r->exit, r->seconds, r->in, r->out, *r->why ? ": " : "", r->why);
		for (char *q = r->err, *qe; *q; q = qe + (*qe != '\0')) {
			qe = q + strcspn(q, "\n");
			printf("    | %.*s\n", (int)(qe - q), q);
		}
		bad += strcmp(r->status, "OK") != 0 && strcmp(r->status, "EMPTY") != 0;
	}
	free(r);
	free(text);
	return bad;
}

static const char *test_out_root;
static const char *test_out;
static int test_outs, test_copy_rc;
static bool test_out_dir;

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	return close(out) < 0 || n < 0 ? -1 : 0;
}

static int mkdirs_for(const char *file)
{
	char d[8192];

	snprintf(d, sizeof(d), "%s", file);
	for (char *p = d + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(d, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

static int out_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *key = path + strlen(test_out_root) + 1;
	char to[8192];

	(void)ftw;
	if (type != FTW_F)
		return 0;
	test_outs++;
	printf("delivered %s (%lld bytes)\n", key, (long long)st->st_size);
	if (!test_out)
		return 0;
	if (test_out_dir)
		snprintf(to, sizeof(to), "%s/%s", test_out, key);
	else
		snprintf(to, sizeof(to), "%s", test_out);
	if (mkdirs_for(to) < 0 || copy_file(path, to) < 0) {
		fprintf(stderr, "flowctl: test: %s: %m\n", to);
		test_copy_rc = 1;
	}
	return 0;
}

static int count_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)ftw;
	test_outs += type == FTW_F;
	return 0;
}

int test_main(int argc, char **argv)
{
	const char *config = NULL, *flow = NULL, *file = NULL, *out = NULL, *base;
	char tmp[] = "/tmp/flowctl-test-XXXXXX", spool[300], sinkdir[300], logf[300];
	char err[1024], path[4096], *buf;
	struct cfg *cfg = NULL;
	struct cache *c = NULL;
	bool stream = false;
	int rc = 1, failed;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--stream") == 0)
			stream = true;
		else if (argv[i][0] == '-')
			return 64;
		else if (!config)
			config = argv[i];
		else if (!flow)
			flow = argv[i];
		else if (!file)
			file = argv[i];
		else
			return 64;
	}
	if (!file)
		return 64;
	if (cfg_load(&cfg, config, &schema, err, sizeof(err)) != 0) {
		fprintf(stderr, "flowctl: test: %s\n", err);
		return 1;
	}
	if (!mkdtemp(tmp)) {
		fprintf(stderr, "flowctl: test: %s: %m\n", tmp);
		cfg_free(cfg);
		return 1;
	}
	snprintf(spool, sizeof(spool), "%s/spool", tmp);
	snprintf(sinkdir, sizeof(sinkdir), "%s/out", tmp);
	snprintf(logf, sizeof(logf), "%s/log", tmp);
	mkdir(sinkdir, 0700);
	rc = cfg_isolate(cfg, flow, "flowctl_test", sink_keys("dir"),
			 (const char *const[]){ "type", "dir", "path", sinkdir, "fsync", "no", NULL });
	if (rc == -ENOENT)
		fprintf(stderr, "flowctl: test: %s has no [flow.%s]\n", config, flow);
	if (rc == 0 && (cfg_set(cfg->global, "spool", spool) || cfg_set(cfg->global, "log", logf) ||
			cfg_set(cfg->global, "log_level", "warn")))
		rc = -ENOMEM;
	if (rc == 0 && log_open(logf, "warn") != 0)
		rc = -EIO;
	if (rc == 0 && cache_new(&c, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "flowctl: test: %s\n", err);
		rc = -EINVAL;
	}
	if (rc == 0 && cache_start(c) != 0)
		rc = -EIO;
	base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	snprintf(path, sizeof(path), "/%s/%s", flow, base);
	buf = malloc(1 << 20);
	if (rc == 0 && (!buf || test_feed(c, file, path, stream) != 0))
		rc = -EIO;
	failed = rc == 0 ? test_wait(c, flow, stream, buf, 1 << 20) : -1;
	if (rc == 0)
		failed += test_history(c, flow);
	cache_free(c);
	log_close();
	if (rc == 0) {
		struct stat st;

		test_out_root = sinkdir;
		nftw(sinkdir, count_entry, 16, FTW_PHYS);
		test_out = out;
		test_out_dir = test_outs > 1 || (out && stat(out, &st) == 0 && S_ISDIR(st.st_mode));
		if (out && test_outs > 1 && mkdir(out, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "flowctl: test: %s: %m\n", out);
			test_copy_rc = 1;
		}
		test_outs = 0;
		nftw(sinkdir, out_entry, 16, FTW_PHYS);
		if (test_outs == 0)
			printf("nothing delivered\n");
	}
	if (failed != 0 && rc == 0) {	/* the daemon's own words, for what the history lacks */
		FILE *lf = fopen(logf, "r");
		while (lf && fgets(buf, 1 << 20, lf))
			fprintf(stderr, "  log: %s", buf);
		if (lf)
			fclose(lf);
	}
	rm_tree(tmp);
	free(buf);
	cfg_free(cfg);
	return rc ? 1 : failed ? 1 : test_copy_rc;
}
