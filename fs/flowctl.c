/*
 * fs/flowctl.c - flowctl, the control command of a mounted flowfs.
 *
 *   flowctl sync MNT [--timeout S]   rotate open chunks, wait until all that
 *                                    is sealed is delivered to every sink
 *   flowctl rotate MNT [FLOW]        seal open stream chunks now
 *   flowctl status MNT               a table: flows, streams, sinks
 *   flowctl retry MNT [FLOW]         queue failed deliveries again; run failed
 *                                    pipeline steps again
 *   flowctl history MNT [FLOW] [--status S] [--json]
 *   flowctl clean-history MNT [--flow FLOW] [--days N]
 *   flowctl test CONFIG FLOW FILE [-o OUT] [--stream]
 *                                    pipeline steps (fs/pipectl.c)
 *   flowctl health | latest | deliveries ...
 *                                    the read side (fs/flowctl_read.c)
 *   flowctl reassemble [-o DIR] DIR|FILE...
 *                                    rebuild files from captured http file
 *                                    events (fs/reassemble.c; no mount needed)
 *
 * It talks to the daemon through MNT/.flowctl: one command per write(), the
 * answer read back from offset 0 (see cache/control.c).  Exit status: 0 ok,
 * 1 failed deliveries or an error, 2 timeout, 64 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flowctl.h"
#include "flowctl_read.h"
#include "reassemble.h"

#define ANSWER_MAX (1 << 20)

static void usage(FILE *f)
{
	fprintf(f, "usage: flowctl sync MNT [--timeout SECONDS]\n"
		   "       flowctl rotate MNT [FLOW]\n"
		   "       flowctl status MNT\n"
		   "       flowctl retry MNT [FLOW]\n"
		   "       flowctl history MNT [FLOW] [--status STATUS] [--json]\n"
		   "       flowctl clean-history MNT [--flow FLOW] [--days N]\n"
		   "       flowctl test CONFIG FLOW FILE [-o OUT] [--stream]\n"
		   "       flowctl health MNT\n"
		   "       flowctl latest MNT FLOW\n"
		   "       flowctl deliveries MNT FLOW [--since DURATION] [--json]\n"
		   "       flowctl reassemble [-o DIR] DIR|FILE...\n"
		   "       flowctl --help | --version\n");
}

int flowctl_open(const char *mnt)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/.flowctl", mnt);
	fd = open(path, O_RDWR);
	if (fd < 0)
		fprintf(stderr, "flowctl: %s: %m (is a flowfs mounted at %s?)\n", path, mnt);
	return fd;
}

ssize_t flowctl_ask(int fd, const char *cmd, char *buf, size_t size)
{
	ssize_t n;

	if (write(fd, cmd, strlen(cmd)) < 0) {
		fprintf(stderr, "flowctl: %s: %m\n", cmd);
		return -1;
	}
	n = pread(fd, buf, size - 1, 0);
	if (n < 0) {
		fprintf(stderr, "flowctl: reading the answer to %s: %m\n", cmd);
		return -1;
	}
	buf[n] = '\0';
	if (strncmp(buf, "ok", 2) != 0) {
		fprintf(stderr, "flowctl: %s", strncmp(buf, "error ", 6) == 0 ? buf + 6 : buf);
		return -1;
	}
	return n;
}

static int sync_cmd(int fd, char *buf, double timeout)
{
	struct timespec t0, t;
	long long mark, pending = 0, failed = 0, rejected = 0;
	char cmd[64];

	if (flowctl_ask(fd, "mark", buf, ANSWER_MAX) < 0 || sscanf(buf, "ok mark %lld", &mark) != 1)
		return 1;
	snprintf(cmd, sizeof(cmd), "pending %lld", mark);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (flowctl_ask(fd, cmd, buf, ANSWER_MAX) < 0 ||
		    sscanf(buf, "ok pending %lld failed %lld rejected %lld", &pending, &failed,
			   &rejected) != 3)
			return 1;
		if (pending == 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= timeout) {
			fprintf(stderr, "flowctl: sync: timeout after %.0fs: %lld not delivered yet, "
				"%lld failed:\n%s", timeout, pending, failed, strchr(buf, '\n') + 1);
			return 2;
		}
		usleep(100 * 1000);
	}
	if (failed > 0) {
		fprintf(stderr, "flowctl: sync: %lld failed permanently (fix the sink, then "
			"flowctl retry):\n%s", failed, strchr(buf, '\n') + 1);
		return 1;
	}
	/* their writers got the error; no retry can deliver what was not written */
	if (rejected > 0)
		fprintf(stderr, "flowctl: sync: %lld not delivered because a write to them failed "
			"(write them again or rm them):\n%s", rejected, strchr(buf, '\n') + 1);
	return 0;
}

static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
} subs[] = {
	{ "history", history_main },
	{ "clean-history", clean_history_main },
	{ "test", test_main },
};

int main(int argc, char **argv)
{
	const char *verb, *mnt, *arg = NULL;
	double timeout = 60;
	char cmd[300], *buf;
	int fd, rc = 0;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
		printf("flowctl %s\n", FLOWFS_VERSION);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "reassemble") == 0)
		return reassemble_main(argc - 2, argv + 2);
	for (size_t i = 0; argc >= 2 && i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[1], subs[i].name) == 0) {
			rc = subs[i].main(argc - 2, argv + 2);
			if (rc == 64)
				usage(stderr);
			return rc;
		}
	}
	if (argc >= 2 && flowctl_read_verb(argv[1]))
		return flowctl_read_main(argc, argv);
	if (argc < 3) {
		usage(stderr);
		return 64;
	}
	verb = argv[1];
	mnt = argv[2];
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			char *end;
			timeout = strtod(argv[++i], &end);
			if (*end || timeout <= 0) {
				fprintf(stderr, "flowctl: bad --timeout '%s'\n", argv[i]);
				return 64;
			}
		} else if (!arg && argv[i][0] != '-') {
			arg = argv[i];
		} else {
			usage(stderr);
			return 64;
		}
	}
	fd = flowctl_open(mnt);
	if (fd < 0)
		return 1;
	buf = malloc(ANSWER_MAX);
	if (!buf)
		return 1;
	if (strcmp(verb, "sync") == 0) {
		rc = sync_cmd(fd, buf, timeout);
	} else if (strcmp(verb, "rotate") == 0 || strcmp(verb, "retry") == 0 ||
		   strcmp(verb, "status") == 0) {
		snprintf(cmd, sizeof(cmd), "%s%s%s", verb, arg ? " " : "", arg ? arg : "");
		if (flowctl_ask(fd, cmd, buf, ANSWER_MAX) < 0)
			rc = 1;
		else if (strcmp(verb, "status") == 0)
			fputs(strchr(buf, '\n') + 1, stdout);
		else
			fputs(buf + 3, stdout);
	} else {
		usage(stderr);
		rc = 64;
	}
	free(buf);
	close(fd);
	return rc;
}
