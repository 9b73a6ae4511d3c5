/*
 * fs/flowctl_read.c - the flowctl commands of the read side, built on its
 * files (see THE READ SIDE in flowfs(1)); they need no daemon command:
 *
 *   flowctl health MNT          MNT/.health; exit 0 healthy, 1 not (or no mount)
 *   flowctl latest MNT FLOW     MNT/FLOW/.latest; exit 1 when nothing was delivered
 *   flowctl deliveries MNT FLOW [--since DURATION] [--json]
 *                               the deliveries of the last DURATION (default
 *                               1h) from MNT/FLOW/.time, oldest first: one
 *                               line "TIME  SIZE  KEY  URL..." each, or --json
 *                               their JSON lines
 *
 * Exit status: 0 ok, 1 unhealthy / nothing / an error, 64 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/buf.h"
#include "../util/cfg.h"
#include "../util/json.h"
#include "flowctl_read.h"

#define FILE_MAX (16 << 20)

/* The whole of PATH into B; 0 or -errno (said on stderr). */
static int slurp(const char *path, struct buf *b)
{
	char chunk[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "flowctl: %s: %m\n", path);
		return -errno;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && b->len < FILE_MAX)
		buf_add(b, chunk, (size_t)n);
	if (n < 0)
		fprintf(stderr, "flowctl: %s: %m\n", path);
	close(fd);
	buf_add(b, "", 0);
	return n < 0 ? -EIO : b->oom ? -ENOMEM : 0;
}

static int health_cmd(const char *mnt)
{
	char path[4096];
	const char *v;
	size_t vlen;
	struct buf b;
	int rc;

	snprintf(path, sizeof(path), "%s/.health", mnt);
	buf_init(&b);
	rc = slurp(path, &b);
	if (rc == 0 && json_get(b.p, b.len, "healthy", &v, &vlen) == 0) {
		fputs(b.p, stdout);
		rc = vlen == 4 && strncmp(v, "true", 4) == 0 ? 0 : 1;
	} else {
		if (rc == 0)
			fprintf(stderr, "flowctl: %s: not a health answer\n", path);
		rc = 1;
	}
	buf_free(&b);
	return rc;
}

static int latest_cmd(const char *mnt, const char *flow)
{
	char path[4096];
	struct buf b;
	int rc;

	snprintf(path, sizeof(path), "%s/%s/.latest", mnt, flow);
	buf_init(&b);
	rc = slurp(path, &b) ? 1 : 0;
	if (rc == 0 && b.len == 0) {
		fprintf(stderr, "flowctl: %s: nothing delivered yet\n", flow);
		rc = 1;
	}
	if (rc == 0)
		fputs(b.p, stdout);
	buf_free(&b);
	return rc;
}

/* Prints LINE (one JSON line) as "TIME SIZE KEY URL...". */
static void print_human(const char *line, size_t len)
{
	const char *v, *p, *end;
	size_t vlen;
	char s[4096];
	size_t slen;
	int nstr = 0;
	const char *sep = "";

	for (const char *k = "delivered\0size\0key\0"; *k; k += strlen(k) + 1) {
		if (json_get_str(line, len, k, s, sizeof(s)) == 0)
			printf("%s%s", sep, s);
		else if (json_get(line, len, k, &v, &vlen) == 0)	/* a number */
			printf("%s%.*s", sep, (int)vlen, v);
		else
			continue;
		sep = "  ";
	}
	if (json_get(line, len, "sinks", &v, &vlen) == 0) {
		/* {"name":"url",...}: every second string is a URL */
		for (p = v, end = v + vlen; p < end; p++) {
			const char *q;

			if (*p != '"')
				continue;
			for (q = p + 1; q < end && *q != '"'; q++)
				if (*q == '\\')
					q++;
			if (q >= end)
				break;
			if (nstr++ % 2 && (size_t)(q - p + 1) < sizeof(s) &&
			    json_string(p, (size_t)(q - p + 1), s, &slen) == 0)
				printf("  %s", s);
			p = q;
		}
	}
	putchar('\n');
}

static int cmp_delivered(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	const char *dx = strstr(x, "\"delivered\":"), *dy = strstr(y, "\"delivered\":");

	return strcmp(dx ? dx : x, dy ? dy : y);
}

