/*
 * tests/bench/compress.c - times compress_fd() (cache/compress.c) on FILE:
 * what the packer does to a sealed chunk, without the mount around it.
 * Prints seconds, compressed bytes and peak RSS in MiB.  It uses the cores
 * it may run on: `taskset -c 0 compress ...` is the single-threaded figure.
 *
 *   compress FILE KIND LEVEL
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../cache/internal.h"
#include "../../util/hash.h"

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	struct stat st;
	struct sha256 *h;
	char out[4096];
	int in, fd, rc;

	if (argc != 4)
		return 64;
	snprintf(out, sizeof(out), "%s.%s", argv[1], argv[2]);
	in = open(argv[1], O_RDONLY);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	h = sha256_new();
	if (in < 0 || fd < 0 || !h) {
		perror(argv[1]);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = compress_fd(in, fd, argv[2], (int)strtol(argv[3], NULL, 10), h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc) {
		char err[256];

		fprintf(stderr, "compress %s of %s: %s\n", argv[2], argv[1], strerror_r(-rc, err, sizeof(err)));
		return 1;
	}
	fstat(fd, &st);
	getrusage(RUSAGE_SELF, &ru);
	unlink(out);
	printf("%.3f %lld %ld\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (long long)st.st_size, ru.ru_maxrss / 1024);
	sha256_free(h);
	return 0;
}
