/*
 * fs/reassemble.c - `flowctl reassemble`: files back from captured file events.
 *
 *   flowctl reassemble [-o DIR] DIR|FILE...
 *
 * Reads file events as the http sink sends them in mode = events (one JSON
 * object per file, as a receiver saved the request bodies): {"fileName",
 * "fileSize", "part", "totalParts", "data" (base64), "checksum" (SHA-256 hex
 * of the whole file), "hashType": "SHA256"}.  Events are grouped by fileName
 * and checksum, ordered by part (numbered 1..totalParts, as Flowcore does;
 * captures numbered from 0, as flowfs before 0.2 sent them, are read too),
 * decoded and written to
 * DIR/basename(fileName) (default: the current directory) through a
 * temporary file that is renamed into place only when the size and SHA-256
 * match.  Events carry no directory, so two different files of one name
 * (a/x.log and b/x.log) are written as x.log and x.log.2, in the order of
 * their checksums, and stderr says so.  In a directory argument, files that are not file events (JSON
 * arrays of line events, indexes) are skipped; a FILE argument must be one.
 * A part seen twice (a resent request) is used once.
 *
 * Exit status: 0 every file rebuilt; 1 a part missing, a checksum mismatch
 * or an unreadable event (each named on stderr); 64 usage.
 * Single-threaded; uses only util/ (no OpenSSL or curl types).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/base64.h"
#include "../util/hash.h"
#include "../util/json.h"
#include "reassemble.h"

#define EVENT_FILE_MAX (64u << 20)	/* larger files are not events */

struct ra_part {
	char *path;		/* the event file this part is in; NULL: not seen */
};

struct ra_group {
	char *name;		/* fileName */
	char out[4096];		/* written as OUTDIR/out */
	char checksum[65];
	uint64_t size;		/* fileSize */
	size_t total;		/* totalParts */
	struct ra_part *parts;	/* [total] */
	struct ra_group *next;
};

struct ra_event {
	char *name;
	char checksum[65];
	uint64_t size;
	size_t part, total;
};

static void ra_free(struct ra_group *g)
{
	while (g) {
		struct ra_group *next = g->next;
		for (size_t i = 0; i <= g->total; i++)
			free(g->parts[i].path);
		free(g->parts);
		free(g->name);
		free(g);
		g = next;
	}
}

/* Reads PATH whole into *OUT (NUL-terminated; caller frees). */
static int ra_slurp(const char *path, char **out, size_t *len)
{
	struct stat st;
	char *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size > EVENT_FILE_MAX) {
		close(fd);
		return -EFBIG;
	}
	p = malloc((size_t)st.st_size + 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, p, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(p);
		return -EIO;
	}
	p[n] = '\0';
	*out = p;
	*len = (size_t)n;
	return 0;
}

/* Member KEY of the object J as a non-negative integer. */
static int ra_uint(const char *j, size_t n, const char *key, uint64_t *out)
{
	const char *v;
	size_t vlen;
	char num[32], *end;

	if (json_get(j, n, key, &v, &vlen) || vlen == 0 || vlen >= sizeof(num) || v[0] == '-')
		return -EINVAL;
	memcpy(num, v, vlen);
	num[vlen] = '\0';
	errno = 0;
	*out = strtoull(num, &end, 10);
	return *end || errno ? -EINVAL : 0;
}

/* Member KEY of J as a string in a new buffer (caller frees). */
static char *ra_str(const char *j, size_t n, const char *key)
{
	const char *v;
	size_t vlen, outlen;
	char *out;

	if (json_get(j, n, key, &v, &vlen))
		return NULL;
	out = malloc(vlen + 1);
	if (out && json_string(v, vlen, out, &outlen)) {
		free(out);
		return NULL;
	}
	return out;
}

static bool ra_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* Parses the header fields of file event J (everything but data). */
static int ra_parse(const char *j, size_t n, struct ra_event *e)
{
	char *sum = ra_str(j, n, "checksum"), *type = ra_str(j, n, "hashType");
	uint64_t part, total;
	const char *v;
	size_t vlen;
	int rc = -EINVAL;

	e->name = ra_str(j, n, "fileName");
	if (!json_is_object(j, n) || !e->name || !sum || json_get(j, n, "data", &v, &vlen) ||
	    ra_uint(j, n, "part", &part) || ra_uint(j, n, "totalParts", &total) ||
	    ra_uint(j, n, "fileSize", &e->size))
		goto out_free;
	if ((type && strcmp(type, "SHA256") != 0) || !ra_hex64(sum) || total == 0 ||
	    total > (1u << 24) || part > total)
		goto out_free;
	snprintf(e->checksum, sizeof(e->checksum), "%s", sum);
	e->part = (size_t)part;
	e->total = (size_t)total;
	rc = 0;
out_free:
	if (rc) {
		free(e->name);
		e->name = NULL;
	}
	free(sum);
	free(type);
	return rc;
}

