/*
 * backend/azure.c - the azure sink (Azure Blob Storage REST API, libcurl).
 *
 * An object of one part goes as one Put Blob; a larger one as block blob:
 * one Put Block per spool part, sent over several connections at once, then
 * Put Block List.  Every part is read from the spool file and checked
 * against its SHA-256 before it is sent (a mismatch is never sent), and
 * goes with Content-MD5 so the server checks it too.  Block ids are fixed
 * width and derived from the spool object id and the part index, so a
 * retry names the same blocks.  A marker ("blocks") and each confirmed
 * block id are saved in the spool through o->resume: a daemon killed
 * mid-upload resumes without re-sending blocks the server confirmed.
 * Before Put Block List, Get Block List checks that the server holds every
 * uncommitted block with its size; missing ones are sent again, once.
 *
 * Requests are signed with Shared Key (HMAC-SHA256 with the account key,
 * see azure.h), or carry a SAS token in their query instead.  The endpoint
 * may carry a path (Azurite: http://127.0.0.1:10000/devstoreaccount1).
 *
 * Failures: curl errors, 5xx, 429, ServerBusy, Md5Mismatch, InternalError,
 * OperationTimedOut -> -EAGAIN; 403 and other 4xx -> permanent, with the
 * server's Code and Message.  The key and the SAS token never reach ERR or
 * the log: the text passed to net_send() has no query.
 *
 * Threads: put() runs in several workers at once; each uses the CURL handle
 * of its own struct sink_io; struct azure is read-only after open().
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../util/base64.h"
#include "../util/buf.h"
#include "../util/log.h"
#include "azure.h"
#include "net.h"
#include "sigv4.h"
#include "sink.h"

#define AZ_VERSION	"2021-08-06"	/* x-ms-version; Azurite 3.x accepts it */
#define AZ_MAX_KEY	128		/* bytes of a decoded account key */
#define AZ_THREADS	4		/* connections for the blocks of one blob */
#define AZ_MAX_SIGN	64		/* headers or parameters in one signature */

struct azure {
	char *account, *container;
	char *origin;			/* "http://127.0.0.1:10000" */
	char *path_base;		/* URL path up to the blob: "/devstoreaccount1/cont/" */
	unsigned char key[AZ_MAX_KEY];	/* decoded Shared Key; keylen 0 with a SAS */
	size_t keylen;
	char *sas;			/* SAS token without '?', or NULL */
	const char *access_tier;	/* x-ms-access-tier, or NULL */
	struct net_opts net;		/* timeouts, ca_file */
	char mod[96];			/* "azure:archive" */
};

static const struct cfg_key azure_keys[] = {
	{ "type", CFG_STR, NULL, CFG_REQUIRED, NULL, 0, 0, "sink type" },
	{ "account", CFG_STR, NULL, CFG_REQUIRED, NULL, 0, 0, "storage account name" },
	{ "container", CFG_STR, NULL, CFG_REQUIRED, NULL, 0, 0, "container blobs are written to" },
	{ "key_file", CFG_PATH, NULL, 0, NULL, 0, 0,
	  "file holding the base64 account key (mode 0600); or sas_file" },
	{ "sas_file", CFG_PATH, NULL, 0, NULL, 0, 0,
	  "file holding a SAS token (mode 0600), used instead of key_file" },
	{ "endpoint", CFG_STR, "", 0, NULL, 0, 0,
	  "server URL, may end in a path; empty: https://<account>.blob.core.windows.net" },
	{ "access_tier", CFG_ENUM, NULL, 0, "Hot|Cool|Cold|Archive", 0, 0,
	  "x-ms-access-tier of new blobs" },
	NET_CFG_KEYS,
	{ NULL }
};

/* ---- Shared Key ---- */

int azure_b64_decode(const char *s, unsigned char *out, size_t outlen)
{
	size_t len = strlen(s), n = 0;
	unsigned char tmp[2 * AZ_MAX_KEY];
	int rc = len / 4 * 3 + 3 > sizeof(tmp) ? -EINVAL : base64_decode(s, len, tmp, &n);

	if (rc == 0 && (n == 0 || n > outlen))
		rc = -EINVAL;
	if (rc == 0)
		memcpy(out, tmp, n);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return rc ? rc : (int)n;
}

