/*
 * backend/http.c - the http sink: objects to any HTTP endpoint (webhooks).
 *
 * mode = raw: one request per object to `url`, the body the object's bytes
 * (streamed from the spool file, or gzip/deflate-compressed in memory with
 * body_encoding), with X-Flowfs-Flow, X-Flowfs-Key, X-Flowfs-Sha256,
 * X-Flowfs-Meta-NAME and an Idempotency-Key that is the same on every retry.
 *
 * mode = events (Flowcore webhook format): an object whose lines are all
 * JSON objects (a stream chunk; .gz and .xz chunks are unpacked first) goes
 * as JSON arrays of those objects, at most batch_bytes per request; any
 * other object goes as file events: one JSON body per 512 KiB of the file,
 * {"fileName","fileSize","fileType","part","totalParts","data","checksum",
 * "hashType"}, data in base64, checksum the SHA-256 of the whole file.
 * Metadata goes in x-flowcore-metadata-json; the xattrs user.flowfs.event_time
 * and user.flowfs.valid_time in x-flowcore-event-time / -valid-time.
 * Progress is kept in the spool as the resume upload id "events:UNIT:N" (N
 * requests of UNIT bytes confirmed), so a retry or a restart sends only the
 * rest.  (The resume part ids are per spool part, not per event.)
 *
 * Every spool part is checked against its SHA-256 before anything is sent:
 * a mismatch fails the delivery for good and nothing is sent.  Results as
 * net_send() maps them: 2xx delivered; 408, 429, 5xx, 3xx (redirects are
 * not followed unless follow_redirects = yes) and transport errors retried;
 * other 4xx permanent with the body's first bytes.  The api key never
 * reaches ERR or the log.
 *
 * Threads: put() runs in several workers at once, each on its own struct
 * sink_io; struct http is read-only after open().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <lzma.h>
#include <zlib.h>

#include "../util/base64.h"
#include "../util/buf.h"
#include "../util/hash.h"
#include "../util/json.h"
#include "../util/log.h"
#include "net.h"
#include "sink.h"

#define EVENT_PART (512u << 10)		/* raw bytes per file event */
#define JSONL_MAX (256ull << 20)	/* larger objects are never read as JSON lines */
#define HTTP_HEADERS_MAX 32

enum http_enc { HTTP_ENC_NONE, HTTP_ENC_GZIP, HTTP_ENC_DEFLATE };

struct http {
	char *url;
	const char *method;		/* "POST" or "PUT" (static) */
	struct net_header hdr[HTTP_HEADERS_MAX];	/* from `headers` */
	size_t nhdr;
	char *userpwd;			/* "KEY:" (secret), or NULL */
	const char *content_type;	/* borrowed from the section, or NULL */
	enum http_enc enc;
	bool events;			/* mode = events */
	uint64_t batch_bytes;
	struct net_opts net;
	char mod[96];			/* "http:hook" */
};

static const struct cfg_key http_keys[] = {
	{ "type", CFG_STR, NULL, CFG_REQUIRED, NULL, 0, 0, "sink type" },
	{ "url", CFG_STR, NULL, CFG_REQUIRED, NULL, 0, 0, "http:// or https:// URL every request goes to" },
	{ "method", CFG_ENUM, "POST", 0, "POST|PUT", 0, 0, "HTTP method of every request" },
	{ "headers", CFG_STR, NULL, 0, NULL, 0, 0,
	  "extra headers, 'Name: value' separated by ';' (X-A: 1; X-B: 2)" },
	{ "api_key", CFG_STR, NULL, CFG_SECRET, NULL, 0, 0,
	  "sent as HTTP basic auth: the key as user name, empty password" },
	{ "api_key_file", CFG_PATH, NULL, 0, NULL, 0, 0,
	  "file (mode 0600) whose first line is the api_key" },
	{ "content_type", CFG_STR, NULL, 0, NULL, 0, 0,
	  "Content-Type of raw bodies; unset: guessed from the key" },
	{ "body_encoding", CFG_ENUM, "none", 0, "gzip|deflate|none", 0, 0,
	  "compress raw bodies and set Content-Encoding" },
	{ "follow_redirects", CFG_BOOL, "no", 0, NULL, 0, 0,
	  "follow 3xx answers (no: a redirect is retried, never followed)" },
	{ "mode", CFG_ENUM, "raw", 0, "raw|events", 0, 0,
	  "raw: the object as the body; events: Flowcore webhook events" },
	{ "batch_bytes", CFG_SIZE, "1M", 0, NULL, 1024, 64ll << 20,
	  "events mode: most bytes of one JSON array of lines" },
	NET_CFG_KEYS,
	{ NULL }
};

