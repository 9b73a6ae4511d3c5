/*
 * backend/s3.c - the s3 and gcs sinks (S3 API, Signature V4, libcurl).
 *
 * An object of one part goes as one PutObject; a larger one as a multipart
 * upload whose parts are the spool's parts.  Every part is read from the
 * spool file, checked against its SHA-256 before it is sent (a mismatch is
 * never sent) and sent with Content-MD5 and x-amz-checksum-sha256, so the
 * server checks it too.  The upload id and each part's ETag are saved in the
 * spool through o->resume: a daemon killed mid-upload resumes the same
 * upload without re-sending confirmed parts.  Before completing, ListParts
 * checks that the server has every part with its size.
 *
 * gcs is the same code through the GCS XML API with HMAC keys: endpoint
 * https://storage.googleapis.com, path-style, region "auto".
 *
 * Failures: curl errors (refused, reset, timeout), 5xx, 429, SlowDown, BadDigest ->
 * -EAGAIN; 400/403/404 and the like -> permanent, with the server's Code and
 * Message.  Secrets never reach ERR or the log.
 *
 * Threads: put() runs in several workers at once; each uses the CURL handle
 * of its own struct sink_io; struct s3 is read-only after open().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <iniparser.h>

#include "../util/buf.h"
#include "../util/hash.h"
#include "../util/log.h"
#include "net.h"
#include "sigv4.h"
#include "sink.h"

#define MIN_PART (5u << 20)	/* S3's smallest part but the last */

struct s3 {
	char *bucket, *region, *scheme_host;	/* "http://127.0.0.1:9000" */
	char *host;				/* the Host header */
	char *base;				/* URL up to the key: ".../bucket/" or "https://b.host/" */
	char *path_base;			/* path up to the key: "/bucket/" or "/" */
	const char *storage_class, *sse, *kms_key_id;
	char *access_key, *secret_key, *token;
	struct net_opts net;			/* timeouts, ca_file */
	char mod[96];				/* "s3:logs" */
};

#define S3_KEYS(region_def, endpoint_def, endpoint_help, path_style_def) \
	{ "type", CFG_STR, NULL, CFG_REQUIRED, NULL, 0, 0, "sink type" }, \
	{ "bucket", CFG_STR, NULL, CFG_REQUIRED, NULL, 0, 0, "bucket objects are written to" }, \
	{ "region", CFG_STR, region_def, 0, NULL, 0, 0, "region, part of the signature" }, \
	{ "endpoint", CFG_STR, endpoint_def, 0, NULL, 0, 0, endpoint_help }, \
	{ "path_style", CFG_BOOL, path_style_def, 0, NULL, 0, 0, \
	  "address the bucket in the path, not in the host name" }, \
	{ "storage_class", CFG_STR, NULL, 0, NULL, 0, 0, "x-amz-storage-class of new objects" }, \
	{ "sse", CFG_ENUM, NULL, 0, "AES256|aws:kms", 0, 0, "server-side encryption" }, \
	{ "kms_key_id", CFG_STR, NULL, 0, NULL, 0, 0, "KMS key for sse = aws:kms" }, \
	{ "credentials", CFG_PATH, NULL, 0, NULL, 0, 0, \
	  "AWS shared-credentials file (mode 0600); else AWS_* variables, else ~/.aws/credentials" }, \
	{ "profile", CFG_STR, "default", 0, NULL, 0, 0, "section of the credentials file" }, \
	NET_CFG_KEYS, \
	{ NULL }

static const struct cfg_key s3_keys[] = {
	S3_KEYS("us-east-1", "", "server URL; empty: https://s3.<region>.amazonaws.com", "no")
};
static const struct cfg_key gcs_keys[] = {
	S3_KEYS("auto", "https://storage.googleapis.com", "server URL (Cloud Storage's XML API)", "yes")
};

/* ---- credentials ---- */

static char *env_dup(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strdup(v) : NULL;
}

/* Reads PROFILE from an AWS shared-credentials file.  STRICT: refuse a file
 * that group or others may read. */
