/*
 * tests/bench/lines.c - writes N lines of LEN bytes to FILE (O_APPEND), one
 * write() per line, and prints the lines per second.
 *
 *   lines FILE N LEN
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	char line[4096];
	long n, len;
	int fd;

	if (argc != 4)
		return 64;
	n = strtol(argv[2], NULL, 10);
	len = strtol(argv[3], NULL, 10);
	if (n <= 0 || len < 2 || len > (long)sizeof(line))
		return 64;
	fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		int k = snprintf(line, sizeof(line), "%09ld ", i);
		memset(line + k, 'x', (size_t)(len - k - 1));
		line[len - 1] = '\n';
		if (write(fd, line, (size_t)len) != len) {
			perror("write");
			return 1;
		}
	}
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%.3f %.0f\n", s, (double)n / s);
	return 0;
}