static struct ra_group *ra_group_get(struct ra_group **list, const struct ra_event *e)
{
	struct ra_group *g;

	for (g = *list; g; g = g->next)
		if (strcmp(g->name, e->name) == 0 && strcmp(g->checksum, e->checksum) == 0)
			return g;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->parts = calloc(e->total + 1, sizeof(*g->parts));	/* by part: 0..total */
	g->name = strdup(e->name);
	if (!g->parts || !g->name) {
		free(g->parts);
		free(g->name);
		free(g);
		return NULL;
	}
	memcpy(g->checksum, e->checksum, sizeof(g->checksum));
	g->size = e->size;
	g->total = e->total;
	g->next = *list;
	*list = g;
	return g;
}

/* Adds event file PATH; STRICT: it must be a file event. 0, 1 skipped, -errno. */
static int ra_add(struct ra_group **list, const char *path, bool strict)
{
	struct ra_event e = { 0 };
	struct ra_group *g;
	char *j;
	size_t n;
	int rc = ra_slurp(path, &j, &n);

	if (rc) {
		fprintf(stderr, "flowctl: reassemble: %s: cannot read it (%d)\n", path, rc);
		return rc;
	}
	rc = ra_parse(j, n, &e);
	free(j);
	if (rc) {
		if (!strict)
			return 1;
		fprintf(stderr, "flowctl: reassemble: %s: not a file event\n", path);
		return rc;
	}
	g = ra_group_get(list, &e);
	rc = g ? 0 : -ENOMEM;
	if (g && g->total != e.total) {
		fprintf(stderr, "flowctl: reassemble: %s: %s: totalParts %zu, earlier parts said %zu\n",
			path, e.name, e.total, g->total);
		rc = -EINVAL;
	} else if (g && !g->parts[e.part].path) {
		g->parts[e.part].path = strdup(path);
		rc = g->parts[e.part].path ? 0 : -ENOMEM;
	}
	free(e.name);
	return rc;
}

static int ra_add_dir(struct ra_group **list, const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	char path[4096];
	int rc = 0;

	if (!d) {
		fprintf(stderr, "flowctl: reassemble: %s: %m\n", dir);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_name[0] == '.' || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (ra_add(list, path, false) < 0)
			rc = -EINVAL;
	}
	closedir(d);
	return rc;
}

/* Decodes part I of G and appends it to FD and H. */
static int ra_write_part(const struct ra_group *g, size_t i, int fd, struct sha256 *h,
			 uint64_t *written)
{
	const char *v;
	size_t n, vlen, outlen;
	char *j = NULL, *s = NULL;
	unsigned char *raw = NULL;
	int rc = ra_slurp(g->parts[i].path, &j, &n);

	if (rc)
		return rc;
	rc = -EINVAL;
	if (json_get(j, n, "data", &v, &vlen) || !(s = malloc(vlen + 1)) ||
	    json_string(v, vlen, s, &outlen) || !(raw = malloc(outlen / 4 * 3 + 3)) ||
	    base64_decode(s, outlen, raw, &n))
		goto out_free;
	if (write(fd, raw, n) != (ssize_t)n) {
		rc = -EIO;
		goto out_free;
	}
	sha256_update(h, raw, n);
	*written += n;
	rc = 0;
out_free:
	free(raw);
	free(s);
	free(j);
	return rc;
}

static int ra_cmp(const void *a, const void *b)
{
	const struct ra_group *x = *(struct ra_group *const *)a, *y = *(struct ra_group *const *)b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->checksum, y->checksum);
}

/* Sorts *LIST by name and checksum and gives each group its output name:
 * basename(fileName), then .2, .3 ... for other files of the same name. */