static int creds_file(struct s3 *s, const char *path, const char *profile, bool strict,
		      char *err, size_t errlen)
{
	char key[256];
	dictionary *d;
	int rc = sink_secret_mode("credentials", path, err, errlen);

	if (rc && (strict || rc != -EACCES))
		return rc;
	d = iniparser_load(path);
	if (!d) {
		snprintf(err, errlen, "credentials: %s: cannot read it", path);
		return -EINVAL;
	}
	snprintf(key, sizeof(key), "%s:aws_access_key_id", profile);
	s->access_key = strdup(iniparser_getstring(d, key, ""));
	snprintf(key, sizeof(key), "%s:aws_secret_access_key", profile);
	s->secret_key = strdup(iniparser_getstring(d, key, ""));
	snprintf(key, sizeof(key), "%s:aws_session_token", profile);
	if (*iniparser_getstring(d, key, ""))
		s->token = strdup(iniparser_getstring(d, key, ""));
	iniparser_freedict(d);
	if (!s->access_key || !*s->access_key || !s->secret_key || !*s->secret_key) {
		snprintf(err, errlen, "credentials: %s: no aws_access_key_id and "
			 "aws_secret_access_key in [%s]", path, profile);
		return -EINVAL;
	}
	return 0;
}

static int creds_load(struct s3 *s, const struct cfg_section *sec, char *err, size_t errlen)
{
	const char *file = cfg_str(sec, "credentials"), *home = getenv("HOME");
	char path[4096];

	if (file)
		return creds_file(s, file, cfg_str(sec, "profile"), true, err, errlen);
	s->access_key = env_dup("AWS_ACCESS_KEY_ID");
	s->secret_key = env_dup("AWS_SECRET_ACCESS_KEY");
	if (s->access_key && s->secret_key) {
		s->token = env_dup("AWS_SESSION_TOKEN");
		return 0;
	}
	free(s->access_key);
	free(s->secret_key);
	s->access_key = s->secret_key = NULL;
	snprintf(path, sizeof(path), "%s/.aws/credentials", home ? home : "/root");
	if (access(path, R_OK) == 0)
		return creds_file(s, path, cfg_str(sec, "profile"), false, err, errlen);
	snprintf(err, errlen, "no credentials: set credentials = FILE, or AWS_ACCESS_KEY_ID and "
		 "AWS_SECRET_ACCESS_KEY, or write ~/.aws/credentials");
	return -EINVAL;
}

/* ---- open / close ---- */

static void s3_free(struct s3 *s)
{
	if (!s)
		return;
	if (s->secret_key)
		memset(s->secret_key, 0, strlen(s->secret_key));
	free(s->bucket);
	free(s->region);
	free(s->scheme_host);
	free(s->host);
	free(s->base);
	free(s->path_base);
	free(s->access_key);
	free(s->secret_key);
	free(s->token);
	free(s);
}

static int endpoint_parse(struct s3 *s, const struct cfg_section *sec, char *err, size_t errlen)
{
	const char *ep = cfg_str(sec, "endpoint");
	const char *hoststart;
	char def[256];
	size_t len;

	if (!ep || !*ep) {
		snprintf(def, sizeof(def), "https://s3.%s.amazonaws.com", s->region);
		ep = def;
	}
	if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
		snprintf(err, errlen, "endpoint: '%s' is not an http:// or https:// URL", ep);
		return -EINVAL;
	}
	len = strlen(ep);
	while (len && ep[len - 1] == '/')
		len--;
	s->scheme_host = strndup(ep, len);
	hoststart = strstr(s->scheme_host, "://") + 3;
	if (!*hoststart || strchr(hoststart, '/')) {
		snprintf(err, errlen, "endpoint: '%s' must be scheme://host[:port] only", ep);
		return -EINVAL;
	}
	if (cfg_bool(sec, "path_style")) {
		s->host = strdup(hoststart);
		if (asprintf(&s->base, "%s/%s/", s->scheme_host, s->bucket) < 0 ||
		    asprintf(&s->path_base, "/%s/", s->bucket) < 0)
			return -ENOMEM;
	} else {
		if (asprintf(&s->host, "%s.%s", s->bucket, hoststart) < 0 ||
		    asprintf(&s->base, "%.*s%s/", (int)(hoststart - s->scheme_host), s->scheme_host,
			     s->host) < 0)
			return -ENOMEM;
		s->path_base = strdup("/");
	}
	return s->host && s->path_base ? 0 : -ENOMEM;
}