static int hdr_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct azure_hdr *)a)->name, ((const struct azure_hdr *)b)->name);
}

static int param_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct azure_param *)a)->name, ((const struct azure_param *)b)->name);
}

/* The value of standard header NAME in R, "" if absent. */
static const char *std_header(const struct azure_sign_req *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return "";
}

static void put_lower(struct buf *out, const char *s)
{
	for (; *s; s++) {
		char c = (char)tolower((unsigned char)*s);
		buf_add(out, &c, 1);
	}
}

/* "x-ms-date:...\n" for each x-ms-* header, sorted by name. */
static int canonical_headers(const struct azure_sign_req *r, struct buf *out)
{
	struct azure_hdr h[AZ_MAX_SIGN];
	size_t n = 0;

	for (size_t i = 0; i < r->nheaders; i++) {
		if (strncasecmp(r->headers[i].name, "x-ms-", 5) != 0)
			continue;
		if (n == AZ_MAX_SIGN)
			return -E2BIG;
		h[n++] = r->headers[i];
	}
	qsort(h, n, sizeof(*h), hdr_cmp);
	for (size_t i = 0; i < n; i++) {
		const char *v = h[i].value;
		size_t len = strlen(v);

		while (*v == ' ')
			v++, len--;
		while (len && v[len - 1] == ' ')
			len--;
		put_lower(out, h[i].name);
		buf_printf(out, ":%.*s\n", (int)len, v);
	}
	return 0;
}

/* "/account/path" then "\nname:value" per parameter, sorted, names lower. */
static int canonical_resource(const struct azure_sign_req *r, struct buf *out)
{
	struct azure_param p[AZ_MAX_SIGN];

	if (r->nparams > AZ_MAX_SIGN)
		return -E2BIG;
	if (r->nparams) {
		memcpy(p, r->params, r->nparams * sizeof(*p));
		qsort(p, r->nparams, sizeof(*p), param_cmp);
	}
	buf_printf(out, "/%s%s", r->account, r->path);
	for (size_t i = 0; i < r->nparams; i++) {
		if (i > 0 && strcasecmp(p[i].name, p[i - 1].name) == 0) {
			buf_printf(out, ",%s", p[i].value);
			continue;
		}
		buf_puts(out, "\n");
		put_lower(out, p[i].name);
		buf_printf(out, ":%s", p[i].value);
	}
	return 0;
}

int azure_string_to_sign(const struct azure_sign_req *r, struct buf *out)
{
	static const char *const std[] = {
		"content-encoding", "content-language", NULL /* content-length */, "content-md5",
		"content-type", "date", "if-modified-since", "if-match", "if-none-match",
		"if-unmodified-since", "range",
	};
	int rc;

	buf_printf(out, "%s\n", r->method);
	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
		if (!std[i] && r->content_length)
			buf_printf(out, "%" PRIu64 "\n", r->content_length);
		else
			buf_printf(out, "%s\n", std[i] ? std_header(r, std[i]) : "");
	}
	rc = canonical_headers(r, out);
	if (rc == 0)
		rc = canonical_resource(r, out);
	return rc ? rc : out->oom ? -ENOMEM : 0;
}

int azure_sign(const struct azure_sign_req *r, const unsigned char *key, size_t keylen,
	       char *out, size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	char sig[64];
	unsigned int maclen = 0;
	struct buf sts;
	int rc, n;

	buf_init(&sts);
	rc = azure_string_to_sign(r, &sts);
	if (rc)
		goto out_free_sts;
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)sts.p, sts.len, mac,
		  &maclen)) {
		rc = -ENOMEM;
		goto out_free_sts;
	}
	base64_encode(mac, maclen, sig);
	n = snprintf(out, outlen, "SharedKey %s:%s", r->account, sig);
	if (n < 0 || (size_t)n >= outlen)
		rc = -ENAMETOOLONG;
	OPENSSL_cleanse(mac, sizeof(mac));
out_free_sts:
	buf_free(&sts);
	return rc;
}

/* ---- secrets ---- */

