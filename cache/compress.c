/*
 * cache/compress.c - gz / xz / bz2 / zst compression of a spool file, on
 * every core.
 *
 * Reads IN from offset 0 to its end and writes the compressed form to OUT,
 * hashing what it reads on the way (the SHA-256 of the file as written,
 * without a second read).  Never a whole file in memory: what is in flight
 * is bounded by the thread count, whatever the file's size.  One table row
 * per kind.  Runs in the packer thread, never on a writer's path.
 *
 * gz and bz2 are cut into blocks compressed on a small pool of threads as
 * independent members, written in order, as pigz does without its shared
 * dictionary: gzip (RFC 1952 §2.2) and bzip2 files may hold several
 * members, and zcat, bzip2 -d, Python's gzip/bz2, DuckDB read them all.
 * The caller's thread reads and hashes each block into a free slot of a
 * ring, workers compress the queued ones, and the caller writes the done
 * ones in order; a ring of threads + 2 slots keeps every worker busy while
 * one slot is read and one written.  xz and zst have threads of their own
 * (liblzma's multi-threaded encoder, libzstd's workers), bounded the same
 * way.  A file of one block or less is compressed in the caller's thread:
 * there is nothing to share, and no thread to start.
 *
 * Every thread started here is joined before compress_fd() returns.
 */
#include <bzlib.h>
#include <errno.h>
#include <lzma.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "../util/fsutil.h"
#include "../util/hash.h"
#include "internal.h"

#define BLOCK (1 << 20)		/* read and write size of the streaming codecs */
#define MAX_THREADS 8		/* beyond this, memory grows more than speed */

/*
 * gz member size: 1 MiB.  Each member starts with an empty 32 KiB window,
 * which costs ~0.1-0.3% of size against one stream at 1 MiB (4x that at
 * 256 KiB); 18 bytes of header and trailer are noise.  A 64 MiB chunk is
 * still 64 blocks to share out, and a slot (input + bound) is ~2 MiB, so
 * 8 threads keep ~20 MiB in flight.
 */
#define GZ_MEMBER (1 << 20)

/* One compression: what every kind's function reads. */
struct job {
	int in, out;
	int level;
	uint64_t size;			/* of IN when it started, a hint */
	int threads;			/* cores this may use, >= 1 */
	struct sha256 *raw;		/* NULL, or gets what is read */
	unsigned char *ibuf, *obuf;	/* BLOCK each, for the streaming kinds */
};

/* The cores this process may run on, capped; at least 1. */
static int cores(void)
{
	cpu_set_t set;
	long n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 0)
		n = 1;
	return n < MAX_THREADS ? (int)n : MAX_THREADS;
}

/* Up to N bytes of IN (fewer only at its end), hashed into RAW if not
 * NULL; bytes or -errno. */
static ssize_t read_full(int in, unsigned char *buf, size_t n, struct sha256 *raw)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(in, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (raw && got > 0)
		sha256_update(raw, buf, got);
	return (ssize_t)got;
}

/* ---- members: independent gzip / bzip2 members on a pool of threads ---- */

/* A kind whose members are compressed alone: N bytes at IN become one
 * complete member at OUT (room for bound(N) bytes); 0 or -errno. */
struct member_codec {
	size_t (*block)(int level);	/* input bytes per member */
	size_t (*bound)(size_t n);	/* largest member of N bytes */
	int (*pack)(int level, const unsigned char *in, size_t n, unsigned char *out,
		    size_t *outn);
};

static size_t gz_block(int level)
{
	return GZ_MEMBER;
}

/* zlib's bound, plus the gzip header and trailer's 12 more bytes */
static size_t gz_bound(size_t n)
{
	return compressBound((uLong)n) + 12;
}

static int gz_pack(int level, const unsigned char *in, size_t n, unsigned char *out, size_t *outn)
{
	z_stream z;
	int ret;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)gz_bound(n);
	ret = deflate(&z, Z_FINISH);
	*outn = z.total_out;
	deflateEnd(&z);
	return ret == Z_STREAM_END ? 0 : -EIO;	/* the bound held, or zlib is broken */
}

/*
 * bz2 member size: what fits one bzip2 block of this level (100k x level,
 * less the 19 bytes bzip2 keeps back), so a member is one block, as in a
 * single stream, and costs ~50 bytes of stream header and trailer.  Input
 * with runs of 4 identical bytes may spill a few bytes into a second block.
 */