static int s3_open(struct sink *sink, const struct cfg_section *sec, char *err, size_t errlen)
{
	struct s3 *s = calloc(1, sizeof(*s));
	char msg[512] = "";
	int rc;

	if (!s)
		return -ENOMEM;
	snprintf(s->mod, sizeof(s->mod), "%s:%s", sink->ops->type, sink->name);
	s->bucket = strdup(cfg_str(sec, "bucket"));
	s->region = strdup(cfg_str(sec, "region"));
	s->storage_class = cfg_str(sec, "storage_class");
	s->sse = cfg_str(sec, "sse");
	s->kms_key_id = cfg_str(sec, "kms_key_id");
	net_opts_load(&s->net, sec);
	rc = !s->bucket || !s->region ? -ENOMEM : endpoint_parse(s, sec, msg, sizeof(msg));
	if (rc == 0)
		rc = creds_load(s, sec, msg, sizeof(msg));
	if (rc) {
		snprintf(err, errlen, "[sink.%s] %s", sink->name, msg[0] ? msg : "out of memory");
		s3_free(s);
		return rc;
	}
	sink->priv = s;
	log_debug(s->mod, "bucket %s at %s", s->bucket, s->scheme_host);
	return 0;
}

static void s3_close(struct sink *sink)
{
	s3_free(sink->priv);
	sink->priv = NULL;
}

/* ---- one request ---- */

/*
 * Signs R for KEY (NULL: the bucket) and QUERY (canonical, "" if none) with
 * PAYLOAD (hex SHA-256 of the body) and sends it.  0, -EAGAIN or a
 * permanent -errno with ERR; SlowDown and the like are retried.
 */
static int s3_send(struct s3 *s, struct sink_io *io, struct net_req *r, const char *key,
		   const char *query, const char *payload, char *err, size_t errlen)
{
	struct sigv4_header hdr[NET_MAX_HEADERS];
	char date[32], auth[1024], path[4200], what[4300];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(path, sizeof(path), "%s", s->path_base);
	if (key)
		sigv4_uri_encode(key, 1, path + strlen(path), sizeof(path) - strlen(path));
	net_url(r, "%.*s%s%s%s", (int)(strlen(s->base) - strlen(s->path_base)), s->base, path,
		*query ? "?" : "", query);
	net_header(r, "host", "%s", s->host);
	net_header(r, "x-amz-content-sha256", "%s", payload);
	net_header(r, "x-amz-date", "%s", date);
	if (s->token)
		net_header(r, "x-amz-security-token", "%s", s->token);
	if (r->oom)
		return -ENOMEM;
	for (size_t i = 0; i < r->nhdr; i++)
		hdr[i] = (struct sigv4_header){ r->hdr[i].name, r->hdr[i].value };
	struct sigv4_request sr = {
		.method = r->method, .path = path, .query = query, .headers = hdr, .nheaders = r->nhdr,
		.payload_sha256 = payload, .amz_date = date, .region = s->region,
		.service = "s3", .access_key = s->access_key, .secret_key = s->secret_key,
	};
	if (sigv4_sign(&sr, auth, sizeof(auth))) {
		snprintf(err, errlen, "cannot sign the request");
		return -EINVAL;
	}
	net_header(r, "authorization", "%s", auth);
	memset(auth, 0, sizeof(auth));
	snprintf(what, sizeof(what), "%s %s", r->method, key ? key : s->bucket);
	return net_send(io, &s->net, r, what, err, errlen);
}

/* ---- parts ---- */

/* Sends part IDX of O as the body of R (PutObject or UploadPart). */
static int send_part(struct s3 *s, struct sink_io *io, struct net_req *r, int fd,
		     const struct sink_object *o, size_t idx, const char *query, char *err,
		     size_t errlen)
{
	const struct sink_part *p = &o->parts[idx];
	char md5[32], sha[48];
	int rc = net_part_digest(fd, p, md5, sha, err, errlen);

	if (rc)
		return rc;
	net_body_fd(r, fd, p->offset, p->length);
	net_header(r, "content-md5", "%s", md5);
	net_header(r, "x-amz-checksum-sha256", "%s", sha);
	return s3_send(s, io, r, o->key, query, p->sha256, err, errlen);
}

