/*
 * backend/sink.h - the sink interface: one struct sink_ops per sink type.
 *
 * A sink receives sealed objects from the spool's delivery workers.  An object
 * is a file in the spool directory plus its parts (byte ranges with their
 * SHA-256, computed when the object was sealed).  A sink must send exactly
 * those bytes, and must not send a part whose bytes no longer match its hash
 * (a fresh part is not checked again: see struct sink_part).
 *
 * Results, as everywhere in flowfs: 0 delivered; -EAGAIN retry later
 * (network trouble, 5xx, 429, timeouts); any other -errno fails the delivery
 * permanently (auth, validation, a corrupt part).  On failure the sink writes a
 * one-line reason to ERR (never a secret).
 *
 * Thread rules: open() and close() run in the main thread before and after
 * the workers.  put() runs concurrently in several workers on the same
 * struct sink; per-worker state (a CURL handle, say) lives in the worker's
 * struct sink_io, which only that worker touches.
 *
 * backend/ knows neither FUSE nor SQLite.
 */
#ifndef FLOWFS_SINK_H
#define FLOWFS_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "../util/cfg.h"

struct sink_part {
	uint64_t offset;	/* first byte in the object's data file */
	uint64_t length;
	char sha256[65];	/* lower-case hex */
	bool fresh;		/* SHA256 was read from the data file while it is
				 * written (the spool sends it again after the
				 * last close if its bytes changed): not read
				 * again to check it */
};

struct sink_meta {
	const char *name;	/* "owner" for user.meta.owner */
	const char *value;
};

struct sink_object {
	int64_t id;		/* spool object id: stable across retries */
	const char *flow;	/* flow name */
	const char *key;	/* object key, sink prefix included, no leading '/' */
	const char *data;	/* absolute path of the data file in the spool */
	uint64_t size;
	char sha256[65];	/* of the whole object, lower-case hex */
	size_t nparts;		/* at least 1; a 0-byte object has one 0-byte part */
	const struct sink_part *parts;
	size_t nmeta;
	const struct sink_meta *meta;
	const char *content_type; /* guessed from the key's extension */
	time_t mtime;
	mode_t mode;
	struct sink_resume *resume;	/* never NULL */
	size_t early_from;	/* put_early: the parts before this one are another
				 * call's (sent, or being sent by another worker) */
};

/*
 * Multipart progress kept in the spool, so that a daemon killed in the middle
 * of an upload resumes it after restart without re-sending confirmed parts.
 * The spool fills upload_id / part_ids from what earlier attempts saved; the
 * sink calls save_upload() once it has an upload id (NULL to forget it, e.g.
 * after the server lost it) and save_part() after each confirmed part.
 * Both return 0 or -errno and may be called from the worker thread.
 */
struct sink_resume {
	const char *upload_id;		/* saved by an earlier attempt, or NULL */
	const char *const *part_ids;	/* [nparts]: saved ETag / block id, or NULL each */
	int (*save_upload)(struct sink_resume *r, const char *upload_id);
	int (*save_part)(struct sink_resume *r, size_t idx, const char *part_id);
	void *arg;			/* the spool's */
};

struct sink;
struct sink_io;

struct sink_ops {
	const char *type;		/* "dir", as in the INI */
	const struct cfg_key *keys;	/* the section's keys; contains "type" and "prefix" */
	/* Check the section and prepare.  May set s->priv. */
	int (*open)(struct sink *s, const struct cfg_section *sec, char *err, size_t errlen);
	/* Deliver every part of O under O->key. */
	int (*put)(struct sink *s, struct sink_io *io, const struct sink_object *o,
		   char *err, size_t errlen);
	/* Optional (NULL: the type cannot): O is a file still being written,
	 * its parts the first whole part_size parts so far.  Sends those from
	 * O->early_from on that the resume does not hold yet as parts of a
	 * multipart upload under O->key (started, and saved, when there is
	 * none; the spool then sends no other part meanwhile); several calls
	 * for other parts of O may run at once.  Never completes, nor lists
	 * what the server holds: the put() after the last close sends the
	 * rest, checks and completes. */
	int (*put_early)(struct sink *s, struct sink_io *io, const struct sink_object *o,
			 char *err, size_t errlen);
	void (*close)(struct sink *s);	/* frees s->priv; NULL-safe on s->priv */
	/* The URL a client fetches KEY (prefix included) from: s3://, gs://,
	 * https://, file:// or the http sink's url.  0 or -ENAMETOOLONG. */
	int (*url)(const struct sink *s, const char *key, char *out, size_t outlen);
};

