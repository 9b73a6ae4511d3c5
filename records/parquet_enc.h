/*
 * records/parquet_enc.h - Parquet's page-level encodings for the parquet
 * writer: the RLE / bit-packed hybrid (definition levels, dictionary
 * indices), bit-packed booleans and the page codecs (gzip, zstd).
 *
 * No state; thread-safe.
 */
#ifndef FLOWFS_PARQUET_ENC_H
#define FLOWFS_PARQUET_ENC_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "writer.h"

/* Appends the RLE / bit-packed hybrid encoding of N values of WIDTH bits
 * (1..32): from V8 (bytes) when not NULL, else from V32.  A run of 8 or more
 * equal values is an RLE run, the rest bit-packed groups of 8 (the last one
 * padded with zeros). */
void pq_hybrid(struct buf *b, const uint8_t *v8, const uint32_t *v32, size_t n, int width);

/* Appends N booleans (bytes 0/1) bit-packed, LSB first (PLAIN). */
void pq_bool_pack(struct buf *b, const uint8_t *v, size_t n);

/* Bits needed for values 0..MAX (at least 1). */
int pq_bit_width(uint32_t max);

/* Compresses P[0..N) with CODEC into OUT (replacing its contents).  0 or
 * -ENOMEM / -EIO. */
int pq_compress(enum rec_codec codec, const void *p, size_t n, struct buf *out);

/* The Parquet CompressionCodec number of CODEC. */
int pq_codec_id(enum rec_codec codec);

#endif