static void object_headers(struct s3 *s, struct net_req *r, const struct sink_object *o)
{
	char name[160];

	net_header(r, "content-type", "%s", o->content_type);
	for (size_t i = 0; i < o->nmeta; i++) {
		snprintf(name, sizeof(name), "x-amz-meta-%s", o->meta[i].name);
		net_header(r, name, "%s", o->meta[i].value);
	}
	if (s->storage_class)
		net_header(r, "x-amz-storage-class", "%s", s->storage_class);
	if (s->sse)
		net_header(r, "x-amz-server-side-encryption", "%s", s->sse);
	if (s->kms_key_id)
		net_header(r, "x-amz-server-side-encryption-aws-kms-key-id", "%s", s->kms_key_id);
}

static int put_single(struct s3 *s, struct sink_io *io, int fd, const struct sink_object *o,
		      char *err, size_t errlen)
{
	struct net_req r;
	int rc;

	net_req_init(&r, "PUT");
	object_headers(s, &r, o);
	rc = send_part(s, io, &r, fd, o, 0, "", err, errlen);
	net_req_free(&r);
	return rc;
}

/* ---- multipart ---- */

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static int mp_create(struct s3 *s, struct sink_io *io, const struct sink_object *o, char *id,
		     size_t idlen, char *err, size_t errlen)
{
	struct net_req r;
	int rc;

	net_req_init(&r, "POST");
	object_headers(s, &r, o);
	net_header(&r, "x-amz-checksum-algorithm", "SHA256");
	net_body_mem(&r, "", 0);
	rc = s3_send(s, io, &r, o->key, "uploads=", EMPTY_SHA256, err, errlen);
	if (rc == 0 && !net_xml_get(r.resp.p, "UploadId", id, idlen, NULL)) {
		snprintf(err, errlen, "CreateMultipartUpload %s: no UploadId in the answer", o->key);
		rc = -EAGAIN;
	}
	net_req_free(&r);
	return rc;
}

static int mp_part(struct s3 *s, struct sink_io *io, int fd, const struct sink_object *o,
		   const char *id, size_t idx, char *etag, size_t etaglen, char *err, size_t errlen)
{
	char query[512], enc[400];
	struct net_req r;
	int rc;

	snprintf(query, sizeof(query), "partNumber=%zu&uploadId=%s", idx + 1,
		 sigv4_uri_encode(id, 0, enc, sizeof(enc)));
	net_req_init(&r, "PUT");
	rc = send_part(s, io, &r, fd, o, idx, query, err, errlen);
	if (rc == 0 && !r.etag[0]) {
		snprintf(err, errlen, "UploadPart %zu of %s: no ETag in the answer", idx + 1, o->key);
		rc = -EAGAIN;
	}
	if (rc == 0)
		snprintf(etag, etaglen, "%s", r.etag);
	net_req_free(&r);
	return rc;
}

/* ETags compare without their quotes, plain or as &quot; in XML. */
static bool etag_same(const char *a, const char *b)
{
	char x[128], y[128];
	const char *in[2] = { a, b };
	char *out[2] = { x, y };

	for (int k = 0; k < 2; k++) {
		size_t o = 0;
		for (const char *c = in[k]; *c && o + 1 < sizeof(x); ) {
			if (strncmp(c, "&quot;", 6) == 0)
				c += 6;
			else if (*c == '"')
				c++;
			else
				out[k][o++] = *c++;
		}
		out[k][o] = '\0';
	}
	return strcmp(x, y) == 0;
}

/* ListParts: which parts the server holds, with their sizes.  Marks in
 * OK[i] the parts whose ETag and size match what we sent. */
static int mp_check(struct s3 *s, struct sink_io *io, const struct sink_object *o, const char *id,
		    char **etags, bool *ok, char *err, size_t errlen)
{
	char query[512], enc[400], num[32], size[32], etag[128];
	const char *p;
	struct net_req r;
	int rc;

	snprintf(query, sizeof(query), "max-parts=10000&uploadId=%s", sigv4_uri_encode(id, 0, enc, sizeof(enc)));
	net_req_init(&r, "GET");
	rc = s3_send(s, io, &r, o->key, query, EMPTY_SHA256, err, errlen);
	if (r.status == 405 || r.status == 501)
		rc = -EOPNOTSUPP;
	for (p = r.resp.p; rc == 0 && p && (p = strstr(p, "<Part>")); ) {
		const char *end = strstr(p, "</Part>");
		size_t n;

		if (!end)
			break;
		if (net_xml_get(p, "PartNumber", num, sizeof(num), NULL) &&
		    net_xml_get(p, "Size", size, sizeof(size), NULL) &&
		    net_xml_get(p, "ETag", etag, sizeof(etag), NULL)) {
			n = (size_t)strtoul(num, NULL, 10);
			if (n >= 1 && n <= o->nparts && etags[n - 1] &&
			    strtoull(size, NULL, 10) == o->parts[n - 1].length &&
			    etag_same(etag, etags[n - 1]))
				ok[n - 1] = true;
		}
		p = end;
	}
	net_req_free(&r);
	return rc;
}

