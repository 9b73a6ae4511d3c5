/*
 * backend/dir.c - the `type = dir` sink: objects become files under a local
 * (or NFS, or any mounted) directory.
 *
 *   [sink.archive]
 *   type = dir
 *   path = /srv/archive
 *
 * The object "web/2026/q4/a.bin" lands as /srv/archive/web/2026/q4/a.bin;
 * missing directories are created (0755).  Delivery is atomic and durable,
 * as SQLite does it: the bytes go to a temp file ".a.bin.flowfs-XXXXXX" in
 * the final directory, which is checked, fsynced and renamed over the final
 * name, and then the directory is fsynced.  A reader never sees a partial
 * file, and a retried delivery simply replaces the same name.
 *
 * Integrity: each part is hashed while it is copied and compared with the
 * SHA-256 the spool recorded; a mismatch fails the delivery for good and
 * removes the temp file, so a part whose bytes changed never reaches the
 * final name.  After the copy the temp file is read back and its hash
 * compared with the object's.  Memory use is one 1 MiB buffer per put().
 *
 * Keys are checked before anything is created: relative, no empty, "." or
 * ".." segment and no control character, so a key cannot leave the sink
 * directory.  The walk down to the parent directory uses openat() from a
 * descriptor of the sink directory.
 *
 * Metadata (user.meta.* of the flowfs file) becomes user.meta.* xattrs of
 * the delivered file where the filesystem supports them.
 *
 * Results: full disk, quota, I/O errors and a sink directory that vanished
 * after mount are -EAGAIN (an admin can fix them, the data waits in the
 * spool); bad keys, corrupt parts and permission problems are permanent.
 *
 * Thread rules: put() runs in several workers at once; it only reads the
 * struct dir_sink, which open() fills before the workers start.  Two workers
 * creating the same directory race harmlessly (EEXIST is fine).  A temp
 * file's name is saved in the spool before it is created, so a temp file
 * left by a crash mid-put is removed by the next attempt at the object.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../util/hash.h"
#include "../util/log.h"
#include "sink.h"
#include "sigv4.h"

#define COPY_BUF	(1 << 20)
#define TEMP_TRIES	100

struct dir_sink {
	char *path;	/* the sink directory, absolute */
	bool fsync;	/* fsync files and directories */
	char mod[80];	/* "dir:archive", for the log */
};

/* The state of one put(); lives on the worker's stack. */
struct dir_put {
	const struct dir_sink *d;
	const struct sink_object *o;
	char *err;
	size_t errlen;
	int dirfd;		/* the key's parent directory */
	const char *base;	/* the key's last segment */
	char tmp[NAME_MAX + 1];	/* temp file name in dirfd */
	char *buf;		/* COPY_BUF bytes */
};

static const struct cfg_key dir_keys[] = {
	{ "type", CFG_STR, NULL, CFG_REQUIRED, NULL, 0, 0,
	  "sink type: dir" },
	{ "path", CFG_PATH, NULL, CFG_REQUIRED, NULL, 0, 0,
	  "existing directory the objects are written under" },
	{ "prefix", CFG_STR, "", 0, NULL, 0, 0,
	  "prepended to every key, e.g. prod/ (no leading '/', no '..')" },
	{ "fsync", CFG_BOOL, "yes", 0, NULL, 0, 0,
	  "fsync each file and its directory before a delivery counts as done" },
	{ NULL }
};

/*
 * The result for errno E met while writing in the sink directory: what may
 * clear up by itself or by an admin's hand without a config change is
 * retried.  ENOENT here means a directory vanished under us.
 */
static int dir_result(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EIO:
	case EAGAIN:
	case EINTR:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
	case EBUSY:
	case ETIMEDOUT:
	case ESTALE:
	case ENOLCK:
	case ENOENT:
		return -EAGAIN;
	}
	return -e;
}