/* ---- open / close ---- */

static void http_free(struct http *h)
{
	if (!h)
		return;
	if (h->userpwd)
		memset(h->userpwd, 0, strlen(h->userpwd));
	free(h->userpwd);
	for (size_t i = 0; i < h->nhdr; i++) {
		free(h->hdr[i].name);
		free(h->hdr[i].value);
	}
	free(h->url);
	free(h);
}

static bool http_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static char *http_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* One "Name: value" of `headers`. */
static int http_header_add(struct http *h, char *item, char *err, size_t errlen)
{
	char *colon = strchr(item, ':'), *name, *value;

	if (!colon) {
		snprintf(err, errlen, "headers: '%s' is not 'Name: value'", item);
		return -EINVAL;
	}
	*colon = '\0';
	name = http_trim(item);
	value = http_trim(colon + 1);
	for (const char *c = name; *c; c++) {
		if (!http_token_char(*c)) {
			snprintf(err, errlen, "headers: '%s' is not a header name", name);
			return -EINVAL;
		}
	}
	if (!*name || h->nhdr == HTTP_HEADERS_MAX) {
		snprintf(err, errlen, "headers: %s", *name ? "more than 32 headers" : "an empty header name");
		return -EINVAL;
	}
	h->hdr[h->nhdr].name = strdup(name);
	h->hdr[h->nhdr].value = strdup(value);
	if (!h->hdr[h->nhdr].name || !h->hdr[h->nhdr].value) {
		free(h->hdr[h->nhdr].name);
		free(h->hdr[h->nhdr].value);
		return -ENOMEM;
	}
	h->nhdr++;
	return 0;
}

static int http_headers_parse(struct http *h, const char *spec, char *err, size_t errlen)
{
	char *copy, *item, *next;
	int rc = 0;

	if (!spec)
		return 0;
	copy = strdup(spec);
	if (!copy)
		return -ENOMEM;
	for (item = copy; rc == 0 && item; item = next) {
		next = strchr(item, ';');
		if (next)
			*next++ = '\0';
		if (*http_trim(item))
			rc = http_header_add(h, http_trim(item), err, errlen);
	}
	free(copy);
	return rc;
}

static int http_auth(struct http *h, const struct cfg_section *sec, char *err, size_t errlen)
{
	const char *file = cfg_str(sec, "api_key_file");
	char line[1024], *key;
	int rc = 0;

	if (file && cfg_str(sec, "api_key")) {
		snprintf(err, errlen, "api_key and api_key_file: set only one");
		return -EINVAL;
	}
	if (file) {
		rc = sink_secret_line("api_key_file", file, line, sizeof(line), err, errlen);
		key = rc ? NULL : strdup(line);
		memset(line, 0, sizeof(line));
	} else if (cfg_str(sec, "api_key")) {
		key = strdup(cfg_str(sec, "api_key"));
	} else {
		return 0;
	}
	if (rc)
		return rc;
	if (!key)
		return -ENOMEM;
	if (!*key || strpbrk(key, ":\r\n")) {
		snprintf(err, errlen, "%s: the key is empty or contains ':' or a line break",
			 file ? "api_key_file" : "api_key");
		rc = -EINVAL;
	} else if (asprintf(&h->userpwd, "%s:", key) < 0) {
		h->userpwd = NULL;
		rc = -ENOMEM;
	}
	memset(key, 0, strlen(key));
	free(key);
	return rc;
}

