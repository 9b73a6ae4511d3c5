/*
 * cache/step.h - one pipeline step run: a command fed bytes on stdin,
 * its stdout kept, its stderr's tail kept.
 *
 * Knows no FUSE, SQLite or curl: bytes in, bytes out, testable alone
 * (tests/unit/test_step.c).  The command runs in a process group of its
 * own, as the user given, in an empty working directory, with only the
 * environment given; the whole group is killed when the command ends, on
 * timeout, when its output passes the limit, or when the caller stops.
 */
#ifndef FLOWFS_STEP_H
#define FLOWFS_STEP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct sha256;

#define STEP_ERR_TAIL 4096	/* bytes of stderr kept: the last ones */
#define STEP_ARGS_MAX 64

enum step_status {
	STEP_OK,		/* exit 0 with output */
	STEP_EMPTY,		/* exit 0, no output */
	STEP_ERROR,		/* non-zero exit, a signal, a command that cannot run */
	STEP_TIMEOUT,		/* killed at its timeout */
	STEP_FULL,		/* killed: its output passed the room given (retried later) */
	STEP_STOPPED,		/* killed: the caller stops (run again later) */
};

struct step_cmd {
	char *argv[STEP_ARGS_MAX + 1];	/* NULL-terminated; owned */
	uint64_t timeout;		/* seconds; 0: none */
	bool as_user;			/* setgid/setuid to uid/gid */
	uid_t uid;
	gid_t gid;
};

struct step_result {
	enum step_status status;
	int exit_code;			/* -1 unless it exited */
	int signal;			/* 0 unless a signal ended it */
	double seconds;
	uint64_t bytes_in, bytes_out;	/* fed to stdin / read from stdout */
	char err[STEP_ERR_TAIL + 1];	/* stderr's last bytes, NUL-terminated */
	size_t err_len;
	char why[256];			/* for ERROR, TIMEOUT, FULL: what happened */
};

/* Splits COMMAND into CMD->argv the way a shell splits words (blanks,
 * '...', "..." with \" \\ \$ \` escapes, \ outside quotes), with no
 * expansion and no shell.  0, or -EINVAL with ERR saying why (unbalanced
 * quote, no words, too many). */
int step_split(const char *command, struct step_cmd *cmd, char *err, size_t errlen);
void step_cmd_free(struct step_cmd *cmd);

/* Runs CMD with IN (read from its start to its end) on stdin; writes its
 * stdout to OUT, at most OUT_MAX bytes (0: no limit).  ENV: NULL-terminated
 * "NAME=value" strings, all it gets.  WORKDIR: its working directory.
 * STOP (may be NULL): checked a few times a second; true ends the run.
 * IN_HASH (may be NULL) gets every byte of IN, read to its end even when
 * the command stopped reading.
 * 0 with R filled (whatever the command did), or -errno when the run
 * could not be set up (pipes, fork) or OUT could not be written: R->why
 * says which. */
int step_run(const struct step_cmd *cmd, int in, int out, uint64_t out_max,
	     char *const env[], const char *workdir, const volatile bool *stop,
	     struct step_result *r, struct sha256 *in_hash);

const char *step_status_name(enum step_status s);	/* "OK", "EMPTY", ... */

#endif