/* Sets ERR to "KEY: WHAT: <text of E>" and returns dir_result(E). */
static int put_fail(struct dir_put *p, const char *what, int e)
{
	char eb[128];

	snprintf(p->err, p->errlen, "%s: %s: %s", p->o->key, what, log_errstr(e, eb, sizeof(eb)));
	return dir_result(e);
}

/* A valid sink key whose segments are also valid file names. */
static bool key_valid(const char *key, const char **why)
{
	if (!sink_key_valid(key, false, why))
		return false;
	for (const char *seg = key; *seg; ) {
		size_t len = strcspn(seg, "/");
		if (len > NAME_MAX) {
			*why = "has a segment longer than NAME_MAX";
			return false;
		}
		seg += len + (seg[len] == '/');
	}
	return true;
}

/* KEY for a message: control characters as \xNN, cut after ~120 bytes. */
static const char *key_quote(const char *key, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *c = key; *c && o + 8 < outlen; c++) {
		if (c - key >= 120) {
			o += (size_t)snprintf(out + o, outlen - o, "...");
			break;
		}
		if (((unsigned char)*c < 0x20 || *c == 0x7f))
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", (unsigned char)*c);
		else
			out[o++] = *c;
	}
	out[o] = '\0';
	return out;
}

/* Parts must cover the data file from 0 to o->size, in order, no gaps. */
static bool parts_valid(const struct sink_object *o)
{
	uint64_t off = 0;

	if (o->nparts == 0 || !o->parts)
		return false;
	for (size_t i = 0; i < o->nparts; i++) {
		if (o->parts[i].offset != off)
			return false;
		off += o->parts[i].length;
	}
	return off == o->size;
}

/* Checks what put() receives before anything is created. */
static int put_check(struct sink *s, struct dir_put *p)
{
	const struct sink_object *o = p->o;
	const char *why = NULL;
	char q[160];

	if (!key_valid(o->key, &why)) {
		snprintf(p->err, p->errlen, "refused key '%s': %s", key_quote(o->key, q, sizeof(q)),
			 why);
		return -EINVAL;
	}
	if (strncmp(o->key, s->prefix, strlen(s->prefix)) != 0) {
		snprintf(p->err, p->errlen, "%s: key is outside the sink's prefix '%s'", o->key,
			 s->prefix);
		return -EINVAL;
	}
	if (!parts_valid(o)) {
		snprintf(p->err, p->errlen, "%s: the %zu parts do not cover the %llu bytes",
			 o->key, o->nparts, (unsigned long long)o->size);
		return -EINVAL;
	}
	return 0;
}

/* Opens directory NAME in FD, creating it (0755) if missing. */
static int subdir_open(const struct dir_sink *d, int fd, const char *name)
{
	int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (sub >= 0 || errno != ENOENT)
		return sub >= 0 ? sub : -errno;
	if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (d->fsync && fsync(fd) < 0)
		return -errno;
	sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return sub >= 0 ? sub : -errno;
}

/* Sets p->dirfd to the key's parent directory (created) and p->base. */
static int parent_open(struct dir_put *p)
{
	const char *key = p->o->key, *seg = key, *slash;
	char eb[128];
	int fd = open(p->d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;
		snprintf(p->err, p->errlen, "sink directory %s: %s", p->d->path,
			 log_errstr(e, eb, sizeof(eb)));
		/* Gone or replaced after mount: an admin puts it back. */
		return e == ENOENT || e == ENOTDIR ? -EAGAIN : dir_result(e);
	}
	while ((slash = strchr(seg, '/')) != NULL) {
		char name[NAME_MAX + 1], what[PATH_MAX];
		int sub;

		snprintf(name, sizeof(name), "%.*s", (int)(slash - seg), seg);
		sub = subdir_open(p->d, fd, name);
		close(fd);
		if (sub < 0) {
			snprintf(what, sizeof(what), "mkdir %.*s", (int)(slash - key), key);
			return put_fail(p, what, -sub);
		}
		fd = sub;
		seg = slash + 1;
	}
	p->dirfd = fd;
	p->base = seg;
	return 0;
}