static int http_setup(struct http *h, const struct cfg_section *sec, char *err, size_t errlen)
{
	const char *url = cfg_str(sec, "url"), *enc = cfg_str(sec, "body_encoding");

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "url: '%s' is not an http:// or https:// URL", url);
		return -EINVAL;
	}
	if (strpbrk(url, " \t\r\n")) {
		snprintf(err, errlen, "url: '%s' contains white space", url);
		return -EINVAL;
	}
	h->url = strdup(url);
	if (!h->url)
		return -ENOMEM;
	h->method = strcmp(cfg_str(sec, "method"), "PUT") == 0 ? "PUT" : "POST";
	h->content_type = cfg_str(sec, "content_type");
	h->enc = strcmp(enc, "gzip") == 0 ? HTTP_ENC_GZIP :
		 strcmp(enc, "deflate") == 0 ? HTTP_ENC_DEFLATE : HTTP_ENC_NONE;
	h->events = strcmp(cfg_str(sec, "mode"), "events") == 0;
	h->batch_bytes = cfg_size(sec, "batch_bytes");
	net_opts_load(&h->net, sec);
	h->net.follow_redirects = cfg_bool(sec, "follow_redirects");
	if (h->content_type && strpbrk(h->content_type, "\r\n")) {
		snprintf(err, errlen, "content_type: contains a line break");
		return -EINVAL;
	}
	return http_headers_parse(h, cfg_str(sec, "headers"), err, errlen);
}

static int http_open(struct sink *sink, const struct cfg_section *sec, char *err, size_t errlen)
{
	struct http *h = calloc(1, sizeof(*h));
	char msg[512] = "";
	int rc;

	if (!h)
		return -ENOMEM;
	snprintf(h->mod, sizeof(h->mod), "http:%s", sink->name);
	rc = http_setup(h, sec, msg, sizeof(msg));
	if (rc == 0)
		rc = http_auth(h, sec, msg, sizeof(msg));
	if (rc) {
		snprintf(err, errlen, "[sink.%s] %s", sink->name, msg[0] ? msg : "out of memory");
		http_free(h);
		return rc;
	}
	h->net.userpwd = h->userpwd;
	sink->priv = h;
	log_debug(h->mod, "%s %s, mode %s", h->method, h->url, h->events ? "events" : "raw");
	return 0;
}

static void http_close(struct sink *sink)
{
	http_free(sink->priv);
	sink->priv = NULL;
}

/* ---- headers every request carries ---- */

/* Metadata names flowfs itself sets (from user.flowfs.*), not user.meta.*. */
static bool meta_internal(const struct sink_meta *m)
{
	return strncmp(m->name, "flowfs.", 7) == 0;
}

static const char *meta_find(const struct sink_object *o, const char *name)
{
	for (size_t i = 0; i < o->nmeta; i++)
		if (strcmp(o->meta[i].name, name) == 0)
			return o->meta[i].value;
	return NULL;
}

/* A stable Idempotency-Key: hash of object id and key, then "-N" for the
 * N-th request of the object in events mode (N < 0: none). */
static void idem_key(const struct sink_object *o, long n, char *out, size_t outlen)
{
	char hex[65], *in;
	int len = asprintf(&in, "%" PRId64 "\n%s", o->id, o->key);

	if (len < 0) {
		snprintf(hex, sizeof(hex), "%016" PRIx64, (uint64_t)o->id);
	} else {
		sha256_buf_hex(in, (size_t)len, hex);
		free(in);
	}
	if (n < 0)
		snprintf(out, outlen, "flowfs-%.32s", hex);
	else
		snprintf(out, outlen, "flowfs-%.32s-%ld", hex, n);
}

static void common_headers(const struct http *h, struct net_req *r, const struct sink_object *o,
			   long n)
{
	char idem[96];

	for (size_t i = 0; i < h->nhdr; i++)
		net_header(r, h->hdr[i].name, "%s", h->hdr[i].value);
	idem_key(o, n, idem, sizeof(idem));
	net_header(r, "Idempotency-Key", "%s", idem);
	net_header(r, "X-Flowfs-Flow", "%s", o->flow);
	net_header(r, "X-Flowfs-Key", "%s", o->key);
	net_header(r, "X-Flowfs-Sha256", "%s", o->sha256);
}

/* x-flowcore-* headers of events: metadata as base64 JSON, event/valid time. */
static void flowcore_headers(struct net_req *r, const struct sink_object *o)
{
	const char *t;
	struct buf js;
	char *b64;
	bool any = false;

	buf_init(&js);
	buf_puts(&js, "{");
	for (size_t i = 0; i < o->nmeta; i++) {
		if (meta_internal(&o->meta[i]))
			continue;
		buf_puts(&js, any ? "," : "");
		buf_json_str(&js, o->meta[i].name);
		buf_puts(&js, ":");
		buf_json_str(&js, o->meta[i].value);
		any = true;
	}
	buf_puts(&js, "}");
	b64 = any && !js.oom ? malloc(BASE64_ENC_SIZE(js.len)) : NULL;
	if (b64) {
		base64_encode(js.p, js.len, b64);
		net_header(r, "x-flowcore-metadata-json", "%s", b64);
		free(b64);
	} else if (any) {
		r->oom = true;
	}
	buf_free(&js);
	if ((t = meta_find(o, "flowfs.event_time")))
		net_header(r, "x-flowcore-event-time", "%s", t);
	if ((t = meta_find(o, "flowfs.valid_time")))
		net_header(r, "x-flowcore-valid-time", "%s", t);
}

