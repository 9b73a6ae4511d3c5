/*
 * records/thrift.c - the Thrift compact protocol encoder (see thrift.h and
 * the protocol's spec, thrift/doc/specs/thrift-compact-protocol.md).
 */
#include "thrift.h"

void rec_thr_init(struct rec_thr *t, struct buf *b)
{
	t->b = b;
	t->depth = 0;
	t->last[0] = 0;
}

void rec_uleb128(struct buf *b, uint64_t v)
{
	unsigned char out[10];
	size_t n = 0;

	do {
		out[n] = v & 0x7f;
		v >>= 7;
		if (v)
			out[n] |= 0x80;
		n++;
	} while (v);
	buf_add(b, out, n);
}

static void rec_thr_varint(struct rec_thr *t, uint64_t v)
{
	rec_uleb128(t->b, v);
}

static uint64_t rec_thr_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static void rec_thr_field(struct rec_thr *t, int id, enum rec_thr_type type)
{
	int delta = id - t->last[t->depth];
	unsigned char h;

	if (delta > 0 && delta <= 15) {
		h = (unsigned char)(delta << 4 | type);
		buf_add(t->b, &h, 1);
	} else {
		h = (unsigned char)type;
		buf_add(t->b, &h, 1);
		rec_thr_varint(t, rec_thr_zigzag(id));
	}
	t->last[t->depth] = (int16_t)id;
}

void rec_thr_i32(struct rec_thr *t, int id, int32_t v)
{
	rec_thr_field(t, id, REC_THR_I32);
	rec_thr_varint(t, rec_thr_zigzag(v));
}

void rec_thr_i64(struct rec_thr *t, int id, int64_t v)
{
	rec_thr_field(t, id, REC_THR_I64);
	rec_thr_varint(t, rec_thr_zigzag(v));
}

void rec_thr_bool(struct rec_thr *t, int id, bool v)
{
	rec_thr_field(t, id, v ? REC_THR_TRUE : REC_THR_FALSE);
}

void rec_thr_binary(struct rec_thr *t, int id, const void *p, size_t n)
{
	rec_thr_field(t, id, REC_THR_BINARY);
	rec_thr_elem_binary(t, p, n);
}

static void rec_thr_push(struct rec_thr *t)
{
	if (t->depth + 1 < REC_THR_DEPTH)
		t->last[++t->depth] = 0;
	else
		t->b->oom = true;	/* deeper than Parquet ever goes */
}

void rec_thr_struct(struct rec_thr *t, int id)
{
	rec_thr_field(t, id, REC_THR_STRUCT);
	rec_thr_push(t);
}

void rec_thr_empty(struct rec_thr *t, int id)
{
	rec_thr_struct(t, id);
	rec_thr_end(t);
}

void rec_thr_list(struct rec_thr *t, int id, enum rec_thr_type type, size_t n)
{
	unsigned char h;

	rec_thr_field(t, id, REC_THR_LIST);
	if (n < 15) {
		h = (unsigned char)(n << 4 | type);
		buf_add(t->b, &h, 1);
		return;
	}
	h = (unsigned char)(0xf0 | type);
	buf_add(t->b, &h, 1);
	rec_thr_varint(t, n);
}

void rec_thr_elem_i32(struct rec_thr *t, int32_t v)
{
	rec_thr_varint(t, rec_thr_zigzag(v));
}

void rec_thr_elem_binary(struct rec_thr *t, const void *p, size_t n)
{
	rec_thr_varint(t, n);
	buf_add(t->b, p, n);
}

void rec_thr_elem_struct(struct rec_thr *t)
{
	rec_thr_push(t);
}

void rec_thr_end(struct rec_thr *t)
{
	buf_add(t->b, "", 1);
	if (t->depth > 0)
		t->depth--;
}
