/*
 * backend/net.c - the HTTP request layer every network sink shares.
 *
 * See net.h.  Bodies are streamed from the spool file with pread() (no copy
 * in memory), answers are kept up to 1 MiB, and every transfer has a connect
 * timeout and a low-speed limit.  curl's own retries and redirects are off:
 * the spool's retry clock decides when to try again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "../util/base64.h"
#include "../util/log.h"
#include "net.h"

void net_opts_load(struct net_opts *o, const struct cfg_section *sec)
{
	o->ca_file = cfg_str(sec, "ca_file");
	o->connect_timeout = (long)cfg_seconds(sec, "connect_timeout");
	o->timeout = (long)cfg_seconds(sec, "timeout");
}

void net_req_init(struct net_req *r, const char *method)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->fd = -1;
	r->retry_after = -1;
	buf_init(&r->resp);
}

void net_req_free(struct net_req *r)
{
	for (size_t i = 0; i < r->nhdr; i++) {
		if (r->hdr[i].value)
			memset(r->hdr[i].value, 0, strlen(r->hdr[i].value));	/* may be a signature */
		free(r->hdr[i].name);
		free(r->hdr[i].value);
	}
	r->nhdr = 0;
	free(r->url);
	r->url = NULL;
	buf_free(&r->resp);
}

void net_url(struct net_req *r, const char *fmt, ...)
{
	va_list ap;

	free(r->url);
	va_start(ap, fmt);
	if (vasprintf(&r->url, fmt, ap) < 0) {
		r->url = NULL;
		r->oom = true;
	}
	va_end(ap);
}

void net_header(struct net_req *r, const char *name, const char *fmt, ...)
{
	struct net_header *h;
	va_list ap;

	if (r->nhdr == NET_MAX_HEADERS) {
		r->oom = true;
		return;
	}
	h = &r->hdr[r->nhdr];
	va_start(ap, fmt);
	if (vasprintf(&h->value, fmt, ap) < 0)
		h->value = NULL;
	va_end(ap);
	h->name = strdup(name);
	if (!h->name || !h->value) {
		free(h->name);
		free(h->value);
		r->oom = true;
		return;
	}
	r->nhdr++;
}

void net_body_fd(struct net_req *r, int fd, uint64_t off, uint64_t len)
{
	r->fd = fd;
	r->off = off;
	r->len = len;
}

void net_body_mem(struct net_req *r, const char *p, size_t len)
{
	r->fd = -1;
	r->body = p ? p : "";
	r->body_len = len;
}

static size_t read_cb(char *p, size_t size, size_t n, void *arg)
{
	struct net_req *r = arg;
	size_t want = size * n;
	ssize_t got;

	if (r->fd < 0) {
		if (want > r->body_len - r->sent)
			want = r->body_len - r->sent;
		memcpy(p, r->body + r->sent, want);
		r->sent += want;
		return want;
	}
	if (want > r->len - r->sent)
		want = (size_t)(r->len - r->sent);
	if (want == 0)
		return 0;
	got = pread(r->fd, p, want, (off_t)(r->off + r->sent));
	if (got <= 0)
		return CURL_READFUNC_ABORT;
	r->sent += (uint64_t)got;
	return (size_t)got;
}

/* curl rewinds the body to send it again (a followed redirect, an auth
 * round): both body kinds are random-access. */
static int seek_cb(void *arg, curl_off_t off, int origin)
{
	struct net_req *r = arg;
	uint64_t len = r->fd >= 0 ? r->len : r->body_len;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->sent = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct net_req *r = arg;

	if (r->resp.len < (1 << 20))
		buf_add(&r->resp, p, size * n);
	return size * n;
}

/* The value of header line P (LEN bytes) if it is NAME, else NULL. */
static const char *header_value(const char *p, size_t len, const char *name, int *vlen)
{
	size_t nl = strlen(name);
	const char *v;

	if (len <= nl + 1 || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
		return NULL;
	for (v = p + nl + 1; v < p + len && *v == ' '; v++)
		;
	*vlen = (int)strcspn(v, "\r\n");
	if (*vlen > (int)(p + len - v))
		*vlen = (int)(p + len - v);
	return v;
}

static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct net_req *r = arg;
	size_t len = size * n;
	const char *v;
	int vlen;

	if ((v = header_value(p, len, "etag", &vlen)))
		snprintf(r->etag, sizeof(r->etag), "%.*s", vlen, v);
	else if ((v = header_value(p, len, "retry-after", &vlen))) {
		char num[32], *end;
		long s;

		snprintf(num, sizeof(num), "%.*s", vlen, v);
		s = strtol(num, &end, 10);
		if (end != num && *end == '\0' && s >= 0)
			r->retry_after = s;	/* an HTTP date is left to the backoff */
	}
	return len;
}

static void *curl_make(void)
{
	return curl_easy_init();
}

static void curl_cleanup(void *h)
{
	curl_easy_cleanup(h);
}