static int http_send(const struct http *h, struct sink_io *io, struct net_req *r,
		     const char *what, char *err, size_t errlen)
{
	net_url(r, "%s", h->url);
	if (r->oom) {
		snprintf(err, errlen, "%s: out of memory", what);
		return -ENOMEM;
	}
	return net_send(io, &h->net, r, what, err, errlen);
}

/* ---- reading the spool file ---- */

/* Checks every spool part against its SHA-256 (a mismatch: never send). */
static int check_parts(int fd, const struct sink_object *o, char *err, size_t errlen)
{
	char msg[400];

	for (size_t i = 0; i < o->nparts; i++) {
		int rc = net_part_digest(fd, &o->parts[i], NULL, NULL, msg, sizeof(msg));
		if (rc) {
			snprintf(err, errlen, "%s: %s", o->key, msg);
			return rc;
		}
	}
	return 0;
}

/* Reads the whole file into B (its parts were checked by check_parts()). */
static int read_all(int fd, const struct sink_object *o, struct buf *b, char *err, size_t errlen)
{
	uint64_t done = 0;

	buf_add(b, "", 0);
	while (done < o->size && !b->oom) {
		char chunk[65536];
		size_t want = o->size - done < sizeof(chunk) ? (size_t)(o->size - done) : sizeof(chunk);
		ssize_t n = pread(fd, chunk, want, (off_t)done);
		if (n <= 0) {
			snprintf(err, errlen, "%s: cannot read the spool file", o->key);
			return -EIO;
		}
		buf_add(b, chunk, (size_t)n);
		done += (uint64_t)n;
	}
	return b->oom ? -ENOMEM : 0;
}

/* ---- raw mode ---- */

/* Compresses IN into OUT: gzip (a gzip member) or deflate (zlib format). */
static int deflate_buf(const struct buf *in, bool gzip, struct buf *out)
{
	z_stream z = { 0 };
	int zrc;

	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 31 : 15, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)(in->p ? in->p : "");
	z.avail_in = (uInt)in->len;
	do {
		unsigned char chunk[65536];
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		zrc = deflate(&z, Z_FINISH);
		buf_add(out, chunk, sizeof(chunk) - z.avail_out);
	} while (zrc == Z_OK || zrc == Z_BUF_ERROR);
	deflateEnd(&z);
	return zrc == Z_STREAM_END && !out->oom ? 0 : -ENOMEM;
}

static int put_raw(const struct http *h, struct sink_io *io, int fd, const struct sink_object *o,
		   char *err, size_t errlen)
{
	struct buf data, packed;
	struct net_req r;
	char what[4200], name[160];
	int rc = 0;

	buf_init(&data);
	buf_init(&packed);
	net_req_init(&r, h->method);
	common_headers(h, &r, o, -1);
	net_header(&r, "Content-Type", "%s", h->content_type ? h->content_type : o->content_type);
	for (size_t i = 0; i < o->nmeta; i++) {
		if (meta_internal(&o->meta[i]))
			continue;
		snprintf(name, sizeof(name), "X-Flowfs-Meta-%s", o->meta[i].name);
		net_header(&r, name, "%s", o->meta[i].value);
	}
	if (h->enc == HTTP_ENC_NONE) {
		net_body_fd(&r, fd, 0, o->size);
	} else {
		rc = read_all(fd, o, &data, err, errlen);
		if (rc == 0 && (rc = deflate_buf(&data, h->enc == HTTP_ENC_GZIP, &packed)))
			snprintf(err, errlen, "%s: cannot compress the body", o->key);
		if (rc)
			goto out_free;
		net_header(&r, "Content-Encoding", "%s", h->enc == HTTP_ENC_GZIP ? "gzip" : "deflate");
		net_body_mem(&r, packed.p, packed.len);
	}
	snprintf(what, sizeof(what), "%s %s", h->method, o->key);
	rc = http_send(h, io, &r, what, err, errlen);
out_free:
	net_req_free(&r);
	buf_free(&data);
	buf_free(&packed);
	return rc;
}

