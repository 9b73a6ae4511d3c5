/*
 * tests/e2e/appender.c - a logger that survives its filesystem dying.
 *
 *   appender FILE NAME COUNT ACKFILE
 *
 * Appends COUNT lines "NAME N\n" (N = 1..COUNT), one write() per line.
 * When a write or open fails (the daemon was killed), it waits and reopens,
 * and goes on with the NEXT number: a line whose write() failed is never
 * written again, so the sink may hold it at most once.  Every line whose
 * write() returned success is recorded in ACKFILE ("N\n") after the fact.
 *
 * COUNT 0 means until the file named by $APPENDER_STOP exists (checked
 * every line); $APPENDER_DELAY_US sleeps that long between lines.
 *
 * $APPENDER_SPLIT set: each line is "NAME N" and " ok\n" in two writes
 * (the pause goes between them); ACKFILE gets "N-" once the first
 * returned, "N" once the second did.
 *
 * $APPENDER_SYNC_EVERY=K (durability = close, where a write() alone
 * acknowledges nothing): lines are recorded in ACKFILE only once an fsync
 * after them returned success, one fsync every K lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *stop = getenv("APPENDER_STOP"), *delay = getenv("APPENDER_DELAY_US");
	const char *every = getenv("APPENDER_SYNC_EVERY");
	long sync_every = every ? strtol(every, NULL, 10) : 0, first = 0, last = 0;	/* not yet synced */
	int split = getenv("APPENDER_SPLIT") != NULL;
	useconds_t pause = delay ? (useconds_t)strtoul(delay, NULL, 10) : 0;
	FILE *ack;
	long count;
	int fd = -1;

	if (argc != 5)
		return 64;
	count = strtol(argv[3], NULL, 10);
	ack = fopen(argv[4], "w");
	if (!ack)
		return 1;
	for (long n = 1; count == 0 || n <= count; n++) {
		char line[128];
		int len;

		if (count == 0 && (!stop || access(stop, F_OK) == 0))
			break;
		if (pause && !split)
			usleep(pause);
		len = snprintf(line, sizeof(line), split ? "%s %ld" : "%s %ld\n", argv[2], n);

		while (fd < 0) {
			fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
			if (fd < 0 && count == 0 && access(stop, F_OK) == 0)
				goto out;
			if (fd < 0)
				usleep(50 * 1000);
		}
		if (write(fd, line, (size_t)len) == len) {
			if (split && !sync_every)	/* the first half returned; now the second */
				fprintf(ack, "%ld-\n", n);
			if (split && pause)
				usleep(pause);
			if (!split || write(fd, " ok\n", 4) == 4) {
				if (!sync_every) {
					fprintf(ack, "%ld\n", n);
					continue;
				}
				if (!first)
					first = n;
				last = n;
				if (n - first + 1 < sync_every)
					continue;
				if (fsync(fd) == 0) {	/* FIRST..N are acknowledged now */
					for (long k = first; k <= n; k++)
						fprintf(ack, split ? "%ld-\n%ld\n" : "%ld\n", k, k);
					first = 0;
					continue;
				}
			}
		}
		first = 0;	/* these numbers are lost for good; never repeated */
		close(fd);
		fd = -1;
	}
out:
	if (fd >= 0 && close(fd) < 0)
		fprintf(stderr, "appender: close: %s\n", strerror(errno));
	else if (fd >= 0 && first)	/* the close acknowledged the rest */
		for (long k = first; k <= last; k++)
			fprintf(ack, split ? "%ld-\n%ld\n" : "%ld\n", k, k);
	fclose(ack);
	return 0;
}
