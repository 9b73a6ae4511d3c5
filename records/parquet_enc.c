/*
 * records/parquet_enc.c - RLE / bit-packed hybrid, boolean bit-packing and
 * page compression (see parquet_enc.h and Parquet's Encodings.md).
 */
#include <errno.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "parquet_enc.h"
#include "thrift.h"

#define PQ_ZSTD_LEVEL 3

static uint32_t pq_at(const uint8_t *v8, const uint32_t *v32, size_t i)
{
	return v8 ? v8[i] : v32[i];
}

/* How many values from I equal V[I], counting up to CAP. */
static size_t pq_run(const uint8_t *v8, const uint32_t *v32, size_t i, size_t n, size_t cap)
{
	uint32_t x = pq_at(v8, v32, i);
	size_t k = i + 1;

	while (k < n && k - i < cap && pq_at(v8, v32, k) == x)
		k++;
	return k - i;
}

static void pq_rle_run(struct buf *b, uint32_t x, size_t count, int width)
{
	unsigned char le[4] = { x & 0xff, x >> 8 & 0xff, x >> 16 & 0xff, x >> 24 & 0xff };

	rec_uleb128(b, (uint64_t)count << 1);
	buf_add(b, le, (size_t)(width + 7) / 8);
}

/* Values [I, J) bit-packed (J - I a multiple of 8; past N, zeros). */
static void pq_packed_run(struct buf *b, const uint8_t *v8, const uint32_t *v32, size_t i, size_t j,
			  size_t n, int width)
{
	uint64_t acc = 0;
	int bits = 0;

	rec_uleb128(b, (uint64_t)(j - i) / 8 << 1 | 1);
	for (size_t k = i; k < j; k++) {
		acc |= (uint64_t)(k < n ? pq_at(v8, v32, k) : 0) << bits;
		bits += width;
		while (bits >= 8) {
			unsigned char c = acc & 0xff;

			buf_add(b, &c, 1);
			acc >>= 8;
			bits -= 8;
		}
	}
}

void pq_hybrid(struct buf *b, const uint8_t *v8, const uint32_t *v32, size_t n, int width)
{
	size_t i = 0;

	while (i < n) {
		size_t run = pq_run(v8, v32, i, n, SIZE_MAX), j = i;

		if (run >= 8) {
			pq_rle_run(b, pq_at(v8, v32, i), run, width);
			i += run;
			continue;
		}
		do
			j += 8;
		while (j < n && pq_run(v8, v32, j, n, 8) < 8);
		pq_packed_run(b, v8, v32, i, j, n, width);
		i = j;
	}
}

void pq_bool_pack(struct buf *b, const uint8_t *v, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		unsigned char c = 0;

		for (size_t k = i; k < n && k < i + 8; k++)
			c |= (unsigned char)((v[k] & 1) << (k - i));
		buf_add(b, &c, 1);
	}
}

int pq_bit_width(uint32_t max)
{
	int w = 1;

	while (w < 32 && (max >> w))
		w++;
	return w;
}

int pq_codec_id(enum rec_codec codec)
{
	return codec == REC_CODEC_GZIP ? 2 : codec == REC_CODEC_ZSTD ? 6 : 0;
}

static int pq_reserve(struct buf *out, size_t cap)
{
	out->len = 0;
	return buf_reserve(out, cap) ? 0 : -ENOMEM;
}

static int pq_gzip(const void *p, size_t n, struct buf *out)
{
	z_stream z = { 0 };
	int zrc;

	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	if (pq_reserve(out, deflateBound(&z, n) + 32)) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)p;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)out->p;
	z.avail_out = (uInt)(out->cap - 1);	/* buf keeps room for a NUL */
	zrc = deflate(&z, Z_FINISH);
	out->len = z.total_out;
	deflateEnd(&z);
	return zrc == Z_STREAM_END ? 0 : -EIO;
}

static int pq_zstd(const void *p, size_t n, struct buf *out)
{
	size_t bound = ZSTD_compressBound(n), k;

	if (pq_reserve(out, bound))
		return -ENOMEM;
	k = ZSTD_compress(out->p, bound, p, n, PQ_ZSTD_LEVEL);
	if (ZSTD_isError(k))
		return -EIO;
	out->len = k;
	return 0;
}

int pq_compress(enum rec_codec codec, const void *p, size_t n, struct buf *out)
{
	switch (codec) {
	case REC_CODEC_GZIP:
		return pq_gzip(p, n, out);
	case REC_CODEC_ZSTD:
		return pq_zstd(p, n, out);
	default:
		out->len = 0;
		buf_add(out, p, n);
		return out->oom ? -ENOMEM : 0;
	}
}