/* ---- events mode: progress ---- */

/* Requests already confirmed by earlier attempts, for a split in UNIT bytes. */
static size_t progress_load(const struct sink_object *o, uint64_t unit)
{
	const char *id = o->resume->upload_id;
	unsigned long long u, n;
	char tail;

	if (!id || sscanf(id, "events:%llu:%llu%c", &u, &n, &tail) != 2 || u != unit)
		return 0;
	return (size_t)n;
}

/* Records that DONE requests are confirmed.  A failure here is only logged:
 * the data did arrive, and the worst outcome is that a later attempt sends
 * those requests again (with the same Idempotency-Key). */
static void progress_save(const struct http *h, const struct sink_object *o, uint64_t unit,
			  size_t done)
{
	char id[64], why[128];
	int rc;

	snprintf(id, sizeof(id), "events:%llu:%zu", (unsigned long long)unit, done);
	rc = o->resume->save_upload(o->resume, id);
	if (rc)
		log_warn(h->mod, "%s: cannot record the progress of its events: %s", o->key,
			 log_errstr(rc, why, sizeof(why)));
}

/* ---- events mode: JSON lines ---- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int inflate_buf(const struct buf *in, struct buf *out)
{
	z_stream z = { 0 };
	int zrc = Z_OK;

	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)(in->p ? in->p : "");
	z.avail_in = (uInt)in->len;
	while (zrc == Z_OK && out->len <= JSONL_MAX && !out->oom) {
		unsigned char chunk[65536];
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		zrc = inflate(&z, Z_NO_FLUSH);
		buf_add(out, chunk, sizeof(chunk) - z.avail_out);
		if (zrc == Z_STREAM_END && z.avail_in > 0) {	/* concatenated members */
			inflateReset(&z);
			zrc = Z_OK;
		}
	}
	inflateEnd(&z);
	return zrc == Z_STREAM_END && out->len <= JSONL_MAX && !out->oom ? 0 : -EINVAL;
}

