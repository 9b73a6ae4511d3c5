/*
 * util/hash.h - SHA-256 over files and byte ranges (OpenSSL EVP underneath).
 *
 * Callers see no OpenSSL type.  Thread-safe: no shared state.
 */
#ifndef FLOWFS_HASH_H
#define FLOWFS_HASH_H

#include <stddef.h>
#include <stdint.h>

struct sha256;	/* an incremental context */

struct sha256 *sha256_new(void);
void sha256_update(struct sha256 *h, const void *p, size_t n);
/* Writes 64 hex characters and a NUL to HEX, then resets H for reuse. */
void sha256_final_hex(struct sha256 *h, char hex[65]);
void sha256_free(struct sha256 *h);	/* NULL-safe */

/* Hash of LEN bytes of FD from OFF (pread, no seek).  0, -EIO if the file is
 * shorter than OFF+LEN, or -errno. */
int sha256_fd_range(int fd, uint64_t off, uint64_t len, char hex[65]);
void sha256_buf_hex(const void *p, size_t n, char hex[65]);

#endif
