/*
 * util/hash.c - SHA-256 over files and byte ranges, on OpenSSL's EVP.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hash.h"

struct sha256 {
	EVP_MD_CTX *ctx;
};

struct sha256 *sha256_new(void)
{
	struct sha256 *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		sha256_free(h);
		return NULL;
	}
	return h;
}

void sha256_update(struct sha256 *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
}

static void to_hex(const unsigned char *d, unsigned n, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (unsigned i = 0; i < n; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[2 * n] = '\0';
}

void sha256_final_hex(struct sha256 *h, char hex[65])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_DigestFinal_ex(h->ctx, d, &n);
	to_hex(d, n, hex);
	EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void sha256_free(struct sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int sha256_fd_range(int fd, uint64_t off, uint64_t len, char hex[65])
{
	struct sha256 *h = sha256_new();
	size_t bufsz = 256 * 1024;
	char *buf = malloc(bufsz);
	int rc = 0;

	if (!h || !buf) {
		rc = -ENOMEM;
		goto out_free;
	}
	while (len > 0) {
		size_t want = len < bufsz ? (size_t)len : bufsz;
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out_free;
		}
		if (n == 0) {
			rc = -EIO;
			goto out_free;
		}
		sha256_update(h, buf, (size_t)n);
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	sha256_final_hex(h, hex);
out_free:
	free(buf);
	sha256_free(h);
	return rc;
}

void sha256_buf_hex(const void *p, size_t n, char hex[65])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	EVP_Digest(p, n, d, &len, EVP_sha256(), NULL);
	to_hex(d, len, hex);
}