static int unxz_buf(const struct buf *in, struct buf *out)
{
	lzma_stream z = LZMA_STREAM_INIT;
	lzma_ret lr = LZMA_OK;

	if (lzma_stream_decoder(&z, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
		return -ENOMEM;
	z.next_in = (const uint8_t *)(in->p ? in->p : "");
	z.avail_in = in->len;
	while (lr == LZMA_OK && out->len <= JSONL_MAX && !out->oom) {
		uint8_t chunk[65536];
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		lr = lzma_code(&z, LZMA_FINISH);
		buf_add(out, chunk, sizeof(chunk) - z.avail_out);
	}
	lzma_end(&z);
	return lr == LZMA_STREAM_END && out->len <= JSONL_MAX && !out->oom ? 0 : -EINVAL;
}

/* Next line of [*P, END) without its "\n" (and "\r"); false at the end. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl;

	if (*p >= end)
		return false;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	*line = *p;
	*len = (size_t)((nl ? nl : end) - *p);
	*p = nl ? nl + 1 : end;
	if (*len && (*line)[*len - 1] == '\r')
		(*len)--;
	return true;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n", s[i]))
			return false;
	return true;
}

/* Every non-blank line is a JSON object, and there is at least one. */
static bool all_json_lines(const struct buf *b)
{
	const char *p = b->p, *end = b->p + b->len, *line;
	size_t len, n = 0;

	while (next_line(&p, end, &line, &len)) {
		if (blank(line, len))
			continue;
		if (!json_is_object(line, len))
			return false;
		n++;
	}
	return n > 0;
}

/*
 * The JSON lines of O into LINES (unpacked if the key ends in .gz or .xz),
 * or -ENOMSG if O is not JSON lines (then it goes as file events).
 */
static int load_json_lines(int fd, const struct sink_object *o, struct buf *lines, char *err,
			   size_t errlen)
{
	struct buf raw;
	char first = 0;
	int rc;

	if (o->size == 0 || o->size > JSONL_MAX)
		return -ENOMSG;
	if (!ends_with(o->key, ".gz") && !ends_with(o->key, ".xz") &&
	    (pread(fd, &first, 1, 0) != 1 || (first != '{' && !strchr(" \t\r\n", first))))
		return -ENOMSG;	/* cheap: most files are not JSON lines */
	buf_init(&raw);
	rc = read_all(fd, o, &raw, err, errlen);
	if (rc)
		goto out_free;
	if (ends_with(o->key, ".gz"))
		rc = inflate_buf(&raw, lines) ? -ENOMSG : 0;
	else if (ends_with(o->key, ".xz"))
		rc = unxz_buf(&raw, lines) ? -ENOMSG : 0;
	else
		buf_add(lines, raw.p, raw.len);
	if (rc == 0 && lines->oom)
		rc = -ENOMEM;
	if (rc == 0 && !all_json_lines(lines))
		rc = -ENOMSG;
out_free:
	buf_free(&raw);
	return rc;
}

/* The next batch of lines from *P: a JSON array of at most batch_bytes (one
 * line larger than that goes alone). */
static void next_batch(const struct http *h, const char **p, const char *end, struct buf *out)
{
	const char *line, *save;
	size_t len, n = 0;

	out->len = 0;
	buf_puts(out, "[");
	for (save = *p; next_line(p, end, &line, &len); save = *p) {
		if (blank(line, len))
			continue;
		if (n && out->len + 1 + len + 1 > h->batch_bytes) {
			*p = save;
			break;
		}
		buf_puts(out, n++ ? "," : "");
		buf_add(out, line, len);
	}
	buf_puts(out, "]");
}

/* Sends event request I of O (a JSON body) and, once it is confirmed,
 * records that the first I+1 requests of UNIT bytes each are done. */
static int send_event(const struct http *h, struct sink_io *io, const struct sink_object *o,
		      size_t i, uint64_t unit, const struct buf *body, const char *what,
		      char *err, size_t errlen)
{
	struct net_req r;
	int rc;

	net_req_init(&r, h->method);
	common_headers(h, &r, o, (long)i);
	flowcore_headers(&r, o);
	net_header(&r, "Content-Type", "application/json");
	net_body_mem(&r, body->p, body->len);
	rc = http_send(h, io, &r, what, err, errlen);
	net_req_free(&r);
	if (rc == 0)
		progress_save(h, o, unit, i + 1);
	return rc;
}

static int put_json_lines(const struct http *h, struct sink_io *io, const struct sink_object *o,
			  const struct buf *lines, char *err, size_t errlen)
{
	const char *p = lines->p, *end = lines->p + lines->len;
	size_t done = progress_load(o, h->batch_bytes), i;
	struct buf batch;
	char what[4200];
	int rc = 0;

	buf_init(&batch);
	for (i = 0; rc == 0 && !blank(p, (size_t)(end - p)); i++) {
		next_batch(h, &p, end, &batch);
		if (i < done)
			continue;	/* confirmed by an earlier attempt */
		if (batch.oom) {
			rc = -ENOMEM;
			break;
		}
		snprintf(what, sizeof(what), "%s %s (events batch %zu)", h->method, o->key, i + 1);
		rc = send_event(h, io, o, i, h->batch_bytes, &batch, what, err, errlen);
	}
	buf_free(&batch);
	if (rc == 0)
		log_debug(h->mod, "%s: %zu event batches (%zu sent before)", o->key, i, done);
	return rc;
}

/* ---- events mode: file events ---- */

static const char *base_name(const char *key)
{
	const char *slash = strrchr(key, '/');

	return slash ? slash + 1 : key;
}

/* The JSON body of file event PART (1..TOTAL) from the raw bytes P[0..N). */
static void file_event(struct buf *b, const struct http *h, const struct sink_object *o,
		       size_t part, size_t total, const char *p, size_t n)
{
	char *b64 = malloc(BASE64_ENC_SIZE(n));

	b->len = 0;
	if (!b64) {
		b->oom = true;
		return;
	}
	base64_encode(p, n, b64);
	buf_puts(b, "{\"fileName\":");
	buf_json_str(b, base_name(o->key));
	buf_printf(b, ",\"fileSize\":%llu,\"fileType\":", (unsigned long long)o->size);
	buf_json_str(b, h->content_type ? h->content_type : o->content_type);
	buf_printf(b, ",\"part\":%zu,\"totalParts\":%zu,\"data\":\"%s\",\"checksum\":\"%s\","
		   "\"hashType\":\"SHA256\"}", part, total, b64, o->sha256);
	free(b64);
}

static int put_file_events(const struct http *h, struct sink_io *io, int fd,
			   const struct sink_object *o, char *err, size_t errlen)
{
	size_t total = o->size ? (size_t)((o->size + EVENT_PART - 1) / EVENT_PART) : 1;
	size_t done = progress_load(o, EVENT_PART);
	char *raw = malloc(EVENT_PART), what[4200];
	struct buf body;
	int rc = 0;

	if (!raw)
		return -ENOMEM;
	buf_init(&body);
	for (size_t i = done; rc == 0 && i < total; i++) {
		uint64_t off = (uint64_t)i * EVENT_PART;
		size_t n = o->size - off < EVENT_PART ? (size_t)(o->size - off) : EVENT_PART;

		if (n && pread(fd, raw, n, (off_t)off) != (ssize_t)n) {
			snprintf(err, errlen, "%s: cannot read the spool file", o->key);
			rc = -EIO;
			break;
		}
		file_event(&body, h, o, i + 1, total, raw, n);	/* parts 1..total */
		if (body.oom) {
			rc = -ENOMEM;
			break;
		}
		snprintf(what, sizeof(what), "%s %s (file event %zu of %zu)", h->method, o->key, i + 1, total);
		rc = send_event(h, io, o, i, EVENT_PART, &body, what, err, errlen);
	}
	buf_free(&body);
	free(raw);
	if (rc == 0)
		log_debug(h->mod, "%s: %zu file events (%zu sent before)", o->key, total, done);
	return rc;
}

static int put_events(const struct http *h, struct sink_io *io, int fd, const struct sink_object *o,
		      char *err, size_t errlen)
{
	struct buf lines;
	int rc;

	buf_init(&lines);
	rc = load_json_lines(fd, o, &lines, err, errlen);
	if (rc == 0)
		rc = put_json_lines(h, io, o, &lines, err, errlen);
	else if (rc == -ENOMSG)
		rc = put_file_events(h, io, fd, o, err, errlen);
	buf_free(&lines);
	return rc;
}

static int http_put(struct sink *sink, struct sink_io *io, const struct sink_object *o, char *err,
		    size_t errlen)
{
	const struct http *h = sink->priv;
	int fd = sink_data_open(o, err, errlen);
	int rc;

	if (fd < 0)
		return fd;
	rc = check_parts(fd, o, err, errlen);
	if (rc == 0)
		rc = h->events ? put_events(h, io, fd, o, err, errlen) : put_raw(h, io, fd, o, err, errlen);
	close(fd);
	if (rc == 0)
		log_debug(h->mod, "put %s (%llu bytes)", o->key, (unsigned long long)o->size);
	return rc;
}

/* The URL every request goes to: the same for every key. */
static int http_url(const struct sink *sink, const char *key, char *out, size_t outlen)
{
	const struct http *h = sink->priv;

	return (size_t)snprintf(out, outlen, "%s", h->url) < outlen ? 0 : -ENAMETOOLONG;
}

extern const struct sink_ops http_sink_ops;

int http_callback(struct sink *sink, struct sink_io *io, const char *body, size_t len,
		  const char *idem, char *err, size_t errlen)
{
	const struct http *h = sink->priv;
	struct net_req r;
	int rc;

	if (sink->ops != &http_sink_ops) {
		snprintf(err, errlen, "sink %s is not an http sink", sink->name);
		return -EINVAL;
	}
	net_req_init(&r, "POST");
	for (size_t i = 0; i < h->nhdr; i++)
		net_header(&r, h->hdr[i].name, "%s", h->hdr[i].value);
	net_header(&r, "Idempotency-Key", "%s", idem);
	net_header(&r, "Content-Type", "application/json");
	net_body_mem(&r, body, len);
	rc = http_send(h, io, &r, "POST callback", err, errlen);
	if (rc == 0 && r.status != 200) {	/* the Hub: a 200 is success, anything else is retried */
		snprintf(err, errlen, "POST callback: HTTP %ld (a callback needs 200); retrying",
			 r.status);
		rc = -EAGAIN;
	}
	net_req_free(&r);
	return rc;
}

const struct sink_ops http_sink_ops = {
	.type = "http",
	.keys = http_keys,
	.open = http_open,
	.put = http_put,
	.close = http_close,
	.url = http_url,
};