static int secrets_load(struct azure *a, const struct cfg_section *sec, char *err, size_t errlen)
{
	const char *key_file = cfg_str(sec, "key_file"), *sas_file = cfg_str(sec, "sas_file");
	char text[4096];
	const char *t = text;
	int rc, n;

	if (!key_file == !sas_file) {
		snprintf(err, errlen, "set exactly one of key_file and sas_file");
		return -EINVAL;
	}
	rc = sink_secret_line(key_file ? "key_file" : "sas_file", key_file ? key_file : sas_file,
			      text, sizeof(text), err, errlen);
	if (rc)
		goto out_wipe;
	if (sas_file) {
		while (*t == '?' || *t == ' ')
			t++;
		a->sas = strdup(t);
		rc = a->sas ? 0 : -ENOMEM;
		goto out_wipe;
	}
	n = azure_b64_decode(text, a->key, sizeof(a->key));
	if (n <= 0) {
		snprintf(err, errlen, "key_file: %s does not hold a base64 account key", key_file);
		rc = -EINVAL;
		goto out_wipe;
	}
	a->keylen = (size_t)n;
out_wipe:
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

/* ---- open / close ---- */

static void azure_free(struct azure *a)
{
	if (!a)
		return;
	OPENSSL_cleanse(a->key, sizeof(a->key));
	if (a->sas)
		OPENSSL_cleanse(a->sas, strlen(a->sas));
	free(a->account);
	free(a->container);
	free(a->origin);
	free(a->path_base);
	free(a->sas);
	free(a);
}

/* Splits the endpoint into origin and path; path_base adds the container. */
static int endpoint_parse(struct azure *a, const struct cfg_section *sec, char *err, size_t errlen)
{
	const char *ep = cfg_str(sec, "endpoint"), *path;
	char def[256];
	size_t len;

	if (!ep || !*ep) {
		snprintf(def, sizeof(def), "https://%s.blob.core.windows.net", a->account);
		ep = def;
	}
	if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
		snprintf(err, errlen, "endpoint: '%s' is not an http:// or https:// URL", ep);
		return -EINVAL;
	}
	if (strpbrk(ep, "?#")) {
		snprintf(err, errlen, "endpoint: '%s' must have no query (put a SAS in sas_file)", ep);
		return -EINVAL;
	}
	len = strlen(ep);
	while (len && ep[len - 1] == '/')
		len--;
	path = strchr(strstr(ep, "://") + 3, '/');
	if (!path || path > ep + len)
		path = ep + len;
	if (path == strstr(ep, "://") + 3) {
		snprintf(err, errlen, "endpoint: '%s' has no host", ep);
		return -EINVAL;
	}
	a->origin = strndup(ep, (size_t)(path - ep));
	if (!a->origin || asprintf(&a->path_base, "%.*s/%s/", (int)(ep + len - path), path,
				   a->container) < 0)
		return -ENOMEM;
	return 0;
}

