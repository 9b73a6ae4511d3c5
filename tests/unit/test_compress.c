/*
 * tests/unit/test_compress.c - cache/compress.c: every kind on 0 B, 1 B and
 * ~9 MiB of varied data (several blocks, not a multiple of any block size),
 * checked by the standard tools (gzip, xz, zstd, bzip2 -t and -dc, byte for
 * byte) and for the hash of the raw input; gz and bz2 made of several
 * members on several cores and on one; a failing write stops every thread.
 */
#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../../cache/internal.h"
#include "../../util/hash.h"
#include "unit.h"

#define BIG ((9u << 20) + 12345)	/* several 1 MiB and 600 kB blocks, and a tail */

static char dir[64];			/* the test's temp directory */
static char in_path[128], out_path[128], dec_path[128];
static unsigned char *big;		/* BIG bytes of log-like lines and noise */

/* Lines that compress like logs do, with random runs so that the codecs
 * have work to do and no block is like the next. */
static void make_big(void)
{
	uint32_t x = 2463534242u;
	size_t off = 0;

	big = malloc(BIG);
	while (big && off < BIG) {
		char line[160];
		int k;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		k = snprintf(line, sizeof(line), "%09zu 10.0.%u.%u GET /item/%08x?q=%u 200 %u\n", off,
			     x & 255, (x >> 8) & 255, x, x % 977, x % 65536);
		if (x % 7 == 0)	/* some incompressible bytes */
			for (int i = 0; i < 40 && k < (int)sizeof(line) - 1; i++)
				line[k++] = (char)(x >> (i % 24));
		for (int i = 0; i < k && off < BIG; i++)
			big[off++] = (unsigned char)line[i];
	}
}

static bool write_file(const char *path, const unsigned char *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	bool ok = f && fwrite(p, 1, n, f) == n;

	if (f && fclose(f) != 0)
		ok = false;
	return ok;
}

/* Compresses N bytes of P (written to in_path) into out_path with KIND at
 * LEVEL; compress_fd()'s result, and the raw hash it made in HEX. */
static int compress_buf(const char *kind, int level, const unsigned char *p, size_t n, char hex[65])
{
	struct sha256 *h = sha256_new();
	int in, out, rc = -EIO;

	if (!h || !write_file(in_path, p, n))
		goto out_free;
	in = open(in_path, O_RDONLY);
	out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in >= 0 && out >= 0)
		rc = compress_fd(in, out, kind, level, h);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	sha256_final_hex(h, hex);
out_free:
	sha256_free(h);
	return rc;
}

static int sh(const char *fmt, const char *a)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), fmt, a, a, a, a);
	return system(cmd);
}

static const char *tool(const char *kind)
{
	return strcmp(kind, "gz") == 0 ? "gzip" : strcmp(kind, "xz") == 0 ? "xz" :
	       strcmp(kind, "bz2") == 0 ? "bzip2" : "zstd";
}

static bool have_tool(const char *t)
{
	return sh("command -v %s >/dev/null 2>&1", t) == 0;
}

/* The standard tool accepts out_path (-t) and decompresses it to in_path's
 * bytes exactly. */
static bool tool_agrees(const char *kind)
{
	char cmd[1024];
	const char *t = tool(kind);

	snprintf(cmd, sizeof(cmd), "%s -t %s >/dev/null 2>&1 && %s -dc < %s > %s && cmp -s %s %s", t, out_path,
		 t, out_path, dec_path, dec_path, in_path);
	return system(cmd) == 0;
}

/* Members of the gzip file at PATH, decompressed by zlib alone into N
 * bytes equal to WANT; -1 if it is not valid gzip or differs. */
