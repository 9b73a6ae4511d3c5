/*
 * backend/sigv4.h - AWS Signature Version 4 (S3, GCS XML API), on OpenSSL.
 *
 * The caller lists the headers it sends; sigv4_sign() returns the value of
 * the Authorization header.  Names are lower-cased and sorted here.
 */
#ifndef FLOWFS_SIGV4_H
#define FLOWFS_SIGV4_H

#include <stddef.h>

struct sigv4_header {
	const char *name;	/* any case */
	const char *value;	/* trimmed by the caller */
};

struct sigv4_request {
	const char *method;		/* "PUT" */
	const char *path;		/* already URI-encoded: "/bucket/a%20b" */
	const char *query;		/* canonical: sorted, encoded, "" if none */
	const struct sigv4_header *headers;	/* must include host and x-amz-date */
	size_t nheaders;
	const char *payload_sha256;	/* hex */
	const char *amz_date;		/* "20130524T000000Z" */
	const char *region, *service;	/* "us-east-1", "s3" */
	const char *access_key, *secret_key;
};

/* Writes "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
 * to OUT.  0, or -ENAMETOOLONG / -ENOMEM. */
int sigv4_sign(const struct sigv4_request *r, char *out, size_t outlen);

/* URI-encodes S as SigV4 wants (unreserved A-Z a-z 0-9 - _ . ~ kept;
 * '/' kept when KEEP_SLASH).  Returns OUT. */
char *sigv4_uri_encode(const char *s, int keep_slash, char *out, size_t outlen);

#endif
