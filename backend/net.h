/*
 * backend/net.h - the HTTP request layer every network sink shares.
 *
 * One struct net_req is one request: method, URL, headers (kept as name and
 * value so a sink can sign them first), a body read from a byte range of a
 * spool file or from memory, and the answer (status, the first MiB of the
 * body, ETag, Retry-After).  net_send() runs it on the worker's own CURL
 * handle (keep-alive between objects), with connect and low-speed timeouts
 * so a hung server never holds a worker, and TLS verification always on.
 *
 * Also here: the check of a spool part against its SHA-256 before it is
 * sent (giving its MD5 and SHA-256 for Content-MD5 style headers), a tiny
 * XML lookup for S3/Azure answers, and a pool that sends the parts of one
 * object over several connections at once.
 *
 * Thread rules: a struct net_req belongs to one thread; net_send() uses only
 * IO's handle, which belongs to the calling worker.
 */
#ifndef FLOWFS_NET_H
#define FLOWFS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "sink.h"

#define NET_MAX_HEADERS 64

struct net_header {
	char *name;		/* owned; lower case for signing sinks */
	char *value;		/* owned */
};

struct net_req {
	const char *method;	/* "PUT", "POST", "GET", ... */
	char *url;		/* owned: set with net_url() */
	int fd;			/* body from this spool file ... */
	uint64_t off, len;	/* ... these bytes of it; or fd < 0: */
	const char *body;	/* body from memory (borrowed), body_len bytes */
	size_t body_len;
	struct net_header hdr[NET_MAX_HEADERS];
	size_t nhdr;
	bool oom;		/* a header or the URL could not be stored */
	/* the answer */
	long status;
	struct buf resp;	/* the first MiB of the body */
	char etag[128];
	long retry_after;	/* seconds from Retry-After, or -1 */
	uint64_t sent;		/* body bytes handed to curl so far */
};

/* Per-sink settings of the transfer. */
struct net_opts {
	long connect_timeout;	/* seconds */
	long timeout;		/* abort when less than 1 KiB moves in this many seconds */
	const char *ca_file;	/* or NULL: the system's CAs */
	bool follow_redirects;
	const char *userpwd;	/* "user:password" for HTTP basic auth, or NULL */
};

/* The keys every network sink has, for the end of its cfg_key table. */
#define NET_CFG_KEYS \
	{ "prefix", CFG_STR, "", 0, NULL, 0, 0, "starts every key" }, \
	{ "ca_file", CFG_PATH, NULL, 0, NULL, 0, 0, "CA bundle for TLS (verification is always on)" }, \
	{ "connect_timeout", CFG_DURATION, "10s", CFG_BARE_SECONDS, NULL, 1, 3600, \
	  "give up connecting after this long (then retry later)" }, \
	{ "timeout", CFG_DURATION, "60s", CFG_BARE_SECONDS, NULL, 1, 86400, \
	  "abort a request that moves less than 1 KiB in this long" }

/* ca_file and the timeouts of a validated section with NET_CFG_KEYS. */
void net_opts_load(struct net_opts *o, const struct cfg_section *sec);

void net_req_init(struct net_req *r, const char *method);
void net_req_free(struct net_req *r);	/* frees what the request owns; reusable after init */
/* Sets the URL (printf-style). */
void net_url(struct net_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a header (copies NAME and the formatted value). */
void net_header(struct net_req *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The body: LEN bytes of FD from OFF, or LEN bytes of memory at P. */
void net_body_fd(struct net_req *r, int fd, uint64_t off, uint64_t len);
void net_body_mem(struct net_req *r, const char *p, size_t len);

/*
 * Sends R.  Returns 0 for a 2xx answer, -EAGAIN for transport trouble
 * (refused, reset, timeout) and for answers worth retrying, or a permanent
 * -errno (http_status_to_errno(); an S3/Azure error Code that says "busy"
 * or "the body's digest did not match" is retried).  On failure ERR reads
 * "WHAT: HTTP 403: Code: Message" (the XML Code and Message of S3 and Azure
 * errors, else the body's first bytes) or "WHAT: <curl's reason>".  The
 * answer stays in R either way.
 */
int net_send(struct sink_io *io, const struct net_opts *o, struct net_req *r, const char *what,
	     char *err, size_t errlen);

/* Reads part P of FD once, checks it against its SHA-256 (a mismatch is
 * -EBADMSG with ERR: never send it) and gives its MD5 and SHA-256 in base64
 * (either may be NULL).  A fresh part is not checked: only its MD5 is
 * read.  0 or -errno. */
int net_part_digest(int fd, const struct sink_part *p, char md5_b64[32], char sha_b64[48],
		    char *err, size_t errlen);

/* Text between <TAG> and </TAG> in XML into OUT; NULL if absent.  AFTER, if
 * not NULL, is set past the closing tag. */
const char *net_xml_get(const char *xml, const char *tag, char *out, size_t outlen,
			const char **after);

/*
 * Runs SEND(ARG, io, i, err, errlen) for every i < N with NEED[i] (NULL:
 * all), on up to NTHREADS threads with a struct sink_io (one connection)
 * each.  A single part goes in the calling thread over IO (the worker's
 * connection, kept alive between requests).  Stops handing out work at the
 * first failure; returns 0 or the first failure's result with its ERR.
 */
int net_parallel(struct sink_io *io, size_t n, const bool *need, int nthreads,
		 int (*send)(void *arg, struct sink_io *io, size_t i, char *err, size_t errlen),
		 void *arg, char *err, size_t errlen);

/*
 * The part loop of a resumable multipart upload (S3 parts, Azure blocks):
 * sends the parts SENT does not mark (NULL: none confirmed yet) with
 * net_parallel(), asks CHECK which parts the server holds (into OK[n]) and
 * sends the missing ones once more.  CHECK may answer -EOPNOTSUPP: the
 * server cannot list parts, the commit will check them; CHECK NULL: no
 * check now (parts sent while a file is written: the commit's put checks).  Parts still
 * missing after that give -EAGAIN with ERR.  WHAT names them in the log
 * and ERR ("parts", "blocks"); MOD and KEY are for the log.
 */
struct net_parts {
	size_t n;
	const bool *sent;
	int nthreads;
	int (*send)(void *arg, struct sink_io *io, size_t i, char *err, size_t errlen);
	int (*check)(void *arg, struct sink_io *io, bool *ok, char *err, size_t errlen);
	struct sink_io *io;		/* CHECK's connection: the worker's */
	void *arg;
	const char *what, *mod, *key;
	size_t missing;			/* out: parts still missing at the end */
};

int net_parts_send(struct net_parts *p, char *err, size_t errlen);

#endif