/* CompleteMultipartUpload; *STATUS is the server's answer (0: none). */
static int mp_complete(struct s3 *s, struct sink_io *io, const struct sink_object *o, const char *id,
		       char **etags, char *err, size_t errlen, long *status)
{
	char query[512], enc[400], hex[65], code[128];
	struct buf body;
	struct net_req r;
	int rc;

	buf_init(&body);
	buf_puts(&body, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < o->nparts; i++)
		buf_printf(&body, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1, etags[i]);
	buf_puts(&body, "</CompleteMultipartUpload>");
	if (body.oom) {
		buf_free(&body);
		return -ENOMEM;
	}
	sha256_buf_hex(body.p, body.len, hex);
	snprintf(query, sizeof(query), "uploadId=%s", sigv4_uri_encode(id, 0, enc, sizeof(enc)));
	net_req_init(&r, "POST");
	net_body_mem(&r, body.p, body.len);
	net_header(&r, "content-type", "application/xml");
	rc = s3_send(s, io, &r, o->key, query, hex, err, errlen);
	*status = r.status;
	if (rc == 0 && net_xml_get(r.resp.p, "Code", code, sizeof(code), NULL)) {
		snprintf(err, errlen, "CompleteMultipartUpload %s: %s", o->key, code);
		rc = -EAGAIN;	/* a 200 that carries an error */
		*status = 500;
	}
	net_req_free(&r);
	buf_free(&body);
	return rc;
}

/* AbortMultipartUpload, best effort: the parts of an upload given up on
 * should not linger (and cost) in the bucket. */
static void mp_abort(struct s3 *s, struct sink_io *io, const struct sink_object *o, const char *id)
{
	char query[512], enc[400], err[512];
	struct net_req r;

	snprintf(query, sizeof(query), "uploadId=%s", sigv4_uri_encode(id, 0, enc, sizeof(enc)));
	net_req_init(&r, "DELETE");
	if (s3_send(s, io, &r, o->key, query, EMPTY_SHA256, err, sizeof(err)) != 0)
		log_debug(s->mod, "%s: abort of upload %s: %s", o->key, id, err);
	net_req_free(&r);
}

/* The parts of one multipart upload go out over MP_THREADS connections at
 * once; each thread has its own curl handle. */
#define MP_THREADS 4

struct mp_send {
	struct s3 *s;
	int fd;
	const struct sink_object *o;
	const char *id;
	char **etags;			/* [nparts]; each thread fills the slots it sends */
};

static int mp_send_one(void *arg, struct sink_io *io, size_t i, char *err, size_t errlen)
{
	struct mp_send *m = arg;
	struct sink_resume *res = m->o->resume;
	char etag[128];
	int rc;

	rc = mp_part(m->s, io, m->fd, m->o, m->id, i, etag, sizeof(etag), err, errlen);
	if (rc == 0 && res)
		rc = res->save_part(res, i, etag);
	if (rc)
		return rc;
	free(m->etags[i]);
	m->etags[i] = strdup(etag);
	log_debug(m->s->mod, "%s: part %zu of %zu sent", m->o->key, i + 1, m->o->nparts);
	return m->etags[i] ? 0 : -ENOMEM;
}

static int mp_check_parts(void *arg, struct sink_io *io, bool *ok, char *err, size_t errlen)
{
	struct mp_send *m = arg;

	return mp_check(m->s, io, m->o, m->id, m->etags, ok, err, errlen);
}

/* O's parts as parts of a multipart upload, resumed from what O->resume
 * holds; completed unless EARLY (a file still being written). */
