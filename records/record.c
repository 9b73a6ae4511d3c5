/*
 * records/record.c - arenas, records and field lookup (see record.h).
 *
 * The arena is a list of blocks, newest first; an allocation larger than a
 * block gets a block of its own.  Fields live in a malloc'd array that keeps
 * its capacity, so a reader's steady state allocates nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/json.h"
#include "rec_time.h"
#include "record.h"

#define REC_ARENA_BLOCK (64 * 1024)
#define REC_PATH_MAX 256

struct rec_arena_block {
	struct rec_arena_block *next;
	size_t used;
	size_t size;
	max_align_t data[];
};

void rec_arena_init(struct rec_arena *a)
{
	a->head = NULL;
}

static struct rec_arena_block *rec_arena_grow(struct rec_arena *a, size_t n)
{
	size_t size = n > REC_ARENA_BLOCK ? n : REC_ARENA_BLOCK;
	struct rec_arena_block *b = malloc(sizeof(*b) + size);

	if (!b)
		return NULL;
	b->used = 0;
	b->size = size;
	b->next = a->head;
	a->head = b;
	return b;
}

void *rec_arena_alloc(struct rec_arena *a, size_t n)
{
	struct rec_arena_block *b = a->head;
	size_t need = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	void *p;

	if (need < n)
		return NULL;
	if (!b || b->size - b->used < need)
		b = rec_arena_grow(a, need);
	if (!b)
		return NULL;
	p = (char *)b->data + b->used;
	b->used += need;
	return p;
}

/* P[0..N) and a NUL into D (room for N + 1 bytes); D, NULL-safe. */
static char *rec_copy_nul(char *d, const void *p, size_t n)
{
	if (!d)
		return NULL;
	if (n)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

char *rec_arena_dup(struct rec_arena *a, const void *p, size_t n)
{
	return rec_copy_nul(rec_arena_alloc(a, n + 1), p, n);
}

char *rec_memdup(const void *p, size_t n)
{
	return rec_copy_nul(malloc(n + 1), p, n);
}

void rec_arena_reset(struct rec_arena *a)
{
	struct rec_arena_block *b = a->head;

	if (!b)
		return;
	/* keep the oldest block: the others were for a large record */
	while (b->next) {
		struct rec_arena_block *next = b->next;

		free(b);
		b = next;
	}
	b->used = 0;
	a->head = b;
}

void rec_arena_free(struct rec_arena *a)
{
	while (a->head) {
		struct rec_arena_block *next = a->head->next;

		free(a->head);
		a->head = next;
	}
}

void rec_init(struct record *r)
{
	memset(r, 0, sizeof(*r));
	rec_arena_init(&r->arena);
}

void rec_reset(struct record *r)
{
	r->n = 0;
	rec_arena_reset(&r->arena);
}

void rec_free(struct record *r)
{
	if (!r)
		return;
	free(r->fields);
	rec_arena_free(&r->arena);
	rec_init(r);
}

int rec_grow(void *pp, size_t *cap, size_t n, size_t size, size_t first)
{
	void **p = pp, *q;
	size_t c = *cap ? *cap : first;

	if (n < *cap)
		return 0;
	while (c <= n)
		c *= 2;
	if (!(q = realloc(*p, c * size)))
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

int rec_push(struct record *r, const char *name, size_t name_len, const struct rec_value *v)
{
	if (rec_grow(&r->fields, &r->cap, r->n, sizeof(*r->fields), 16))
		return -ENOMEM;
	r->fields[r->n].name = name;
	r->fields[r->n].name_len = name_len;
	r->fields[r->n].v = *v;
	r->n++;
	return 0;
}

int rec_add(struct record *r, const char *name, const struct rec_value *v)
{
	struct rec_value c = *v;
	size_t nlen = strlen(name);
	char *n = rec_arena_dup(&r->arena, name, nlen);

	if (!n)
		return -ENOMEM;
	if (c.type == REC_STRING || c.type == REC_NESTED) {
		c.s.p = rec_arena_dup(&r->arena, v->s.p, v->s.n);
		if (!c.s.p)
			return -ENOMEM;
	}
	return rec_push(r, n, nlen, &c);
}

int rec_add_null(struct record *r, const char *name)
{
	struct rec_value v = { .type = REC_NULL };

	return rec_add(r, name, &v);
}

int rec_add_bool(struct record *r, const char *name, bool b)
{
	struct rec_value v = { .type = REC_BOOL, .b = b };

	return rec_add(r, name, &v);
}

int rec_add_int(struct record *r, const char *name, int64_t i)
{
	struct rec_value v = { .type = REC_INT, .i = i };

	return rec_add(r, name, &v);
}

int rec_add_double(struct record *r, const char *name, double d)
{
	struct rec_value v = { .type = REC_DOUBLE, .d = d };

	return rec_add(r, name, &v);
}

int rec_add_str(struct record *r, const char *name, const char *s, size_t n)
{
	struct rec_value v = { .type = REC_STRING, .s = { s, n } };

	return rec_add(r, name, &v);
}

int rec_add_nested(struct record *r, const char *name, const char *json, size_t n)
{
	struct rec_value v = { .type = REC_NESTED, .s = { json, n } };

	return rec_add(r, name, &v);
}

const struct rec_field *rec_find(const struct record *r, const char *name, size_t len)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->fields[i].name_len == len && memcmp(r->fields[i].name, name, len) == 0)
			return &r->fields[i];
	return NULL;
}