static int gz_members(const char *path, const unsigned char *want, size_t n)
{
	static unsigned char buf[1 << 16], obuf[1 << 16];
	FILE *f = fopen(path, "rb");
	z_stream z;
	size_t got = 0, len;
	int members = 0, ret = Z_OK;

	memset(&z, 0, sizeof(z));
	if (!f || inflateInit2(&z, 15 + 16) != Z_OK)
		return -1;
	while ((len = fread(buf, 1, sizeof(buf), f)) > 0 || z.avail_in > 0) {
		z.next_in = buf;
		z.avail_in = (uInt)len;
		while (z.avail_in > 0) {
			z.next_out = obuf;
			z.avail_out = sizeof(obuf);
			ret = inflate(&z, Z_NO_FLUSH);
			if (ret != Z_OK && ret != Z_STREAM_END)
				goto out;
			len = sizeof(obuf) - z.avail_out;
			if (got + len > n || memcmp(want + got, obuf, len) != 0)
				goto out;
			got += len;
			if (ret == Z_STREAM_END) {
				members++;
				inflateReset(&z);
			}
		}
	}
out:
	inflateEnd(&z);
	fclose(f);
	return ret == Z_STREAM_END && got == n ? members : -1;
}

/* Streams in the bzip2 file at PATH ("BZh" headers that libbz2 opens one
 * after the other); -1 if one is not valid. */
static int bz2_members(const char *path)
{
	FILE *f = fopen(path, "rb");
	int members = 0, err;

	if (!f)
		return -1;
	for (;;) {
		char buf[1 << 16], unused[BZ_MAX_UNUSED];
		void *u;
		int nu;
		BZFILE *b = BZ2_bzReadOpen(&err, f, 0, 0, unused, 0);

		while (err == BZ_OK)
			BZ2_bzRead(&err, b, buf, sizeof(buf));
		if (err != BZ_STREAM_END) {
			BZ2_bzReadClose(&err, b);
			members = -1;
			break;
		}
		members++;
		BZ2_bzReadGetUnused(&err, b, &u, &nu);
		if (nu > 0)
			fseek(f, -(long)nu, SEEK_CUR);
		BZ2_bzReadClose(&err, b);
		if (fgetc(f) == EOF)
			break;
		fseek(f, -1, SEEK_CUR);
	}
	fclose(f);
	return members;
}

static const char *const kinds[] = { "gz", "xz", "bz2", "zst" };

/* Every kind on N bytes of P at LEVEL: rc 0, the raw hash, the tool's
 * verdict. */
static bool round_trips(int level, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char got[65], want[65];

		sha256_buf_hex(p, n, want);
		if (compress_buf(kinds[i], level, p, n, got) != 0 || strcmp(got, want) != 0) {
			printf("# %s of %zu bytes: compress or hash wrong\n", kinds[i], n);
			return false;
		}
		if (!have_tool(tool(kinds[i]))) {
			printf("SKIP - %s is not installed: its output of %zu bytes is not checked\n",
			       tool(kinds[i]), n);
			continue;
		}
		if (!tool_agrees(kinds[i])) {
			printf("# %s of %zu bytes: %s disagrees\n", kinds[i], n, tool(kinds[i]));
			return false;
		}
	}
	return true;
}

static void test_empty(void)
{
	CHECK(round_trips(6, (const unsigned char *)"", 0));
}

static void test_one_byte(void)
{
	CHECK(round_trips(6, (const unsigned char *)"x", 1));
}

/* At level 1, so that valgrind gets through xz: its blocks are then of 1
 * MiB (the dictionary's size), bzip2's of 100 kB. */
static void test_big(void)
{
	CHECK(big);
	CHECK(round_trips(1, big, BIG));
}

/* ~9 MiB make ten 1 MiB gzip members, and at level 6 sixteen bzip2
 * streams of 599,981 bytes (one bzip2 block each), each alone valid, in
 * order. */
static void test_members(void)
{
	char hex[65];

	CHECK(compress_buf("gz", 6, big, BIG, hex) == 0);
	CHECK(gz_members(out_path, big, BIG) == 10);
	CHECK(compress_buf("bz2", 6, big, BIG, hex) == 0);
	CHECK(bz2_members(out_path) == (int)((BIG + 599980) / 599981));
}

