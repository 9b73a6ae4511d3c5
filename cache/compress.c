/*
 * cache/compress.c - streaming gz / xz / bz2 / zst compression of a spool file.
 *
 * Reads IN from offset 0 to its end in 1 MiB blocks and writes the
 * compressed form to OUT: never a whole file in memory.  What is read may be
 * hashed on the way (the SHA-256 of the file as written, without a second
 * read).  One table row per kind.  Runs in the packer thread, never on a
 * writer's path.
 */
#include <bzlib.h>
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "../util/hash.h"
#include "internal.h"

#define BLOCK (1 << 20)

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The next block of IN, hashed into RAW if not NULL; bytes or -errno. */
static ssize_t read_block(int in, unsigned char *ibuf, struct sha256 *raw)
{
	ssize_t n;

	do
		n = read(in, ibuf, BLOCK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (raw && n > 0)
		sha256_update(raw, ibuf, (size_t)n);
	return n;
}

static int gz_file(int in, int out, int level, unsigned char *ibuf, unsigned char *obuf,
		   struct sha256 *raw)
{
	z_stream z;
	int rc = 0, flush;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	do {
		ssize_t n = read_block(in, ibuf, raw);
		if (n < 0) {
			rc = (int)n;
			break;
		}
		flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
		z.next_in = ibuf;
		z.avail_in = (uInt)n;
		do {
			z.next_out = obuf;
			z.avail_out = BLOCK;
			deflate(&z, flush);
			rc = write_all(out, obuf, BLOCK - z.avail_out);
		} while (rc == 0 && z.avail_out == 0);
	} while (rc == 0 && flush != Z_FINISH);
	deflateEnd(&z);
	return rc;
}

static int xz_file(int in, int out, int level, unsigned char *ibuf, unsigned char *obuf,
		   struct sha256 *raw)
{
	lzma_stream z = LZMA_STREAM_INIT;
	lzma_action action = LZMA_RUN;
	lzma_ret ret;
	int rc = 0;

	if (lzma_easy_encoder(&z, (uint32_t)level, LZMA_CHECK_CRC64) != LZMA_OK)
		return -ENOMEM;
	z.next_out = obuf;
	z.avail_out = BLOCK;
	for (;;) {
		if (z.avail_in == 0 && action == LZMA_RUN) {
			ssize_t n = read_block(in, ibuf, raw);
			if (n < 0) {
				rc = (int)n;
				break;
			}
			z.next_in = ibuf;
			z.avail_in = (size_t)n;
			if (n == 0)
				action = LZMA_FINISH;
		}
		ret = lzma_code(&z, action);
		if (z.avail_out == 0 || ret == LZMA_STREAM_END) {
			rc = write_all(out, obuf, BLOCK - z.avail_out);
			z.next_out = obuf;
			z.avail_out = BLOCK;
		}
		if (rc || ret == LZMA_STREAM_END)
			break;
		if (ret != LZMA_OK) {
			rc = ret == LZMA_MEM_ERROR ? -ENOMEM : -EIO;
			break;
		}
	}
	lzma_end(&z);
	return rc;
}

static int bz2_file(int in, int out, int level, unsigned char *ibuf, unsigned char *obuf,
		    struct sha256 *raw)
{
	bz_stream z;
	int action = BZ_RUN, ret, rc = 0;

	memset(&z, 0, sizeof(z));
	if (BZ2_bzCompressInit(&z, level, 0, 0) != BZ_OK)	/* level: 100k block size */
		return -ENOMEM;
	do {
		if (z.avail_in == 0 && action == BZ_RUN) {
			ssize_t n = read_block(in, ibuf, raw);
			if (n < 0) {
				rc = (int)n;
				break;
			}
			z.next_in = (char *)ibuf;
			z.avail_in = (unsigned)n;
			if (n == 0)
				action = BZ_FINISH;
		}
		z.next_out = (char *)obuf;
		z.avail_out = BLOCK;
		ret = BZ2_bzCompress(&z, action);
		if (ret < 0) {
			rc = ret == BZ_MEM_ERROR ? -ENOMEM : -EIO;
			break;
		}
		rc = write_all(out, obuf, BLOCK - z.avail_out);
	} while (rc == 0 && ret != BZ_STREAM_END);
	BZ2_bzCompressEnd(&z);
	return rc;
}

/* zstd with libzstd's worker threads (one per core) */
static int zst_file(int in, int out, int level, unsigned char *ibuf, unsigned char *obuf,
		    struct sha256 *raw)
{
	ZSTD_CCtx *z = ZSTD_createCCtx();
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	bool last = false;
	int rc = 0;

	if (!z)
		return -ENOMEM;
	ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
	if (cores > 1)
		ZSTD_CCtx_setParameter(z, ZSTD_c_nbWorkers, (int)(cores < 16 ? cores : 16));
	while (rc == 0 && !last) {
		ssize_t n = read_block(in, ibuf, raw);
		ZSTD_inBuffer zi = { ibuf, n > 0 ? (size_t)n : 0, 0 };
		size_t left;

		if (n < 0) {
			rc = (int)n;
			break;
		}
		last = n == 0;
		do {
			ZSTD_outBuffer zo = { obuf, BLOCK, 0 };

			left = ZSTD_compressStream2(z, &zo, &zi, last ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(left)) {
				rc = -EIO;
				break;
			}
			rc = write_all(out, obuf, zo.pos);
		} while (rc == 0 && (last ? left != 0 : zi.pos < zi.size));
	}
	ZSTD_freeCCtx(z);
	return rc;
}

static const struct compressor {
	const char *kind;		/* as in the config, and the key's suffix */
	int (*file)(int in, int out, int level, unsigned char *ibuf, unsigned char *obuf,
		    struct sha256 *raw);
} compressors[] = {
	{ "gz", gz_file },
	{ "xz", xz_file },
	{ "bz2", bz2_file },
	{ "zst", zst_file },
};

const char *const compress_kinds[] = { "gz", "xz", "bz2", "zst", NULL };

int compress_fd(int in, int out, const char *kind, int level, struct sha256 *raw)
{
	unsigned char *ibuf = malloc(BLOCK), *obuf = malloc(BLOCK);
	int rc = -EINVAL;

	if (!ibuf || !obuf) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (lseek(in, 0, SEEK_SET) < 0) {
		rc = -errno;
		goto out_free;
	}
	for (size_t i = 0; i < sizeof(compressors) / sizeof(compressors[0]); i++)
		if (strcmp(kind, compressors[i].kind) == 0)
			rc = compressors[i].file(in, out, level, ibuf, obuf, raw);
out_free:
	free(ibuf);
	free(obuf);
	return rc;
}