const char *net_xml_get(const char *xml, const char *tag, char *out, size_t outlen,
			const char **after)
{
	char open[64], close[64];
	const char *a, *b;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = xml ? strstr(xml, open) : NULL;
	if (!a)
		return NULL;
	a += strlen(open);
	b = strstr(a, close);
	if (!b)
		return NULL;
	snprintf(out, outlen, "%.*s", (int)(b - a), a);
	if (after)
		*after = b + strlen(close);
	return out;
}

/*
 * Error codes of S3, GCS and Azure answers that a later attempt may not get:
 * the service was busy, or the body was damaged on the way (the server's
 * digest check caught it), so the same request is worth sending again.
 */
static bool code_retry(const char *code)
{
	static const char *const codes[] = {
		"SlowDown", "RequestTimeout", "InternalError", "ServerBusy", "OperationTimedOut",
		"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "Md5Mismatch",
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

/* "WHAT: HTTP 403: Code: Message", or the body's first printable bytes;
 * CODE gets the XML Code of the answer ("" if none). */
static void status_err(const struct net_req *r, const char *what, char code[128], char *err,
		       size_t errlen)
{
	char msg[400] = "", body[201];
	size_t i, n = 0;

	code[0] = '\0';
	net_xml_get(r->resp.p, "Code", code, 128, NULL);
	net_xml_get(r->resp.p, "Message", msg, sizeof(msg), NULL);
	if (code[0] || msg[0]) {
		snprintf(err, errlen, "%s: HTTP %ld%s%s%s%s", what, r->status, code[0] ? ": " : "",
			 code, msg[0] ? ": " : "", msg);
		return;
	}
	for (i = 0; i < r->resp.len && n + 1 < sizeof(body); i++) {
		unsigned char c = (unsigned char)r->resp.p[i];
		body[n++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
	}
	while (n && body[n - 1] == ' ')
		n--;
	body[n] = '\0';
	snprintf(err, errlen, "%s: HTTP %ld%s%s", what, r->status, n ? ": " : "", body);
}

static struct curl_slist *header_list(const struct net_req *r)
{
	struct curl_slist *list = NULL, *l;
	char *line;

	for (size_t i = 0; i < r->nhdr; i++) {
		if (asprintf(&line, "%s: %s", r->hdr[i].name, r->hdr[i].value) < 0)
			goto out_fail;
		l = curl_slist_append(list, line);
		memset(line, 0, strlen(line));
		free(line);
		if (!l)
			goto out_fail;
		list = l;
	}
	l = curl_slist_append(list, "Expect:");
	if (!l)
		goto out_fail;
	return l;

out_fail:
	curl_slist_free_all(list);
	return NULL;
}

int net_send(struct sink_io *io, const struct net_opts *o, struct net_req *r, const char *what,
	     char *err, size_t errlen)
{
	CURL *h = sink_io_handle(io, curl_make, curl_cleanup);
	struct curl_slist *list;
	CURLcode cc;
	int rc;

	if (!h) {
		snprintf(err, errlen, "%s: cannot create a curl handle", what);
		return -EAGAIN;
	}
	if (r->oom || !r->url || !(list = header_list(r))) {
		snprintf(err, errlen, "%s: out of memory", what);
		return -EAGAIN;
	}
	r->sent = 0;
	r->status = 0;
	r->etag[0] = '\0';
	r->retry_after = -1;
	r->resp.len = 0;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->timeout);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	if (o->follow_redirects) {
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
	}
	if (o->userpwd) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, o->userpwd);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (strcmp(r->method, "PUT") == 0 || strcmp(r->method, "POST") == 0) {
		curl_off_t len = (curl_off_t)(r->fd >= 0 ? r->len : r->body_len);
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
	}
	cc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_USERPWD, NULL);	/* keep no secret in the handle */
	curl_slist_free_all(list);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", what, curl_easy_strerror(cc));
		return -EAGAIN;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->retry_after >= 0)
		sink_io_set_retry_after(io, r->retry_after);
	rc = http_status_to_errno(r->status);
	if (rc) {
		char code[128];

		status_err(r, what, code, err, errlen);
		if (code_retry(code))
			rc = -EAGAIN;
	}
	return rc;
}