/* Six random characters for a temp name; collisions are retried anyway. */
static void temp_suffix(char out[7])
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char r[6];

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)getpid() << 20 ^
		    (uint64_t)ts.tv_sec;
		for (size_t i = 0; i < sizeof(r); i++, x >>= 8)
			r[i] = (unsigned char)x;
	}
	for (size_t i = 0; i < sizeof(r); i++)
		out[i] = chars[r[i] % (sizeof(chars) - 1)];
	out[6] = '\0';
}

/* True if NAME is a temp file name of ours: ".X.flowfs-XXXXXX", one segment. */
static bool temp_name_ours(const char *name)
{
	size_t n = strlen(name);

	return n > 15 && name[0] == '.' && !strchr(name, '/') &&
	       strncmp(name + n - 14, ".flowfs-", 8) == 0;
}

/*
 * Creates ".BASE.flowfs-XXXXXX" in p->dirfd, exclusively; returns its fd.
 * The name is saved in the spool first (as the delivery's upload id), so a
 * put cut short by a crash is cleaned up by the next attempt at the same
 * object instead of staying behind as litter in the sink directory.
 */
static int temp_create(struct dir_put *p)
{
	struct sink_resume *res = p->o->resume;

	if (res->upload_id && temp_name_ours(res->upload_id) &&
	    unlinkat(p->dirfd, res->upload_id, 0) == 0)
		log_info(p->d->mod, "removed %s, left by an attempt cut short", res->upload_id);
	for (int i = 0; i < TEMP_TRIES; i++) {
		char sfx[7];
		int fd, rc;

		temp_suffix(sfx);
		/* BASE is cut so the name fits in NAME_MAX. */
		snprintf(p->tmp, sizeof(p->tmp), ".%.*s.flowfs-%s", NAME_MAX - 16, p->base, sfx);
		rc = res->save_upload(res, p->tmp);
		if (rc) {
			p->tmp[0] = '\0';
			return put_fail(p, "record temp file name", -rc);
		}
		fd = openat(p->dirfd, p->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return put_fail(p, "create temp file", errno);
	}
	p->tmp[0] = '\0';
	snprintf(p->err, p->errlen, "%s: no free temp file name after %d tries", p->o->key,
		 TEMP_TRIES);
	return -EAGAIN;
}

static int write_all(int fd, const char *b, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, b, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		b += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Copies part I from IN to OUT, hashing it on the way; 0 or a result. */
static int part_copy(struct dir_put *p, struct sha256 *h, size_t i, int in, int out)
{
	const struct sink_part *part = &p->o->parts[i];
	char got[65];

	for (uint64_t done = 0; done < part->length; ) {
		uint64_t left = part->length - done;
		size_t want = left < COPY_BUF ? (size_t)left : COPY_BUF;
		ssize_t n = pread(in, p->buf, want, (off_t)(part->offset + done));
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return put_fail(p, "read the spool data file", errno);
		if (n == 0) {
			snprintf(p->err, p->errlen, "part %zu of %s: the spool data file ends at "
				 "byte %llu", i + 1, p->o->key,
				 (unsigned long long)(part->offset + done));
			return -EBADMSG;
		}
		sha256_update(h, p->buf, (size_t)n);
		rc = write_all(out, p->buf, (size_t)n, part->offset + done);
		if (rc)
			return put_fail(p, "write temp file", -rc);
		done += (uint64_t)n;
	}
	sha256_final_hex(h, got);
	if (strcmp(got, part->sha256) != 0) {
		snprintf(p->err, p->errlen, "part %zu of %s: sha256 mismatch in the spool "
			 "(got %s, want %s)", i + 1, p->o->key, got, part->sha256);
		return -EBADMSG;
	}
	return 0;
}

/* Copies every part of the object into OUT. */
static int parts_copy(struct dir_put *p, int out)
{
	struct sha256 *h = sha256_new();
	char eb[128];
	int rc = 0, in;

	if (!h)
		return put_fail(p, "hash", ENOMEM);
	in = open(p->o->data, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		int e = errno;
		snprintf(p->err, p->errlen, "%s: spool data file %s: %s", p->o->key, p->o->data,
			 log_errstr(e, eb, sizeof(eb)));
		/* A spool file that is gone does not come back. */
		rc = e == ENOENT ? -ENOENT : dir_result(e);
		goto out_free_hash;
	}
	for (size_t i = 0; i < p->o->nparts && rc == 0; i++)
		rc = part_copy(p, h, i, in, out);
	close(in);
out_free_hash:
	sha256_free(h);
	return rc;
}

/* Reads the temp file back: its bytes must hash to the object's SHA-256. */
static int temp_verify(struct dir_put *p, int fd)
{
	struct stat st;
	char got[65];
	int rc;

	if (fstat(fd, &st) < 0)
		return put_fail(p, "stat temp file", errno);
	if ((uint64_t)st.st_size != p->o->size) {
		snprintf(p->err, p->errlen, "%s: temp file has %lld bytes after the copy, want %llu",
			 p->o->key, (long long)st.st_size, (unsigned long long)p->o->size);
		return -EAGAIN;
	}
	rc = sha256_fd_range(fd, 0, p->o->size, got);
	if (rc)
		return put_fail(p, "read back temp file", -rc);
	if (strcmp(got, p->o->sha256) != 0) {
		snprintf(p->err, p->errlen, "%s: written file reads back wrong (sha256 %s, want %s)",
			 p->o->key, got, p->o->sha256);
		return -EAGAIN;
	}
	return 0;
}

/* user.meta.NAME xattrs; a filesystem without user xattrs just skips them. */
static int meta_set(struct dir_put *p, int fd)
{
	for (size_t i = 0; i < p->o->nmeta; i++) {
		const struct sink_meta *m = &p->o->meta[i];
		char name[XATTR_NAME_MAX + 1];
		size_t n = (size_t)snprintf(name, sizeof(name), "user.meta.%s", m->name);

		if (n >= sizeof(name)) {
			snprintf(p->err, p->errlen, "%s: metadata name '%.40s...' is too long",
				 p->o->key, m->name);
			return -EINVAL;
		}
		if (fsetxattr(fd, name, m->value, strlen(m->value), 0) == 0)
			continue;
		if (errno == ENOTSUP) {
			log_debug(p->d->mod, "%s: %s does not support user xattrs; metadata dropped",
				  p->o->key, p->d->path);
			return 0;
		}
		return put_fail(p, name, errno);
	}
	return 0;
}

/* Mode, metadata and times of the temp file; the times go last. */
static int attrs_set(struct dir_put *p, int fd)
{
	mode_t mode = p->o->mode & 0777 ? p->o->mode & 0777 : 0644;
	int rc;

	if (fchmod(fd, mode) < 0)
		return put_fail(p, "chmod temp file", errno);
	rc = meta_set(p, fd);
	if (rc)
		return rc;
	if (p->o->mtime) {
		struct timespec ts[2] = { { .tv_sec = p->o->mtime }, { .tv_sec = p->o->mtime } };
		if (futimens(fd, ts) < 0)
			return put_fail(p, "set times of temp file", errno);
	}
	return 0;
}

/*
 * Writes the temp file in p->dirfd and renames it over p->base.  The read
 * back comes before the fsync: both read the page cache, and reading after
 * futimens() could move atime.
 */
static int temp_deliver(struct dir_put *p)
{
	int fd = temp_create(p);
	int rc;

	if (fd < 0)
		return fd;
	rc = parts_copy(p, fd);
	if (rc == 0)
		rc = temp_verify(p, fd);
	if (rc == 0)
		rc = attrs_set(p, fd);
	if (rc == 0 && p->d->fsync && fsync(fd) < 0)
		rc = put_fail(p, "fsync temp file", errno);
	if (close(fd) < 0 && rc == 0)
		rc = put_fail(p, "close temp file", errno);
	if (rc)
		goto out_unlink_temp;
	if (renameat(p->dirfd, p->tmp, p->dirfd, p->base) < 0) {
		rc = put_fail(p, "rename temp file", errno);
		goto out_unlink_temp;
	}
	if (p->d->fsync && fsync(p->dirfd) < 0)
		return put_fail(p, "fsync directory", errno);
	return 0;

out_unlink_temp:
	unlinkat(p->dirfd, p->tmp, 0);
	return rc;
}

static int dir_put(struct sink *s, struct sink_io *io, const struct sink_object *o,
		   char *err, size_t errlen)
{
	struct dir_put p = { .d = s->priv, .o = o, .err = err, .errlen = errlen, .dirfd = -1 };
	int rc = put_check(s, &p);

	if (rc)
		return rc;
	p.buf = malloc(COPY_BUF);
	if (!p.buf)
		return put_fail(&p, "copy buffer", ENOMEM);
	rc = parent_open(&p);
	if (rc)
		goto out_free_buf;
	rc = temp_deliver(&p);
	close(p.dirfd);
	if (rc == 0)
		log_debug(p.d->mod, "wrote %s (%llu bytes, %zu parts)", o->key,
			  (unsigned long long)o->size, o->nparts);
out_free_buf:
	free(p.buf);
	return rc;
}

static int dir_open(struct sink *s, const struct cfg_section *sec, char *err, size_t errlen)
{
	const char *path = cfg_str(sec, "path");
	struct dir_sink *d;
	struct stat st;
	char eb[128];
	int e = 0;

	if (!path || path[0] != '/') {
		snprintf(err, errlen, "[sink.%s] path: must be an absolute directory", s->name);
		return -EINVAL;
	}
	if (stat(path, &st) < 0)
		e = errno;
	else if (!S_ISDIR(st.st_mode))
		e = ENOTDIR;
	else if (access(path, W_OK | X_OK) < 0)
		e = errno;
	if (e) {
		snprintf(err, errlen, "[sink.%s] path: %s: %s", s->name, path,
			 log_errstr(e, eb, sizeof(eb)));
		return -e;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->path = strdup(path))) {
		free(d);
		snprintf(err, errlen, "[sink.%s] out of memory", s->name);
		return -ENOMEM;
	}
	d->fsync = cfg_bool(sec, "fsync");
	snprintf(d->mod, sizeof(d->mod), "dir:%s", s->name);
	s->priv = d;
	log_debug(d->mod, "writing under %s%s", d->path, d->fsync ? "" : " (no fsync)");
	return 0;
}

static void dir_close(struct sink *s)
{
	struct dir_sink *d = s->priv;

	if (!d)
		return;
	free(d->path);
	free(d);
	s->priv = NULL;
}

/* file:///PATH/KEY, percent-encoded but for '/'. */
static int dir_url(const struct sink *s, const char *key, char *out, size_t outlen)
{
	const struct dir_sink *d = s->priv;
	char *path, *enc;
	size_t cap;
	int rc = 0;

	if (asprintf(&path, "%s/%s", d->path, key) < 0)
		return -ENOMEM;
	cap = strlen(path) * 3 + 5;
	enc = malloc(cap);
	if (!enc || !sigv4_uri_encode(path, 1, enc, cap))
		rc = -ENOMEM;
	if (rc == 0 && (size_t)snprintf(out, outlen, "file://%s", enc) >= outlen)
		rc = -ENAMETOOLONG;
	free(enc);
	free(path);
	return rc;
}

const struct sink_ops dir_sink_ops = {
	.type = "dir",
	.keys = dir_keys,
	.open = dir_open,
	.put = dir_put,
	.close = dir_close,
	.url = dir_url,
};
