/*
 * backend/azure.h - Azure Storage Shared Key signing for the azure sink.
 *
 * The azure sink (azure.c) signs each request with the account's key: an
 * HMAC-SHA256 over a canonical string made of the verb, the standard
 * headers in a fixed order, the x-ms-* headers sorted, and the resource
 * (/account/path plus the sorted query parameters).  These functions are
 * exported only so that tests/unit/test_azure.c can check them; they have
 * no state and are safe from any thread.
 */
#ifndef FLOWFS_AZURE_H
#define FLOWFS_AZURE_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"

struct azure_param {
	const char *name;	/* "comp" */
	const char *value;	/* decoded: "block" */
};

struct azure_hdr {
	const char *name;	/* any case; x-ms-* go to the canonical headers */
	const char *value;
};

struct azure_sign_req {
	const char *method;		/* "PUT" */
	const char *account;		/* "devstoreaccount1" */
	const char *path;		/* the URL's path, as sent: "/acct/cont/a%20b" */
	const struct azure_param *params;
	size_t nparams;
	const struct azure_hdr *headers;	/* content-md5, content-type, x-ms-*, ... */
	size_t nheaders;
	uint64_t content_length;	/* 0: the Content-Length line stays empty */
};

/* Appends the Shared Key string-to-sign of R to OUT.  0 or -ENOMEM
 * (or -E2BIG with more than 64 headers or parameters). */
int azure_string_to_sign(const struct azure_sign_req *r, struct buf *out);

/* Writes "SharedKey ACCOUNT:SIGNATURE" to OUT, signing R with KEY (the
 * decoded account key, KEYLEN bytes).  0, -ENOMEM or -ENAMETOOLONG. */
int azure_sign(const struct azure_sign_req *r, const unsigned char *key, size_t keylen,
	       char *out, size_t outlen);

/* Decodes base64 S (whitespace around it ignored) into OUT.  Returns the
 * number of bytes, or -EINVAL if S is not base64 or does not fit. */
int azure_b64_decode(const char *s, unsigned char *out, size_t outlen);

#endif