static int azure_open(struct sink *sink, const struct cfg_section *sec, char *err, size_t errlen)
{
	struct azure *a = calloc(1, sizeof(*a));
	char msg[512] = "";
	int rc;

	if (!a)
		return -ENOMEM;
	snprintf(a->mod, sizeof(a->mod), "%s:%s", sink->ops->type, sink->name);
	a->account = strdup(cfg_str(sec, "account"));
	a->container = strdup(cfg_str(sec, "container"));
	a->access_tier = cfg_str(sec, "access_tier");
	net_opts_load(&a->net, sec);
	rc = !a->account || !a->container ? -ENOMEM : 0;
	if (rc == 0 && (!*a->container || strchr(a->container, '/'))) {
		snprintf(msg, sizeof(msg), "container: '%s' is not a container name", a->container);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = endpoint_parse(a, sec, msg, sizeof(msg));
	if (rc == 0)
		rc = secrets_load(a, sec, msg, sizeof(msg));
	if (rc) {
		snprintf(err, errlen, "[sink.%s] %s", sink->name, msg[0] ? msg : "out of memory");
		azure_free(a);
		return rc;
	}
	sink->priv = a;
	log_debug(a->mod, "container %s at %s%s (%s)", a->container, a->origin, a->path_base,
		  a->sas ? "SAS" : "Shared Key");
	return 0;
}

static void azure_close(struct sink *sink)
{
	azure_free(sink->priv);
	sink->priv = NULL;
}

/* ---- one request ---- */

/* RFC 1123 date in GMT, independent of the locale. */
static void http_date(char *out, size_t outlen)
{
	static const char *const day[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d GMT", day[tm.tm_wday], tm.tm_mday,
		 mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The URL of KEY (NULL: the container) with parameters P, into R. */
static int request_url(struct azure *a, struct net_req *r, const char *key,
		       const struct azure_param *p, size_t np, char *path, size_t pathlen)
{
	struct buf q;
	char enc[512];

	snprintf(path, pathlen, "%s", a->path_base);
	if (key)
		sigv4_uri_encode(key, 1, path + strlen(path), pathlen - strlen(path));
	else
		path[strlen(path) - 1] = '\0';	/* the container has no trailing '/' */
	buf_init(&q);
	for (size_t i = 0; i < np; i++)
		buf_printf(&q, "%s%s=%s", i ? "&" : "", p[i].name,
			   sigv4_uri_encode(p[i].value, 0, enc, sizeof(enc)));
	if (a->sas)
		buf_printf(&q, "%s%s", np ? "&" : "", a->sas);
	buf_add(&q, "", 1);
	if (!q.oom)
		net_url(r, "%s%s%s%s", a->origin, path, q.p[0] ? "?" : "", q.p);
	if (q.p)
		OPENSSL_cleanse(q.p, q.len);
	buf_free(&q);
	return q.oom || r->oom ? -ENOMEM : 0;
}

/*
 * Adds x-ms-date and x-ms-version, signs R (unless a SAS does it) and sends
 * it to KEY (NULL: the container) with parameters P.  WHAT names the
 * request in ERR.  0, -EAGAIN or a permanent -errno with ERR.
 */
static int azure_send(struct azure *a, struct sink_io *io, struct net_req *r, const char *key,
		      const struct azure_param *p, size_t np, const char *what, char *err,
		      size_t errlen)
{
	struct azure_hdr hdr[NET_MAX_HEADERS];
	char date[64], auth[256], path[4200];
	int rc;

	http_date(date, sizeof(date));
	net_header(r, "x-ms-date", "%s", date);
	net_header(r, "x-ms-version", "%s", AZ_VERSION);
	rc = request_url(a, r, key, p, np, path, sizeof(path));
	if (rc)
		return rc;
	if (!a->sas) {
		for (size_t i = 0; i < r->nhdr; i++)
			hdr[i] = (struct azure_hdr){ r->hdr[i].name, r->hdr[i].value };
		struct azure_sign_req sr = {
			.method = r->method, .account = a->account, .path = path,
			.params = p, .nparams = np, .headers = hdr, .nheaders = r->nhdr,
			.content_length = r->fd >= 0 ? r->len : r->body_len,
		};
		if (azure_sign(&sr, a->key, a->keylen, auth, sizeof(auth))) {
			snprintf(err, errlen, "%s: cannot sign the request", what);
			return -EINVAL;
		}
		net_header(r, "authorization", "%s", auth);
		OPENSSL_cleanse(auth, sizeof(auth));
	}
	return net_send(io, &a->net, r, what, err, errlen);
}

/* ---- blobs ---- */

/* Content type, metadata and tier of the blob being written. */
static void blob_headers(struct azure *a, struct net_req *r, const struct sink_object *o)
{
	char name[160];

	net_header(r, "x-ms-blob-content-type", "%s", o->content_type);
	for (size_t i = 0; i < o->nmeta; i++) {
		snprintf(name, sizeof(name), "x-ms-meta-%s", o->meta[i].name);
		net_header(r, name, "%s", o->meta[i].value);
	}
	if (a->access_tier)
		net_header(r, "x-ms-access-tier", "%s", a->access_tier);
}

/* Checks part IDX of O and makes it the body of R, with its Content-MD5. */
static int part_body(struct net_req *r, int fd, const struct sink_object *o, size_t idx,
		     char *err, size_t errlen)
{
	const struct sink_part *p = &o->parts[idx];
	char md5[32];
	int rc = net_part_digest(fd, p, md5, NULL, err, errlen);

	if (rc)
		return rc;
	net_body_fd(r, fd, p->offset, p->length);
	net_header(r, "content-md5", "%s", md5);
	return 0;
}

static int put_blob(struct azure *a, struct sink_io *io, int fd, const struct sink_object *o,
		    char *err, size_t errlen)
{
	char what[4200];
	struct net_req r;
	int rc;

	snprintf(what, sizeof(what), "Put Blob %s", o->key);
	net_req_init(&r, "PUT");
	rc = part_body(&r, fd, o, 0, err, errlen);
	if (rc == 0) {
		net_header(&r, "x-ms-blob-type", "BlockBlob");
		blob_headers(a, &r, o);
		rc = azure_send(a, io, &r, o->key, NULL, 0, what, err, errlen);
	}
	net_req_free(&r);
	return rc;
}

/* ---- block blobs ---- */

/* The block id of part IDX of O: base64 of 24 fixed-width characters
 * (no padding, same length for every block of the blob). */
static void block_id(const struct sink_object *o, size_t idx, char out[40])
{
	char raw[32];

	snprintf(raw, sizeof(raw), "ff%016" PRIx64 "b%05zu", (uint64_t)o->id, idx % 100000);
	base64_encode(raw, 24, out);
}

struct blocks {
	struct azure *a;
	int fd;
	const struct sink_object *o;
};

static int put_block(void *arg, struct sink_io *io, size_t i, char *err, size_t errlen)
{
	struct blocks *b = arg;
	struct sink_resume *res = b->o->resume;
	char id[40], what[4200];
	struct net_req r;
	int rc;

	block_id(b->o, i, id);
	struct azure_param p[] = { { "comp", "block" }, { "blockid", id } };
	snprintf(what, sizeof(what), "Put Block %zu of %s", i + 1, b->o->key);
	net_req_init(&r, "PUT");
	rc = part_body(&r, b->fd, b->o, i, err, errlen);
	if (rc == 0)
		rc = azure_send(b->a, io, &r, b->o->key, p, 2, what, err, errlen);
	net_req_free(&r);
	if (rc == 0)
		rc = res->save_part(res, i, id);
	if (rc == 0)
		log_debug(b->a->mod, "%s: block %zu of %zu sent", b->o->key, i + 1, b->o->nparts);
	return rc;
}

/* Get Block List: marks in OK[i] the uncommitted blocks the server holds
 * under our id with the part's size.  No blob and no blocks (404) is an
 * empty list. */
static int blocks_check(struct azure *a, struct sink_io *io, const struct sink_object *o,
			bool *ok, char *err, size_t errlen)
{
	struct azure_param p[] = { { "comp", "blocklist" }, { "blocklisttype", "uncommitted" } };
	char what[4200], name[128], size[32], id[40];
	const char *x;
	struct net_req r;
	int rc;

	snprintf(what, sizeof(what), "Get Block List %s", o->key);
	net_req_init(&r, "GET");
	rc = azure_send(a, io, &r, o->key, p, 2, what, err, errlen);
	if (rc && r.status == 404) {
		log_debug(a->mod, "%s: %s", o->key, err);
		rc = 0;
	}
	x = rc == 0 && r.resp.p ? strstr(r.resp.p, "<UncommittedBlocks>") : NULL;
	while (x && (x = strstr(x, "<Block>"))) {
		const char *end = strstr(x, "</Block>");

		if (!end)
			break;
		if (net_xml_get(x, "Name", name, sizeof(name), NULL) &&
		    net_xml_get(x, "Size", size, sizeof(size), NULL)) {
			for (size_t i = 0; i < o->nparts; i++) {
				block_id(o, i, id);
				if (strcmp(id, name) == 0 &&
				    strtoull(size, NULL, 10) == o->parts[i].length)
					ok[i] = true;
			}
		}
		x = end;
	}
	net_req_free(&r);
	return rc;
}

static int blocks_commit(struct azure *a, struct sink_io *io, const struct sink_object *o,
			 char *err, size_t errlen)
{
	struct azure_param p[] = { { "comp", "blocklist" } };
	char what[4200], id[40];
	struct buf body;
	struct net_req r;
	int rc;

	buf_init(&body);
	buf_puts(&body, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
	for (size_t i = 0; i < o->nparts; i++) {
		block_id(o, i, id);
		buf_printf(&body, "<Latest>%s</Latest>", id);
	}
	buf_puts(&body, "</BlockList>");
	if (body.oom) {
		buf_free(&body);
		return -ENOMEM;
	}
	snprintf(what, sizeof(what), "Put Block List %s", o->key);
	net_req_init(&r, "PUT");
	net_body_mem(&r, body.p, body.len);
	blob_headers(a, &r, o);
	rc = azure_send(a, io, &r, o->key, p, 1, what, err, errlen);
	net_req_free(&r);
	buf_free(&body);
	return rc;
}

static int blocks_check_parts(void *arg, struct sink_io *io, bool *ok, char *err, size_t errlen)
{
	struct blocks *b = arg;

	return blocks_check(b->a, io, b->o, ok, err, errlen);
}

/* O's parts as blocks, resumed from what O->resume holds; committed unless
 * EARLY (a file still being written). */
static int put_blocks(struct azure *a, struct sink_io *io, int fd, const struct sink_object *o,
		      bool early, char *err, size_t errlen)
{
	struct sink_resume *res = o->resume;
	struct blocks b = { .a = a, .fd = fd, .o = o };
	bool *sent = calloc(o->nparts, sizeof(*sent));
	struct net_parts np = { .n = o->nparts, .sent = sent, .nthreads = AZ_THREADS,
				.send = put_block, .check = early ? NULL : blocks_check_parts, .io = io,
				.arg = &b, .what = "blocks", .mod = a->mod, .key = o->key };
	size_t saved = 0;
	int rc = 0;

	if (!sent) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (o->nparts > 50000) {
		snprintf(err, errlen, "%s: %zu parts: a block blob has at most 50000 blocks "
			 "(raise part_size in [flowfs])", o->key, o->nparts);
		rc = -EFBIG;
		goto out_free;
	}
	if (res->upload_id) {
		for (size_t i = 0; i < o->nparts; i++) {
			saved += sent[i] = res->part_ids && res->part_ids[i];
			sent[i] = sent[i] || (early && i < o->early_from);
		}
		if (!early)
			log_info(a->mod, "%s: resuming a block upload: %zu of %zu blocks confirmed "
				 "before", o->key, saved, o->nparts);
	} else {
		rc = res->save_upload(res, "blocks");
		if (rc)
			goto out_free;
	}
	rc = net_parts_send(&np, err, errlen);
	if (np.missing)
		res->save_upload(res, NULL);	/* start clean next time */
	if (rc == 0 && !early)	/* early: the Put Block List after the last close */
		rc = blocks_commit(a, io, o, err, errlen);
out_free:
	free(sent);
	return rc;
}

static int azure_put(struct sink *sink, struct sink_io *io, const struct sink_object *o, char *err,
		     size_t errlen)
{
	struct azure *a = sink->priv;
	int fd = sink_data_open(o, err, errlen);
	int rc;

	if (fd < 0)
		return fd;
	rc = o->nparts == 1 && !o->resume->upload_id ? put_blob(a, io, fd, o, err, errlen)
						     : put_blocks(a, io, fd, o, false, err, errlen);
	close(fd);
	if (rc == 0)
		log_debug(a->mod, "put %s (%llu bytes, %zu parts)", o->key,
			  (unsigned long long)o->size, o->nparts);
	return rc;
}

static int azure_put_early(struct sink *sink, struct sink_io *io, const struct sink_object *o,
			   char *err, size_t errlen)
{
	int fd = sink_data_open(o, err, errlen);
	int rc;

	if (fd < 0)
		return fd;
	rc = put_blocks(sink->priv, io, fd, o, true, err, errlen);
	close(fd);
	return rc;
}

/* The blob's URL as requests use it: https://ACCOUNT.blob.core.windows.net/
 * CONTAINER/KEY, or under the configured endpoint (Azurite:
 * http://127.0.0.1:10000/devstoreaccount1/CONTAINER/KEY); never a SAS. */
static int azure_url(const struct sink *sink, const char *key, char *out, size_t outlen)
{
	const struct azure *a = sink->priv;
	size_t n = (size_t)snprintf(out, outlen, "%s%s", a->origin, a->path_base);

	if (n >= outlen || !sigv4_uri_encode(key, 1, out + n, outlen - n))
		return -ENAMETOOLONG;
	return 0;
}

const struct sink_ops azure_sink_ops = {
	.type = "azure",
	.keys = azure_keys,
	.open = azure_open,
	.put_early = azure_put_early,
	.put = azure_put,
	.close = azure_close,
	.url = azure_url,
};