static size_t bz2_block(int level)
{
	return (size_t)level * 100000 - 19;
}

/* bzip2's documented bound for BZ2_bzBuffToBuffCompress() */
static size_t bz2_bound(size_t n)
{
	return n + n / 100 + 600;
}

static int bz2_pack(int level, const unsigned char *in, size_t n, unsigned char *out, size_t *outn)
{
	unsigned int len = (unsigned int)bz2_bound(n);
	int ret = BZ2_bzBuffToBuffCompress((char *)out, &len, (char *)in, (unsigned int)n, level, 0, 0);

	*outn = len;
	if (ret == BZ_MEM_ERROR)
		return -ENOMEM;
	return ret == BZ_OK ? 0 : -EIO;
}

static const struct member_codec gz_members = { gz_block, gz_bound, gz_pack };
static const struct member_codec bz2_members = { bz2_block, bz2_bound, bz2_pack };

/* A block of the input and, once compressed, its member. */
struct slot {
	unsigned char *in, *out;
	size_t n, outn;			/* bytes in IN, in OUT */
	int rc;				/* of its compression */
	bool done;			/* protected by pool->lock */
};

/*
 * A ring of slots, numbered by sequence: a block's number modulo nslots is
 * its slot.  Blocks [next_write, next_read) are in the ring; those from
 * next_work on wait for a worker.  Only the caller's thread reads into or
 * writes from a slot outside the ring, so slot data needs no lock.
 */
struct pool {
	const struct member_codec *codec;
	int level;
	size_t block;			/* input bytes per member */
	struct slot *slots;
	unsigned nslots;
	pthread_mutex_t lock;
	pthread_cond_t work;		/* a block was queued, or stop */
	pthread_cond_t done;		/* a block was compressed */
	uint64_t next_read;		/* protected by lock */
	uint64_t next_work;		/* protected by lock */
	uint64_t next_write;		/* protected by lock */
	bool stop;			/* protected by lock */
	pthread_t threads[MAX_THREADS];
	int nthreads;			/* 0: the caller compresses */
};

static struct slot *pool_slot(struct pool *p, uint64_t seq)
{
	return &p->slots[seq % p->nslots];
}

static void slot_pack(struct pool *p, struct slot *s)
{
	s->rc = p->codec->pack(p->level, s->in, s->n, s->out, &s->outn);
}

static void *pool_worker(void *arg)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct slot *s;

		while (!p->stop && p->next_work == p->next_read)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		s = pool_slot(p, p->next_work++);
		pthread_mutex_unlock(&p->lock);
		slot_pack(p, s);
		pthread_mutex_lock(&p->lock);
		s->done = true;
		pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void pool_free(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	for (unsigned i = 0; i < p->nslots; i++) {
		free(p->slots[i].in);
		free(p->slots[i].out);
	}
	free(p->slots);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
}

/* A pool of THREADS workers (0: none) with its slots; 0 or -errno, and
 * pool_free() is due either way. */