int net_part_digest(int fd, const struct sink_part *p, char md5_b64[32], char sha_b64[48],
		    char *err, size_t errlen)
{
	EVP_MD_CTX *md5 = EVP_MD_CTX_new(), *sha = EVP_MD_CTX_new();
	unsigned char dm[16], ds[32], *buf = malloc(1 << 20);
	char hex[65];
	uint64_t done = 0;
	int rc = 0;

	if (!md5 || !sha || !buf) {
		rc = -ENOMEM;
		goto out_free;
	}
	EVP_DigestInit_ex(md5, EVP_md5(), NULL);
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	while (done < p->length && (md5_b64 || !p->fresh)) {
		size_t want = p->length - done < (1 << 20) ? (size_t)(p->length - done) : (1 << 20);
		ssize_t n = pread(fd, buf, want, (off_t)(p->offset + done));
		if (n <= 0) {
			snprintf(err, errlen, "cannot read the spool file: %s", n < 0 ? "read error" : "short file");
			rc = -EIO;
			goto out_free;
		}
		EVP_DigestUpdate(md5, buf, (size_t)n);
		if (!p->fresh)
			EVP_DigestUpdate(sha, buf, (size_t)n);
		done += (uint64_t)n;
	}
	EVP_DigestFinal_ex(md5, dm, NULL);
	EVP_DigestFinal_ex(sha, ds, NULL);
	for (int i = 0; p->fresh && i < 32; i++)	/* hashed a moment ago: as it says */
		sscanf(p->sha256 + 2 * i, "%2hhx", &ds[i]);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", ds[i]);
	if (strcmp(hex, p->sha256) != 0) {
		snprintf(err, errlen, "part at %llu: SHA-256 mismatch in the spool (got %s, want %s): "
			 "not sent", (unsigned long long)p->offset, hex, p->sha256);
		rc = -EBADMSG;
		goto out_free;
	}
	if (md5_b64)
		base64_encode(dm, sizeof(dm), md5_b64);
	if (sha_b64)
		base64_encode(ds, sizeof(ds), sha_b64);
out_free:
	free(buf);
	EVP_MD_CTX_free(md5);
	EVP_MD_CTX_free(sha);
	return rc;
}

/* ---- several parts at once ---- */

struct pool {
	size_t n;
	const bool *need;
	int (*send)(void *arg, struct sink_io *io, size_t i, char *err, size_t errlen);
	void *arg;
	pthread_mutex_t lock;		/* guards next, rc and err */
	size_t next;
	int rc;
	char err[512];
};

/* Hands out M's parts until none is left or one failed, sending them over
 * IO. */
static void pool_run(struct pool *m, struct sink_io *io)
{
	for (;;) {
		char err[512] = "";
		size_t i;
		int rc;

		pthread_mutex_lock(&m->lock);
		while (m->next < m->n && m->need && !m->need[m->next])
			m->next++;
		i = m->next++;
		if (!io && !m->rc) {
			m->rc = -ENOMEM;
			snprintf(m->err, sizeof(m->err), "out of memory");
		}
		if (m->rc || i >= m->n) {
			pthread_mutex_unlock(&m->lock);
			break;
		}
		pthread_mutex_unlock(&m->lock);
		rc = m->send(m->arg, io, i, err, sizeof(err));
		if (rc) {
			pthread_mutex_lock(&m->lock);
			if (m->rc == 0) {
				m->rc = rc;
				snprintf(m->err, sizeof(m->err), "%s", err);
			}
			pthread_mutex_unlock(&m->lock);
		}
	}
}

static void *pool_thread(void *arg)
{
	struct sink_io *io = sink_io_new();

	pool_run(arg, io);
	sink_io_free(io);
	return NULL;
}

int net_parallel(struct sink_io *io, size_t n, const bool *need, int nthreads,
		 int (*send)(void *arg, struct sink_io *io, size_t i, char *err, size_t errlen),
		 void *arg, char *err, size_t errlen)
{
	struct pool m = { .n = n, .need = need, .send = send, .arg = arg };
	pthread_t t[16];
	size_t todo = 0;
	int started = 0;

	for (size_t i = 0; i < n; i++)
		todo += !need || need[i];
	if (nthreads > 16)
		nthreads = 16;
	pthread_mutex_init(&m.lock, NULL);
	for (int i = 0; todo > 1 && i < nthreads && (size_t)i < todo; i++)
		if (pthread_create(&t[started], NULL, pool_thread, &m) == 0)
			started++;
	if (started == 0)
		pool_run(&m, io);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&m.lock);
	if (m.rc)
		snprintf(err, errlen, "%s", m.err);
	return m.rc;
}

int net_parts_send(struct net_parts *p, char *err, size_t errlen)
{
	bool *ok = calloc(p->n, sizeof(*ok)), *need = calloc(p->n, sizeof(*need));
	size_t bad = 0;
	int rc = 0;

	if (!ok || !need) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < p->n; i++)
			need[i] = round == 0 ? !(p->sent && p->sent[i]) : !ok[i];
		rc = net_parallel(p->io, p->n, need, p->nthreads, p->send, p->arg, err, errlen);
		if (rc || !p->check)
			break;
		memset(ok, 0, p->n * sizeof(*ok));
		rc = p->check(p->arg, p->io, ok, err, errlen);
		if (rc == -EOPNOTSUPP) {
			log_debug(p->mod, "%s: the server cannot list %s: %s", p->key, p->what, err);
			rc = 0;
			bad = 0;
			break;
		}
		if (rc)
			break;
		bad = 0;
		for (size_t i = 0; i < p->n; i++)
			bad += !ok[i];
		if (bad == 0 || round == 1)
			break;
		log_warn(p->mod, "%s: the server lacks %zu %s: sending them again", p->key, bad, p->what);
	}
	p->missing = rc == 0 ? bad : 0;
	if (rc == 0 && bad) {
		snprintf(err, errlen, "%s: %zu %s missing after re-sending them", p->key, bad, p->what);
		rc = -EAGAIN;
	}
out_free:
	free(ok);
	free(need);
	return rc;
}