static int put_multipart(struct s3 *s, struct sink_io *io, int fd, const struct sink_object *o,
			 bool early, char *err, size_t errlen)
{
	struct sink_resume *res = o->resume;
	char id[300] = "";
	char **etags = calloc(o->nparts, sizeof(*etags));
	bool *sent = calloc(o->nparts, sizeof(*sent));
	struct mp_send m = { .s = s, .fd = fd, .o = o, .id = id, .etags = etags };
	struct net_parts np = { .n = o->nparts, .sent = sent, .nthreads = MP_THREADS,
				.send = mp_send_one, .check = early ? NULL : mp_check_parts, .io = io,
				.arg = &m, .what = "parts", .mod = s->mod, .key = o->key };
	bool resumed = false;
	long status = 0;
	int rc = 0;

	if (!etags || !sent) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (size_t i = early ? o->early_from : 0; i + !early < o->nparts; i++) {
		if (o->parts[i].length < MIN_PART) {
			snprintf(err, errlen, "parts of %llu bytes: S3 multipart needs part_size of at "
				 "least 5M in [flowfs]", (unsigned long long)o->parts[i].length);
			rc = -EINVAL;
			goto out_free;
		}
	}
	if (res && res->upload_id) {
		resumed = true;
		snprintf(id, sizeof(id), "%s", res->upload_id);
		for (size_t i = 0; i < o->nparts; i++) {
			etags[i] = res->part_ids && res->part_ids[i] ? strdup(res->part_ids[i]) : NULL;
			sent[i] = etags[i] != NULL || (early && i < o->early_from);
		}
		log_debug(s->mod, "%s: resuming upload %s", o->key, id);
	} else {
		rc = mp_create(s, io, o, id, sizeof(id), err, errlen);
		if (rc == 0 && res)
			rc = res->save_upload(res, id);
		if (rc)
			goto out_free;
	}
	rc = net_parts_send(&np, err, errlen);
	if (early)
		goto out_free;	/* the rest, and the Complete, after the last close */
	if (rc == 0)
		rc = mp_complete(s, io, o, id, etags, err, errlen, &status);
	if (rc && res && (strstr(err, "NoSuchUpload") || (resumed && status >= 400))) {
		/* The server forgot the upload, or refuses to complete one that an
		 * earlier attempt (maybe a killed daemon) left: start clean next time
		 * rather than ask forever. */
		log_warn(s->mod, "%s: upload %s cannot be completed (%s): starting over", o->key, id, err);
		mp_abort(s, io, o, id);
		res->save_upload(res, NULL);
		rc = -EAGAIN;
	}
out_free:
	for (size_t i = 0; etags && i < o->nparts; i++)
		free(etags[i]);
	free(etags);
	free(sent);
	return rc;
}

static int s3_put(struct sink *sink, struct sink_io *io, const struct sink_object *o, char *err,
		  size_t errlen)
{
	struct s3 *s = sink->priv;
	int fd = sink_data_open(o, err, errlen);
	int rc;

	if (fd < 0)
		return fd;
	rc = o->nparts == 1 && !(o->resume && o->resume->upload_id) ?
	     put_single(s, io, fd, o, err, errlen) : put_multipart(s, io, fd, o, false, err, errlen);
	close(fd);
	if (rc == 0)
		log_debug(s->mod, "put %s (%llu bytes, %zu parts)", o->key,
			  (unsigned long long)o->size, o->nparts);
	return rc;
}

static int s3_put_early(struct sink *sink, struct sink_io *io, const struct sink_object *o,
			char *err, size_t errlen)
{
	int fd = sink_data_open(o, err, errlen);
	int rc;

	if (fd < 0)
		return fd;
	rc = put_multipart(sink->priv, io, fd, o, true, err, errlen);
	close(fd);
	return rc;
}

/* s3://BUCKET/KEY, or gs://BUCKET/KEY for gcs: the key as it is. */
static int s3_url(const struct sink *sink, const char *key, char *out, size_t outlen)
{
	const struct s3 *s = sink->priv;

	return (size_t)snprintf(out, outlen, "%s://%s/%s", strcmp(sink->ops->type, "gcs") == 0 ?
				"gs" : "s3", s->bucket, key) < outlen ? 0 : -ENAMETOOLONG;
}

const struct sink_ops s3_sink_ops = {
	.type = "s3",
	.keys = s3_keys,
	.open = s3_open,
	.put = s3_put,
	.put_early = s3_put_early,
	.close = s3_close,
	.url = s3_url,
};

const struct sink_ops gcs_sink_ops = {
	.type = "gcs",
	.keys = gcs_keys,
	.open = s3_open,
	.put = s3_put,
	.put_early = s3_put_early,
	.close = s3_close,
	.url = s3_url,
};