struct sink {
	const struct sink_ops *ops;
	char *name;			/* "archive" for [sink.archive] */
	char *prefix;			/* "" if unset; otherwise as configured */
	const struct cfg_section *sec;	/* borrowed from the struct cfg */
	void *priv;			/* the type's own state */
};

/* The table of a sink type, or NULL.  sink_keys() fits struct cfg_schema. */
const struct sink_ops *sink_find(const char *type);
const struct cfg_key *sink_keys(const char *type);
/* Every known type, NULL-terminated (for --help and the man page check). */
extern const struct sink_ops *const sink_types[];

/* Create and open a sink from its validated section.  0 or -errno with ERR. */
int sink_new(struct sink **out, const struct cfg_section *sec, char *err, size_t errlen);
void sink_free(struct sink *s);	/* NULL-safe; calls ops->close */
/* The URL of KEY in S (ops->url); -ENOTSUP when the type has none. */
int sink_url(const struct sink *s, const char *key, char *out, size_t outlen);
/* POSTs BODY (JSON) to http sink S's url with Idempotency-Key IDEM, as a
 * delivery callback: 0 on a 2xx, else -EAGAIN or -errno with ERR.  -EINVAL
 * if S is not an http sink. */
int http_callback(struct sink *s, struct sink_io *io, const char *body, size_t len,
		  const char *idem, char *err, size_t errlen);
/* Calls ops->put; fills ERR with "unknown error" if the sink left it empty. */
int sink_put(struct sink *s, struct sink_io *io, const struct sink_object *o,
	     char *err, size_t errlen);

/* Calls ops->put_early the way sink_put calls put. */
int sink_put_early(struct sink *s, struct sink_io *io, const struct sink_object *o,
		   char *err, size_t errlen);

/* Once in main(), before any thread: libcurl's global setup. */
int sink_global_init(void);

/* Per-worker state; a worker creates one at start and frees it at exit. */
struct sink_io *sink_io_new(void);
void sink_io_free(struct sink_io *io);	/* NULL-safe */
/* The worker's network handle (a CURL *), made by MAKE on first use and
 * released with CLEANUP by sink_io_free(); NULL if MAKE failed.  Keeping
 * one handle per worker keeps its connections alive between objects. */
void *sink_io_handle(struct sink_io *io, void *(*make)(void), void (*cleanup)(void *));
/* A server's Retry-After, in seconds, for the put() under way: the worker
 * waits at least that long before the next attempt.  sink_put() clears it
 * (-1: none) before each put(). */
void sink_io_set_retry_after(struct sink_io *io, long seconds);
long sink_io_retry_after(const struct sink_io *io);

/* A key (or, PREFIX, a sink prefix: may be empty or end with '/') is
 * relative segments, none empty, "." or "..", without control characters:
 * it never leaves the sink's root.  On false, WHY says what is wrong. */
bool sink_key_valid(const char *key, bool prefix, const char **why);

/* "text/csv" etc. from the key's extension; never NULL. */
const char *sink_content_type(const char *key);

/*
 * Secret files (credentials, keys, tokens): refused unless group and others
 * have no access.  sink_secret_mode() checks PATH; sink_secret_line() also
 * reads its first line, without blanks around it, into OUT (not empty).
 * 0 or -errno with ERR "WHAT: PATH has mode 0644: ..." (WHAT: the key that
 * named the file); the secret itself never reaches ERR.
 */
int sink_secret_mode(const char *what, const char *path, char *err, size_t errlen);
int sink_secret_line(const char *what, const char *path, char *out, size_t outlen,
		     char *err, size_t errlen);

/* Opens O's spool data file for reading: the fd, or -EIO with ERR. */
int sink_data_open(const struct sink_object *o, char *err, size_t errlen);

/* Maps an HTTP status to 0, -EAGAIN (408, 429, 5xx) or a permanent -errno. */
int http_status_to_errno(long status);

#endif