static int ra_out_names(struct ra_group **list)
{
	struct ra_group **v;
	size_t n = 0;

	for (struct ra_group *g = *list; g; g = g->next)
		n++;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (struct ra_group *g = *list; g; g = g->next)
		v[n++] = g;
	qsort(v, n, sizeof(*v), ra_cmp);
	for (size_t i = 0; i < n; i++) {
		const char *base = strrchr(v[i]->name, '/') ? strrchr(v[i]->name, '/') + 1 : v[i]->name;
		unsigned k = 1;

		snprintf(v[i]->out, sizeof(v[i]->out), "%s", base);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(v[j]->out, v[i]->out) != 0)
				continue;
			snprintf(v[i]->out, sizeof(v[i]->out), "%s.%u", base, ++k);
			j = (size_t)-1;	/* look again from the start */
		}
		if (k > 1)
			fprintf(stderr, "flowctl: reassemble: another file is named %s too: this one "
				"(SHA-256 %.16s...) is written as %s\n", base, v[i]->checksum, v[i]->out);
		v[i]->next = i + 1 < n ? v[i + 1] : NULL;
	}
	*list = n ? v[0] : NULL;
	free(v);
	return 0;
}

/* Writes G to OUTDIR/G->out if it is whole and its checksum holds. */
static int ra_rebuild(const struct ra_group *g, const char *outdir)
{
	const char *base = g->out;
	char tmp[4200], dst[4200], hex[65];
	struct sha256 *h;
	uint64_t written = 0;
	int fd, rc = 0;

	/* parts numbered 1..total, or 0..total-1 in older captures */
	size_t first = g->parts[0].path ? 0 : 1;

	if (g->parts[0].path && g->parts[g->total].path) {
		fprintf(stderr, "flowctl: reassemble: %s: parts numbered both from 0 and from 1\n",
			g->name);
		return -EINVAL;
	}
	for (size_t i = first; i < first + g->total; i++) {
		if (!g->parts[i].path) {
			fprintf(stderr, "flowctl: reassemble: %s: part %zu of %zu is missing\n",
				g->name, i, g->total);
			return -ENOENT;
		}
	}
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		fprintf(stderr, "flowctl: reassemble: '%s': not a usable file name\n", g->name);
		return -EINVAL;
	}
	snprintf(dst, sizeof(dst), "%s/%s", outdir, base);
	snprintf(tmp, sizeof(tmp), "%s/.%s.reassemble.XXXXXX", outdir, base);
	h = sha256_new();
	fd = h ? mkstemp(tmp) : -1;
	if (fd < 0) {
		fprintf(stderr, "flowctl: reassemble: %s: cannot create a file in %s\n", g->name, outdir);
		sha256_free(h);
		return -EIO;
	}
	for (size_t i = first; rc == 0 && i < first + g->total; i++) {
		rc = ra_write_part(g, i, fd, h, &written);
		if (rc)
			fprintf(stderr, "flowctl: reassemble: %s: part %zu (%s): bad data\n", g->name, i,
				g->parts[i].path);
	}
	sha256_final_hex(h, hex);
	sha256_free(h);
	if (rc == 0 && (strcmp(hex, g->checksum) != 0 || written != g->size)) {
		fprintf(stderr, "flowctl: reassemble: %s: checksum mismatch (%llu bytes, SHA-256 %s; "
			"the events say %llu bytes, %s)\n", g->name, (unsigned long long)written, hex,
			(unsigned long long)g->size, g->checksum);
		rc = -EBADMSG;
	}
	if (rc == 0 && (fsync(fd) < 0 || rename(tmp, dst) < 0))
		rc = -errno;
	close(fd);
	if (rc) {
		unlink(tmp);
		return rc;
	}
	printf("%s\t%llu bytes, %zu parts\n", dst, (unsigned long long)written, g->total);
	return 0;
}

int reassemble_main(int argc, char **argv)
{
	struct ra_group *list = NULL;
	const char *outdir = ".";
	int i = 0, rc = 0, nin = 0;

	if (argc >= 2 && strcmp(argv[0], "-o") == 0) {
		outdir = argv[1];
		i = 2;
	}
	for (; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "flowctl: reassemble: %s: %m\n", argv[i]);
			rc = 1;
		} else if ((S_ISDIR(st.st_mode) ? ra_add_dir(&list, argv[i]) : ra_add(&list, argv[i], true)) < 0) {
			rc = 1;
		}
		nin++;
	}
	if (nin == 0) {
		fprintf(stderr, "usage: flowctl reassemble [-o DIR] DIR|FILE...\n");
		return 64;
	}
	if (!list && rc == 0) {
		fprintf(stderr, "flowctl: reassemble: no file events found\n");
		rc = 1;
	}
	if (ra_out_names(&list) < 0) {
		fprintf(stderr, "flowctl: reassemble: out of memory\n");
		rc = 1;
	}
	for (struct ra_group *g = list; g; g = g->next)
		if (ra_rebuild(g, outdir))
			rc = 1;
	ra_free(list);
	return rc;
}