size_t rec_double_text(double d, char *buf)
{
	int n = 0;

	if (!isfinite(d)) {
		memcpy(buf, "null", 5);
		return 4;
	}
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, 32, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strpbrk(buf, ".e")) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	return (size_t)n;
}

static int rec_text_put(char *buf, size_t len, const char *p, size_t n)
{
	if (n >= len)
		return -ENOSPC;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

bool rec_value_text(const struct rec_value *v, char *num, const char **p, size_t *n)
{
	switch (v->type) {
	case REC_NULL:
		return false;
	case REC_BOOL:
		*p = v->b ? "true" : "false";
		*n = v->b ? 4 : 5;
		return true;
	case REC_INT:
		*n = (size_t)snprintf(num, 32, "%" PRId64, v->i);
		*p = num;
		return true;
	case REC_DOUBLE:
		*n = rec_double_text(v->d, num);
		*p = num;
		return true;
	default:
		*p = v->s.p;
		*n = v->s.n;
		return true;
	}
}

/* The text of the raw JSON value V[0..N) in BUF: strings unescaped. */
static int rec_json_text(const char *v, size_t n, char *buf, size_t len)
{
	size_t out;

	if (n == 4 && memcmp(v, "null", 4) == 0)
		return -ENOENT;
	if (v[0] != '"')
		return rec_text_put(buf, len, v, n);
	if (n >= len)	/* json_string() writes at most N bytes */
		return -ENOSPC;
	return json_string(v, n, buf, &out) ? -ENOENT : 0;
}

/* Descends PATH (dotted) from the nested JSON text P[0..N). */
static int rec_nested_text(const char *p, size_t n, const char *path, char *buf, size_t len)
{
	char key[REC_PATH_MAX];
	const char *dot, *v;
	size_t vlen, klen;

	for (;;) {
		dot = strchr(path, '.');
		klen = dot ? (size_t)(dot - path) : strlen(path);
		if (klen >= sizeof(key))
			return -ENOENT;
		memcpy(key, path, klen);
		key[klen] = '\0';
		if (json_get(p, n, key, &v, &vlen))
			return -ENOENT;
		if (!dot)
			return rec_json_text(v, vlen, buf, len);
		p = v;
		n = vlen;
		path = dot + 1;
	}
}

int rec_field_text(const struct record *r, const char *path, char *buf, size_t len)
{
	const struct rec_field *f = rec_find(r, path, strlen(path));
	const char *dot = strchr(path, '.');

	char num[32];
	const char *p;
	size_t n;

	if (f)
		return rec_value_text(&f->v, num, &p, &n) ? rec_text_put(buf, len, p, n) : -ENOENT;
	if (!dot || !(f = rec_find(r, path, (size_t)(dot - path))) || f->v.type != REC_NESTED)
		return -ENOENT;
	return rec_nested_text(f->v.s.p, f->v.s.n, dot + 1, buf, len);
}

int rec_time_field(const struct record *r, const char *name, int64_t *us)
{
	const struct rec_field *f = rec_find(r, name, strlen(name));

	if (!f || f->v.type == REC_NULL)
		return -ENOENT;
	switch (f->v.type) {
	case REC_STRING:
		return rec_time_parse(f->v.s.p, f->v.s.n, us);
	case REC_INT:
		return rec_time_from_int(f->v.i, us);
	case REC_DOUBLE:
		return rec_time_from_double(f->v.d, us);
	default:
		return -EINVAL;
	}
}