/* The entries of minute directory DIR delivered at SINCE or later, sorted. */
static int minute_print(const char *dir, const char *since_iso, bool json)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **lines = NULL, path[8192];
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		struct buf b;
		const char *at;

		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		buf_init(&b);
		if (slurp(path, &b) != 0 || b.len == 0) {
			buf_free(&b);
			continue;	/* left meanwhile (history_keep) */
		}
		at = strstr(b.p, "\"delivered\":\"");
		if (at && strncmp(at + 13, since_iso, strlen(since_iso)) < 0) {
			buf_free(&b);
			continue;
		}
		if (n == cap) {
			char **v = realloc(lines, (cap = cap ? cap * 2 : 64) * sizeof(*v));
			if (!v) {
				buf_free(&b);
				rc = -ENOMEM;
				break;
			}
			lines = v;
		}
		lines[n++] = buf_steal(&b, NULL);
	}
	closedir(d);
	qsort(lines, n, sizeof(*lines), cmp_delivered);
	for (size_t i = 0; i < n; i++) {
		if (json)
			fputs(lines[i], stdout);
		else
			print_human(lines[i], strlen(lines[i]));
		free(lines[i]);
	}
	free(lines);
	return rc;
}

static int deliveries_cmd(const char *mnt, const char *flow, uint64_t since, bool json)
{
	time_t now = time(NULL), start = now - (time_t)since;
	char since_iso[40], path[4096];
	struct tm tm;

	gmtime_r(&start, &tm);
	strftime(since_iso, sizeof(since_iso), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(path, sizeof(path), "%s/%s/.time", mnt, flow);
	if (access(path, R_OK) != 0) {
		fprintf(stderr, "flowctl: %s: %m\n", path);
		return 1;
	}
	for (time_t h = start - start % 3600; h <= now; h += 3600) {
		char hour[4200];
		DIR *d;
		struct dirent *e;
		int mins[60], n = 0;

		gmtime_r(&h, &tm);
		snprintf(hour, sizeof(hour), "%s/%04d/%02d/%02d/%02d", path, tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
		if (!(d = opendir(hour)))
			continue;
		while ((e = readdir(d)) && n < 60) {
			char *end;
			long m = strtol(e->d_name, &end, 10);
			if (*e->d_name != '.' && !*end && m >= 0 && m < 60 && h + m * 60 + 60 > start)
				mins[n++] = (int)m;
		}
		closedir(d);
		for (int i = 0; i < n; i++)	/* in order: readdir's may not be */
			for (int j = i + 1; j < n; j++)
				if (mins[j] < mins[i]) {
					int t = mins[i];
					mins[i] = mins[j];
					mins[j] = t;
				}
		for (int i = 0; i < n; i++) {
			char minute[4300];
			snprintf(minute, sizeof(minute), "%s/%02d", hour, mins[i]);
			if (minute_print(minute, since_iso, json) != 0)
				return 1;
		}
	}
	return 0;
}

bool flowctl_read_verb(const char *verb)
{
	return strcmp(verb, "health") == 0 || strcmp(verb, "latest") == 0 ||
	       strcmp(verb, "deliveries") == 0;
}

int flowctl_read_main(int argc, char **argv)
{
	const char *verb = argv[1], *mnt = argc > 2 ? argv[2] : NULL, *flow = NULL;
	uint64_t since = 3600;
	bool json = false;

	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && strcmp(verb, "deliveries") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc &&
			   strcmp(verb, "deliveries") == 0) {
			if (cfg_parse_duration(argv[++i], false, &since) != 0 || since == 0) {
				fprintf(stderr, "flowctl: bad --since '%s' (30m, 2h, 7d)\n", argv[i]);
				return 64;
			}
		} else if (!flow && argv[i][0] != '-' && strcmp(verb, "health") != 0) {
			flow = argv[i];
		} else {
			mnt = NULL;
			break;
		}
	}
	if (!mnt || (strcmp(verb, "health") != 0 && !flow)) {
		fprintf(stderr, "usage: flowctl health MNT\n"
				"       flowctl latest MNT FLOW\n"
				"       flowctl deliveries MNT FLOW [--since DURATION] [--json]\n");
		return 64;
	}
	if (strcmp(verb, "health") == 0)
		return health_cmd(mnt);
	if (strcmp(verb, "latest") == 0)
		return latest_cmd(mnt, flow);
	return deliveries_cmd(mnt, flow, since, json);
}
