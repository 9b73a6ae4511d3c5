/*
 * records/thrift.h - a Thrift compact protocol encoder, enough for Parquet's
 * metadata (structs, lists, i32, i64, bool, binary).
 *
 * Fields are written as the protocol says: a header byte with the id delta
 * and the type (or the type and a zigzag varint id when the delta does not
 * fit), integers as zigzag varints, binary as varint length + bytes, a
 * struct ends with a STOP byte.  Output goes to a struct buf (its oom flag
 * says whether it all fit).  Not thread-safe; one encoder per buffer.
 */
#ifndef FLOWFS_THRIFT_H
#define FLOWFS_THRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"

#define REC_THR_DEPTH 16

enum rec_thr_type {
	REC_THR_TRUE = 1,
	REC_THR_FALSE = 2,
	REC_THR_BYTE = 3,
	REC_THR_I16 = 4,
	REC_THR_I32 = 5,
	REC_THR_I64 = 6,
	REC_THR_DOUBLE = 7,
	REC_THR_BINARY = 8,
	REC_THR_LIST = 9,
	REC_THR_SET = 10,
	REC_THR_MAP = 11,
	REC_THR_STRUCT = 12,
};

struct rec_thr {
	struct buf *b;
	int16_t last[REC_THR_DEPTH];	/* the last field id at each struct depth */
	int depth;
};

void rec_thr_init(struct rec_thr *t, struct buf *b);

/* Appends V as an unsigned LEB128 varint (Thrift's and Parquet's). */
void rec_uleb128(struct buf *b, uint64_t v);

void rec_thr_i32(struct rec_thr *t, int id, int32_t v);
void rec_thr_i64(struct rec_thr *t, int id, int64_t v);
void rec_thr_bool(struct rec_thr *t, int id, bool v);
void rec_thr_binary(struct rec_thr *t, int id, const void *p, size_t n);
/* A struct field: its fields follow, then rec_thr_end(). */
void rec_thr_struct(struct rec_thr *t, int id);
/* An empty struct field (Parquet's StringType, MicroSeconds, ...). */
void rec_thr_empty(struct rec_thr *t, int id);
/* A list field of N elements of TYPE; the elements follow. */
void rec_thr_list(struct rec_thr *t, int id, enum rec_thr_type type, size_t n);
void rec_thr_elem_i32(struct rec_thr *t, int32_t v);
void rec_thr_elem_binary(struct rec_thr *t, const void *p, size_t n);
/* A struct element of a list: its fields follow, then rec_thr_end(). */
void rec_thr_elem_struct(struct rec_thr *t);
/* Ends the innermost struct (the STOP byte); at depth 0 ends the message. */
void rec_thr_end(struct rec_thr *t);

#endif
