/*
 * backend/sigv4.c - AWS Signature Version 4 on OpenSSL HMAC / SHA-256.
 *
 * canonical request = method \n path \n query \n headers \n signed \n payload
 * string to sign    = AWS4-HMAC-SHA256 \n date \n scope \n hex(sha256(CR))
 * signing key       = HMAC chain "AWS4"+secret -> date -> region -> service
 *                     -> "aws4_request"
 * Nothing here is secret-safe to log: callers never log the output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../util/buf.h"
#include "../util/hash.h"
#include "sigv4.h"

char *sigv4_uri_encode(const char *s, int keep_slash, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < outlen; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/')) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return out;
}

static void hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &n);
}

static int cmp_header(const void *a, const void *b)
{
	return strcasecmp(((const struct sigv4_header *)a)->name,
			  ((const struct sigv4_header *)b)->name);
}

/* "name:value\n" lines and "a;b;c", both lower-case and sorted. */
static int canonical_headers(const struct sigv4_request *r, struct buf *lines, struct buf *names)
{
	struct sigv4_header *h = calloc(r->nheaders ? r->nheaders : 1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	memcpy(h, r->headers, r->nheaders * sizeof(*h));
	qsort(h, r->nheaders, sizeof(*h), cmp_header);
	for (size_t i = 0; i < r->nheaders; i++) {
		for (const char *c = h[i].name; *c; c++) {
			char lc = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
			buf_add(lines, &lc, 1);
			buf_add(names, &lc, 1);
		}
		buf_printf(lines, ":%s\n", h[i].value);
		if (i + 1 < r->nheaders)
			buf_puts(names, ";");
	}
	free(h);
	return 0;
}

int sigv4_sign(const struct sigv4_request *r, char *out, size_t outlen)
{
	struct buf cr, lines, names, sts;
	unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
	char date[9], cr_hash[65], scope[128], key[256], sighex[65];
	int rc, n;

	buf_init(&cr);
	buf_init(&lines);
	buf_init(&names);
	buf_init(&sts);
	rc = canonical_headers(r, &lines, &names);
	if (rc)
		goto out_free;
	buf_printf(&cr, "%s\n%s\n%s\n%s\n%s\n%s", r->method, r->path, r->query ? r->query : "",
		   lines.p ? lines.p : "", names.p ? names.p : "", r->payload_sha256);
	if (cr.oom || lines.oom || names.oom) {
		rc = -ENOMEM;
		goto out_free;
	}
	sha256_buf_hex(cr.p, cr.len, cr_hash);
	snprintf(date, sizeof(date), "%.8s", r->amz_date);
	snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, r->region, r->service);
	buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", r->amz_date, scope, cr_hash);
	snprintf(key, sizeof(key), "AWS4%s", r->secret_key);
	hmac(key, strlen(key), date, k1);
	hmac(k1, 32, r->region, k2);
	hmac(k2, 32, r->service, k3);
	hmac(k3, 32, "aws4_request", k4);
	hmac(k4, 32, sts.p, sig);
	for (int i = 0; i < 32; i++)
		snprintf(sighex + 2 * i, 3, "%02x", sig[i]);
	n = snprintf(out, outlen, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		     r->access_key, scope, names.p, sighex);
	rc = n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
	memset(key, 0, sizeof(key));
	memset(k1, 0, sizeof(k1));
out_free:
	buf_free(&cr);
	buf_free(&lines);
	buf_free(&names);
	buf_free(&sts);
	return rc;
}
