/*
 * backend/sink.c - the sink registry and what every sink type shares.
 *
 * sink_types[] lists every sink type; adding one is one line in
 * SINK_TYPE_LIST below plus its file in backend/.  sink_new() finds the
 * type named by a section's `type`, checks the `prefix` every type has and
 * calls the type's open().  sink_put() only guarantees the ERR contract
 * around the type's put().  The rest are small helpers for the network
 * sinks: per-worker state (struct sink_io), a Content-Type guess, secret
 * files and the one map from HTTP status to flowfs result.
 *
 * Thread rules: sink_new() and sink_free() run in the main thread; sink_put()
 * runs in several workers at once, each with its own struct sink_io.  Nothing
 * here has shared mutable state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../util/log.h"
#include "sink.h"

/* Every sink type: X(name) for a `const struct sink_ops name_sink_ops`. */
#define SINK_TYPE_LIST(X) \
	X(dir) \
	X(s3) \
	X(gcs) \
	X(azure) \
	X(http)

#define SINK_DECLARE(t) extern const struct sink_ops t##_sink_ops;
SINK_TYPE_LIST(SINK_DECLARE)
#undef SINK_DECLARE

#define SINK_ENTRY(t) &t##_sink_ops,
const struct sink_ops *const sink_types[] = {
	SINK_TYPE_LIST(SINK_ENTRY)
	NULL
};
#undef SINK_ENTRY

/*
 * Per-worker state.  Only the worker that created it touches it, so it needs
 * no lock.  The network sinks create their handle lazily on first use and
 * set curl_cleanup with it, which keeps libcurl out of this file.
 */
struct sink_io {
	void *curl;			/* a CURL * once a network sink used this worker; else NULL */
	void (*curl_cleanup)(void *);	/* frees curl; set together with it */
	long retry_after;		/* seconds asked by the server in this put(), or -1 */
};

const struct sink_ops *sink_find(const char *type)
{
	if (!type)
		return NULL;
	for (size_t i = 0; sink_types[i]; i++) {
		if (strcmp(sink_types[i]->type, type) == 0)
			return sink_types[i];
	}
	return NULL;
}

const struct cfg_key *sink_keys(const char *type)
{
	const struct sink_ops *ops = sink_find(type);

	return ops ? ops->keys : NULL;
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

bool sink_key_valid(const char *key, bool prefix, const char **why)
{
	const char *seg = key;

	if (key[0] == '\0') {
		*why = "is empty";
		return prefix;
	}
	if (key[0] == '/') {
		*why = "must not start with '/'";
		return false;
	}
	for (const char *c = key; ; c++) {
		size_t len;

		if (*c != '\0' && *c != '/') {
			if (is_ctl((unsigned char)*c)) {
				*why = "contains a control character";
				return false;
			}
			continue;
		}
		len = (size_t)(c - seg);
		if (len == 0 && !(prefix && *c == '\0')) {
			*why = "has an empty segment";
			return false;
		}
		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.')) {
			*why = "has a '.' or '..' segment";
			return false;
		}
		if (*c == '\0')
			return true;
		seg = c + 1;
	}
}

int sink_new(struct sink **out, const struct cfg_section *sec, char *err, size_t errlen)
{
	const char *type = cfg_str(sec, "type");
	const char *prefix = cfg_str(sec, "prefix");
	const struct sink_ops *ops = sink_find(type);
	const char *why = NULL;
	struct sink *s;
	int rc;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!ops) {
		snprintf(err, errlen, "[sink.%s] type: unknown sink type '%s'", sec->name,
			 type ? type : "");
		return -EINVAL;
	}
	if (!prefix)
		prefix = "";
	if (!sink_key_valid(prefix, true, &why)) {
		snprintf(err, errlen, "[sink.%s] prefix: '%s' %s", sec->name, prefix, why);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ops = ops;
	s->sec = sec;
	s->name = strdup(sec->name);
	s->prefix = strdup(prefix);
	if (!s->name || !s->prefix) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = ops->open(s, sec, err, errlen);
	if (rc) {
		if (errlen && err[0] == '\0')
			snprintf(err, errlen, "[sink.%s] cannot open the sink", sec->name);
		goto out_free;
	}
	*out = s;
	return 0;

out_free:
	free(s->name);
	free(s->prefix);
	free(s);
	if (rc == -ENOMEM && errlen && err[0] == '\0')
		snprintf(err, errlen, "[sink.%s] out of memory", sec->name);
	return rc;
}

void sink_free(struct sink *s)
{
	if (!s)
		return;
	if (s->ops->close)
		s->ops->close(s);
	free(s->name);
	free(s->prefix);
	free(s);
}

int sink_url(const struct sink *s, const char *key, char *out, size_t outlen)
{
	if (!s->ops->url)
		return -ENOTSUP;
	return s->ops->url(s, key, out, outlen);
}

static int sink_call(struct sink *s, struct sink_io *io, const struct sink_object *o,
		     bool early, char *err, size_t errlen)
{
	int rc;

	if (errlen)
		err[0] = '\0';
	sink_io_set_retry_after(io, -1);
	rc = early ? s->ops->put_early(s, io, o, err, errlen) : s->ops->put(s, io, o, err, errlen);
	if (rc == 0) {
		if (errlen)
			err[0] = '\0';
		return 0;
	}
	if (rc > 0)
		rc = -EIO;	/* a sink bug */
	if (errlen && err[0] == '\0') {
		/* a sink that cannot say why it failed has not shown that the
		 * failure is permanent: say what it returned, and retry */
		char eb[128];

		snprintf(err, errlen, "the %s sink failed without saying why (%s)", s->ops->type,
			 log_errstr(rc, eb, sizeof(eb)));
		return -EAGAIN;
	}
	return rc;
}