/* On one core the caller compresses every block itself: the same members. */
static void test_one_core(void)
{
	cpu_set_t all, one;
	char got[65], want[65];
	int rc;

	CHECK(sched_getaffinity(0, sizeof(all), &all) == 0);
	CPU_ZERO(&one);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all)) {
			CPU_SET(i, &one);
			break;
		}
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
	rc = compress_buf("gz", 6, big, BIG, got);
	sched_setaffinity(0, sizeof(all), &all);
	sha256_buf_hex(big, BIG, want);
	CHECK(rc == 0);
	CHECK_STR(got, want);
	CHECK(gz_members(out_path, big, BIG) == 10);
}

/* Two compressions at once share the cores: the first takes all, the
 * second what is left, at least 1; given back, all are free again.  Then
 * two zst compressions on two threads at once (one with libzstd's
 * workers, one without), each read back whole by zstd. */
struct both { const char *in, *out; int rc; };

static void *compress_one(void *arg)
{
	struct both *b = arg;
	int in = open(b->in, O_RDONLY), out = open(b->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	b->rc = in >= 0 && out >= 0 ? compress_fd(in, out, "zst", 3, NULL) : -EIO;
	close(in);
	close(out);
	return NULL;
}

static void test_cores_shared(void)
{
	cpu_set_t set;
	int n, a, b;
	char out2[160];
	struct both one = { in_path, out_path, -1 }, two = { in_path, out2, -1 };
	pthread_t t1, t2;

	CHECK(sched_getaffinity(0, sizeof(set), &set) == 0);
	n = CPU_COUNT(&set) < 8 ? CPU_COUNT(&set) : 8;
	a = compress_cores_take();
	b = compress_cores_take();
	CHECK(a == n);
	CHECK(b == 1);
	compress_cores_give(b);
	compress_cores_give(a);
	a = compress_cores_take();
	CHECK(a == n);
	compress_cores_give(a);

	snprintf(out2, sizeof(out2), "%s.2", out_path);
	CHECK(write_file(in_path, big, BIG));
	CHECK(pthread_create(&t1, NULL, compress_one, &one) == 0);
	CHECK(pthread_create(&t2, NULL, compress_one, &two) == 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	CHECK(one.rc == 0 && two.rc == 0);
	if (have_tool("zstd")) {
		CHECK(tool_agrees("zst"));
		CHECK(rename(out2, out_path) == 0);
		CHECK(tool_agrees("zst"));
	}
	unlink(out2);
	a = compress_cores_take();
	CHECK(a == n);
	compress_cores_give(a);
}

/* A write that fails is the result, whichever block it was, and the
 * workers stop (valgrind sees no thread or buffer left). */
static void test_write_fails(void)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		int in, out, rc;

		CHECK(write_file(in_path, big, BIG));
		in = open(in_path, O_RDONLY);
		out = open(out_path, O_RDONLY | O_CREAT, 0600);	/* write() gets EBADF */
		CHECK(in >= 0 && out >= 0);
		rc = compress_fd(in, out, kinds[i], 1, NULL);
		close(in);
		close(out);
		CHECK(rc == -EBADF);
	}
}

static void test_unknown_kind(void)
{
	char hex[65];

	CHECK(compress_buf("lz4", 6, big, 10, hex) == -EINVAL);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/flowfs-unit-compress.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(in_path, sizeof(in_path), "%s/in", dir);
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	snprintf(dec_path, sizeof(dec_path), "%s/dec", dir);
	make_big();
	RUN(test_empty);
	RUN(test_one_byte);
	RUN(test_big);
	RUN(test_members);
	RUN(test_one_core);
	RUN(test_cores_shared);
	RUN(test_write_fails);
	RUN(test_unknown_kind);
	free(big);
	unlink(in_path);
	unlink(out_path);
	unlink(dec_path);
	rmdir(dir);
	return unit_done();
}