static int pool_init(struct pool *p, const struct member_codec *codec, int level, int threads)
{
	memset(p, 0, sizeof(*p));
	p->codec = codec;
	p->level = level;
	p->block = codec->block(level);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->slots = calloc(threads + 2, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	p->nslots = threads ? (unsigned)threads + 2 : 1;
	for (unsigned i = 0; i < p->nslots; i++) {
		p->slots[i].in = malloc(p->block);
		p->slots[i].out = malloc(codec->bound(p->block));
		if (!p->slots[i].in || !p->slots[i].out)
			return -ENOMEM;
	}
	for (; p->nthreads < threads; p->nthreads++) {
		int rc = pthread_create(&p->threads[p->nthreads], NULL, pool_worker, p);
		if (rc)
			return -rc;
	}
	return 0;
}

enum step { STEP_READ, STEP_WRITE, STEP_END };

/* What the caller's thread does next: write the oldest block once it is
 * compressed, else read into a free slot, else wait.  Lock held. */
static enum step pool_next(struct pool *p, bool eof)
{
	for (;;) {
		if (p->next_write < p->next_read && pool_slot(p, p->next_write)->done)
			return STEP_WRITE;
		if (!eof && p->next_read - p->next_write < p->nslots)
			return STEP_READ;
		if (p->next_write == p->next_read)
			return STEP_END;
		pthread_cond_wait(&p->done, &p->lock);
	}
}

/* Reads the next block into its slot and queues it (or, without workers,
 * compresses it).  EOF is set after the last block: a short one, or an
 * empty one after others; an empty input still makes one (empty) member,
 * as gzip and bzip2 do.  0 or -errno. */
static int pool_read(struct pool *p, const struct job *j, bool *eof)
{
	struct slot *s = pool_slot(p, p->next_read);	/* outside the ring: ours */
	ssize_t n = read_full(j->in, s->in, p->block, j->raw);

	if (n < 0)
		return (int)n;
	*eof = (size_t)n < p->block;
	if (n == 0 && p->next_read > 0)
		return 0;
	s->n = (size_t)n;
	s->done = false;
	if (!p->nthreads) {
		slot_pack(p, s);
		s->done = true;
	}
	pthread_mutex_lock(&p->lock);
	p->next_read++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* Writes the oldest block's member and frees its slot; 0 or -errno. */
static int pool_write(struct pool *p, const struct job *j)
{
	struct slot *s = pool_slot(p, p->next_write);	/* done: no worker has it */
	int rc = s->rc ? s->rc : write_all(j->out, s->out, s->outn);

	pthread_mutex_lock(&p->lock);
	p->next_write++;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int members_file(const struct job *j, const struct member_codec *codec)
{
	struct pool p;
	size_t block = codec->block(j->level);
	uint64_t blocks = (j->size + block - 1) / block;
	int threads = j->threads > 1 && blocks > 1 ? j->threads : 0;
	bool eof = false;
	enum step step;
	int rc;

	if ((uint64_t)threads > blocks)
		threads = (int)blocks;
	rc = pool_init(&p, codec, j->level, threads);
	while (rc == 0) {
		pthread_mutex_lock(&p.lock);
		step = pool_next(&p, eof);
		pthread_mutex_unlock(&p.lock);
		if (step == STEP_END)
			break;
		rc = step == STEP_READ ? pool_read(&p, j, &eof) : pool_write(&p, j);
	}
	pool_free(&p);
	return rc;
}

static int gz_file(const struct job *j)
{
	return members_file(j, &gz_members);
}

static int bz2_file(const struct job *j)
{
	return members_file(j, &bz2_members);
}

/* ---- xz and zst: the libraries' own threads ---- */

/*
 * liblzma's multi-threaded encoder cuts the input into blocks of its own,
 * each thread holding one in and one out besides its match finder (~90 MiB
 * at level 6, as xz -6 alone needs).  Blocks of the dictionary's size
 * rather than liblzma's default of three times it keep ~16 MiB per thread
 * in buffers, for ~1.4% of size (measured on access logs); threads stop being added when they would
 * take more than XZ_MEMORY together, by liblzma's count (two at level 6,
 * one from 7 on: ~117 MiB each at 6, of which ~100 are touched).  A
 * file of one block or less gets the single-threaded encoder: its output
 * would be the same, its memory less.
 */
#define XZ_MEMORY (256ull << 20)

static int xz_init(lzma_stream *z, const struct job *j)
{
	lzma_options_lzma opt;
	lzma_mt mt = {
		.threads = (uint32_t)j->threads,
		.preset = (uint32_t)j->level,
		.check = LZMA_CHECK_CRC64,
	};

	if (lzma_lzma_preset(&opt, (uint32_t)j->level))
		return -EINVAL;
	mt.block_size = opt.dict_size > BLOCK ? opt.dict_size : BLOCK;
	while (mt.threads > 1 && lzma_stream_encoder_mt_memusage(&mt) > XZ_MEMORY)
		mt.threads--;
	if (mt.threads > 1 && j->size > mt.block_size)
		return lzma_stream_encoder_mt(z, &mt) == LZMA_OK ? 0 : -ENOMEM;
	return lzma_easy_encoder(z, (uint32_t)j->level, LZMA_CHECK_CRC64) == LZMA_OK ? 0 : -ENOMEM;
}

static int xz_file(const struct job *j)
{
	lzma_stream z = LZMA_STREAM_INIT;
	lzma_action action = LZMA_RUN;
	lzma_ret ret;
	int rc;

	rc = xz_init(&z, j);
	if (rc)
		return rc;
	z.next_out = j->obuf;
	z.avail_out = BLOCK;
	for (;;) {
		if (z.avail_in == 0 && action == LZMA_RUN) {
			ssize_t n = read_full(j->in, j->ibuf, BLOCK, j->raw);
			if (n < 0) {
				rc = (int)n;
				break;
			}
			z.next_in = j->ibuf;
			z.avail_in = (size_t)n;
			if (n == 0)
				action = LZMA_FINISH;
		}
		ret = lzma_code(&z, action);
		if (z.avail_out == 0 || ret == LZMA_STREAM_END) {
			rc = write_all(j->out, j->obuf, BLOCK - z.avail_out);
			z.next_out = j->obuf;
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

/*
 * libzstd's workers, one per core, on jobs of 4 MiB.  Measured on 256 MiB
 * of access logs at level 6 with two workers (tests/bench/compress): its
 * default of 8 MiB took 59 MiB of RSS; 4 MiB jobs 36 MiB in 2.6-2.7 s
 * (zstd -T0: 2.8 s); 2 MiB 25 MiB in 2.9-3.3 s, which put make bench's zst
 * stream at 1.53x zstd -T0's time; 1 MiB 19 MiB in 3.6 s; sizes within
 * 0.7%.  A file of one block or less is compressed by the caller alone: no
 * worker to start.
 */
static void zst_params(ZSTD_CCtx *z, const struct job *j)
{
	ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, j->level);
	ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
	if (j->threads > 1 && j->size > BLOCK) {
		ZSTD_CCtx_setParameter(z, ZSTD_c_nbWorkers, j->threads);
		ZSTD_CCtx_setParameter(z, ZSTD_c_jobSize, 4 << 20);
	}
}

static int zst_file(const struct job *j)
{
	ZSTD_CCtx *z = ZSTD_createCCtx();
	bool last = false;
	int rc = 0;

	if (!z)
		return -ENOMEM;
	zst_params(z, j);
	while (rc == 0 && !last) {
		ssize_t n = read_full(j->in, j->ibuf, BLOCK, j->raw);
		ZSTD_inBuffer zi = { j->ibuf, n > 0 ? (size_t)n : 0, 0 };
		size_t left;

		if (n < 0) {
			rc = (int)n;
			break;
		}
		last = n < BLOCK;
		do {
			ZSTD_outBuffer zo = { j->obuf, BLOCK, 0 };

			left = ZSTD_compressStream2(z, &zo, &zi, last ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(left)) {
				rc = -EIO;
				break;
			}
			rc = write_all(j->out, j->obuf, zo.pos);
		} while (rc == 0 && (last ? left != 0 : zi.pos < zi.size));
	}
	ZSTD_freeCCtx(z);
	return rc;
}

static const struct compressor {
	const char *kind;		/* as in the config, and the key's suffix */
	int (*file)(const struct job *j);
} compressors[] = {
	{ "gz", gz_file },
	{ "xz", xz_file },
	{ "bz2", bz2_file },
	{ "zst", zst_file },
};

const char *const compress_kinds[] = { "gz", "xz", "bz2", "zst", NULL };

/* The cores compressions of this process are using.  One compression
 * takes those left (at least 1): two at once on 2 cores get one each, as
 * fast in all and with half the buffers (two of libzstd's two-worker
 * contexts in flight took the daemon from 52 to 80 MiB). */
static _Atomic int cores_busy;

int compress_cores_take(void)
{
	int n = cores(), busy = atomic_load(&cores_busy), take;

	do
		take = n - busy > 1 ? n - busy : 1;
	while (!atomic_compare_exchange_weak(&cores_busy, &busy, busy + take));
	return take;
}

void compress_cores_give(int n)
{
	atomic_fetch_sub(&cores_busy, n);
}

int compress_fd(int in, int out, const char *kind, int level, struct sha256 *raw)
{
	struct job j = { .in = in, .out = out, .level = level, .raw = raw };
	struct stat st;
	int rc = -EINVAL;

	if (fstat(in, &st) < 0 || lseek(in, 0, SEEK_SET) < 0)
		return -errno;
	j.threads = compress_cores_take();
	j.size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	j.ibuf = malloc(BLOCK);
	j.obuf = malloc(BLOCK);
	if (!j.ibuf || !j.obuf) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < sizeof(compressors) / sizeof(compressors[0]); i++)
		if (strcmp(kind, compressors[i].kind) == 0)
			rc = compressors[i].file(&j);
out_free:
	compress_cores_give(j.threads);
	free(j.ibuf);
	free(j.obuf);
	return rc;
}