int sink_put(struct sink *s, struct sink_io *io, const struct sink_object *o,
	     char *err, size_t errlen)
{
	return sink_call(s, io, o, false, err, errlen);
}

int sink_put_early(struct sink *s, struct sink_io *io, const struct sink_object *o,
		   char *err, size_t errlen)
{
	if (!s->ops->put_early) {
		snprintf(err, errlen, "the %s sink cannot upload while a file is written", s->ops->type);
		return -ENOTSUP;
	}
	return sink_call(s, io, o, true, err, errlen);
}

struct sink_io *sink_io_new(void)
{
	struct sink_io *io = calloc(1, sizeof(*io));

	if (io)
		io->retry_after = -1;
	return io;
}

void sink_io_set_retry_after(struct sink_io *io, long seconds)
{
	if (io)
		io->retry_after = seconds;
}

long sink_io_retry_after(const struct sink_io *io)
{
	return io ? io->retry_after : -1;
}

void sink_io_free(struct sink_io *io)
{
	if (!io)
		return;
	if (io->curl && io->curl_cleanup)
		io->curl_cleanup(io->curl);
	free(io);
}

int sink_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

void *sink_io_handle(struct sink_io *io, void *(*make)(void), void (*cleanup)(void *))
{
	if (!io->curl) {
		io->curl = make();
		io->curl_cleanup = io->curl ? cleanup : NULL;
	}
	return io->curl;
}

const char *sink_content_type(const char *key)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {
		{ "txt", "text/plain" },
		{ "log", "text/plain" },
		{ "csv", "text/csv" },
		{ "json", "application/json" },
		{ "jsonl", "application/x-ndjson" },
		{ "ndjson", "application/x-ndjson" },
		{ "html", "text/html" },
		{ "htm", "text/html" },
		{ "xml", "application/xml" },
		{ "pdf", "application/pdf" },
		{ "png", "image/png" },
		{ "jpg", "image/jpeg" },
		{ "jpeg", "image/jpeg" },
		{ "gif", "image/gif" },
		{ "zip", "application/zip" },
		{ "tar", "application/x-tar" },
		{ "gz", "application/gzip" },
		{ "tgz", "application/gzip" },
		{ "xz", "application/x-xz" },
		{ "parquet", "application/vnd.apache.parquet" },
	};
	const char *slash, *dot;

	if (!key)
		return "application/octet-stream";
	slash = strrchr(key, '/');
	dot = strrchr(slash ? slash + 1 : key, '.');
	if (!dot || dot[1] == '\0')
		return "application/octet-stream";
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcasecmp(dot + 1, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/*
 * Retry what may succeed later without anybody changing the config:
 * timeouts (408), throttling (429), server trouble (5xx).  Statuses a sink
 * should never see as a final answer (0: no response; 1xx; 3xx, as curl
 * follows no redirects for us and a redirect to elsewhere is usually a
 * load balancer or region hiccup) are retried too: failing data for good
 * on a transient answer is the worse mistake, and .status shows the error.
 * Other 4xx are permanent: the request itself is wrong (auth, validation).
 * 409/412 (conflict, precondition failed) map to -EEXIST: an object or a
 * condition in the way, which a retry of the same request will not change.
 */
int http_status_to_errno(long status)
{
	if (status >= 200 && status <= 299)
		return 0;
	switch (status) {
	case 408:
	case 429:
		return -EAGAIN;
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
	case 412:
		return -EEXIST;
	case 413:
		return -EFBIG;
	}
	if (status >= 400 && status <= 499)
		return -EPROTO;
	return -EAGAIN;		/* 5xx, and 0 / 1xx / 3xx / nonsense as above */
}

static int secret_mode_ok(const char *what, const char *path, const struct stat *st,
			  char *err, size_t errlen)
{
	if (!(st->st_mode & 077))
		return 0;
	snprintf(err, errlen, "%s: %s has mode %04o: group and others must have no access "
		 "(chmod 600 %s)", what, path, (unsigned)(st->st_mode & 07777), path);
	return -EACCES;
}

int sink_secret_mode(const char *what, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s: %m", what, path);
		return -e;
	}
	return secret_mode_ok(what, path, &st, err, errlen);
}

int sink_secret_line(const char *what, const char *path, char *out, size_t outlen,
		     char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t start, end;
	struct stat st;
	ssize_t n;
	int rc;

	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s: %m", what, path);
		goto out_close;
	}
	rc = secret_mode_ok(what, path, &st, err, errlen);
	if (rc)
		goto out_close;
	n = read(fd, out, outlen - 1);
	if (n < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s: %m", what, path);
		goto out_close;
	}
	out[n] = '\0';
	end = strcspn(out, "\r\n");
	while (end && (out[end - 1] == ' ' || out[end - 1] == '\t'))
		end--;
	out[end] = '\0';
	start = strspn(out, " \t");
	memmove(out, out + start, end - start + 1);
	if (!out[0]) {
		snprintf(err, errlen, "%s: %s is empty", what, path);
		rc = -EINVAL;
	}
out_close:
	if (fd >= 0)
		close(fd);
	return rc;
}

int sink_data_open(const struct sink_object *o, char *err, size_t errlen)
{
	int fd = open(o->data, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the spool file: %m", o->key);
		return -EIO;
	}
	return fd;
}
