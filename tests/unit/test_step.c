/*
 * tests/unit/test_step.c - cache/step.c: words split like a shell's, and
 * real commands run with their input, output, stderr tail, timeout and
 * leftovers.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cache/step.h"
#include "../../util/hash.h"
#include "unit.h"

static char *env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/", "LANG=C.UTF-8",
		       "FLOWFS_STEP=test", NULL };
static char workdir[] = "/tmp/flowfs-step-XXXXXX";

/* A temporary file holding P[0..N), open for reading. */
static int input(const char *p, size_t n)
{
	char path[] = "/tmp/flowfs-step-in-XXXXXX";
	int fd = mkstemp(path);

	unlink(path);
	if (fd >= 0 && write(fd, p, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

static int output(void)
{
	char path[] = "/tmp/flowfs-step-out-XXXXXX";
	int fd = mkstemp(path);

	unlink(path);
	return fd;
}

/* The content of FD (at most 1 MiB) as a string. */
static char *slurp(int fd)
{
	static char buf[1 << 20];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* PID still runs: not gone, not a zombie nobody reaped yet. */
static bool alive(pid_t pid)
{
	char path[64], st[512];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, st, sizeof(st) - 1);
	close(fd);
	if (n <= 0)
		return false;
	st[n] = '\0';
	return strrchr(st, ')') && strrchr(st, ')')[2] != 'Z';
}

static int run(const char *command, const char *in, uint64_t timeout, uint64_t out_max,
	       int *out, struct step_result *r)
{
	struct step_cmd cmd = { .timeout = timeout };
	char err[128];
	int fd = input(in, strlen(in)), rc;

	*out = output();
	if (step_split(command, &cmd, err, sizeof(err)) != 0 || fd < 0 || *out < 0)
		return -1;
	rc = step_run(&cmd, fd, *out, out_max, env, workdir, NULL, r, NULL);
	step_cmd_free(&cmd);
	close(fd);
	return rc;
}

static void split_like_a_shell(void)
{
	struct step_cmd c = { 0 };
	char err[128];

	CHECK(step_split("  /bin/a  'b c' \"d \\\"e\\\" $f\" g\\ h 'i'\"j\"k ", &c, err, sizeof(err)) == 0);
	CHECK_STR(c.argv[0], "/bin/a");
	CHECK_STR(c.argv[1], "b c");
	CHECK_STR(c.argv[2], "d \"e\" $f");
	CHECK_STR(c.argv[3], "g h");
	CHECK_STR(c.argv[4], "ijk");
	CHECK(c.argv[5] == NULL);
	step_cmd_free(&c);
	CHECK(step_split("a 'b", &c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "quote") != NULL);
	CHECK(step_split("   ", &c, err, sizeof(err)) == -EINVAL);
	CHECK(step_split("a \\", &c, err, sizeof(err)) == -EINVAL);
}

static void ok_output_and_counts(void)
{
	struct step_result r;
	int out;

	CHECK(run("tr a-z A-Z", "hello\nworld\n", 10, 0, &out, &r) == 0);
	CHECK(r.status == STEP_OK);
	CHECK(r.exit_code == 0);
	CHECK_STR(slurp(out), "HELLO\nWORLD\n");
	CHECK(r.bytes_in == 12 && r.bytes_out == 12);
	close(out);
}

static void empty_output_is_empty(void)
{
	struct step_result r;
	int out;

	CHECK(run("grep -c nothing-matches-this", "a\n", 10, 0, &out, &r) == 0);
	CHECK(r.status == STEP_ERROR && r.exit_code == 1);	/* grep -c prints 0 and exits 1 */
	close(out);
	CHECK(run("true", "a\nb\n", 10, 0, &out, &r) == 0);
	CHECK(r.status == STEP_EMPTY);
	CHECK(r.bytes_out == 0);
	close(out);
}

static void error_keeps_stderr_tail(void)
{
	struct step_result r;
	int out;

	CHECK(run("sh -c 'i=0; while [ $i -lt 2000 ]; do echo line$i >&2; i=$((i+1)); done; exit 3'",
		  "", 10, 0, &out, &r) == 0);
	CHECK(r.status == STEP_ERROR);
	CHECK(r.exit_code == 3);
	CHECK(strstr(r.why, "status 3") != NULL);
	CHECK(r.err_len == STEP_ERR_TAIL);
	CHECK(strstr(r.err, "line1999\n") != NULL);	/* the last lines, not the first */
	CHECK(strstr(r.err, "line0\n") == NULL);
	close(out);
}

static void signal_is_error(void)
{
	struct step_result r;
	int out;

	CHECK(run("sh -c 'kill -SEGV $$'", "", 10, 0, &out, &r) == 0);
	CHECK(r.status == STEP_ERROR);
	CHECK(r.signal == SIGSEGV);
	CHECK(strstr(r.why, "SIGSEGV") != NULL);
	close(out);
}

static void missing_command_names_it(void)
{
	struct step_result r;
	int out;

	CHECK(run("no-such-command-here --x", "a", 10, 0, &out, &r) == 0);
	CHECK(r.status == STEP_ERROR);
	CHECK(strstr(r.why, "command not found: no-such-command-here") != NULL);
	close(out);
	CHECK(run("/nonexistent/bin/x", "a", 10, 0, &out, &r) == 0);
	CHECK(r.status == STEP_ERROR);
	CHECK(strstr(r.why, "/nonexistent/bin/x") != NULL);
	close(out);
}

/* The pid the step wrote to PIDFILE (removed), or 0. */
static pid_t pid_from(const char *pidfile)
{
	char txt[32] = "";
	int fd = open(pidfile, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, txt, sizeof(txt) - 1) : -1;

	if (fd >= 0)
		close(fd);
	unlink(pidfile);
	return n > 0 ? (pid_t)strtol(txt, NULL, 10) : 0;
}

/* PID is gone within a second. */
static bool ends(pid_t pid)
{
	for (int i = 0; i < 50 && alive(pid); i++)
		usleep(20000);
	return !alive(pid);
}

static void timeout_kills_the_group(void)
{
	struct step_result r;
	char pidfile[256], cmd[512];
	int out;
	pid_t child;

	snprintf(pidfile, sizeof(pidfile), "%s.pid", workdir);
	snprintf(cmd, sizeof(cmd), "sh -c 'sleep 100 & echo $! > %s; wait'", pidfile);
	CHECK(run(cmd, "", 1, 0, &out, &r) == 0);
	CHECK(r.status == STEP_TIMEOUT);
	CHECK(r.seconds >= 1.0 && r.seconds < 5.0);
	child = pid_from(pidfile);
	CHECK(child > 0);
	CHECK(ends(child));
	close(out);
}

static void daemon_left_behind_is_killed(void)
{
	struct step_result r;
	char pidfile[256], cmd[512];
	int out;
	pid_t child;

	snprintf(pidfile, sizeof(pidfile), "%s.dpid", workdir);
	/* a background sleeper keeps stdout open: the run must still end */
	snprintf(cmd, sizeof(cmd), "sh -c 'sleep 100 & echo $! > %s; echo done'", pidfile);
	CHECK(run(cmd, "", 30, 0, &out, &r) == 0);
	CHECK(r.status == STEP_OK);
	CHECK(r.seconds < 5.0);
	CHECK_STR(slurp(out), "done\n");
	child = pid_from(pidfile);
	CHECK(child > 0);
	CHECK(ends(child));
	close(out);
}

static void stdin_closed_early_or_never_read(void)
{
	static char big[4 << 20];
	struct step_result r;
	struct step_cmd cmd = { .timeout = 20 };
	char err[128];
	int in, out;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 2] = '\n';
	CHECK(run("head -c 10", big, 20, 0, &out, &r) == 0);	/* reads 10 bytes, exits */
	CHECK(r.status == STEP_OK);
	CHECK_STR(slurp(out), "xxxxxxxxxx");
	close(out);
	/* the input's hash is of all of it, read or not */
	struct sha256 *h = sha256_new();
	char hex[65], want[65];
	in = input(big, sizeof(big) - 1);
	out = output();
	CHECK(step_split("head -c 10", &cmd, err, sizeof(err)) == 0);
	CHECK(step_run(&cmd, in, out, 0, env, workdir, NULL, &r, h) == 0);
	step_cmd_free(&cmd);
	sha256_final_hex(h, hex);
	sha256_free(h);
	sha256_buf_hex(big, sizeof(big) - 1, want);
	CHECK_STR(hex, want);
	close(in);
	close(out);
	CHECK(run("echo never-read-stdin", big, 20, 0, &out, &r) == 0);
	CHECK(r.status == STEP_OK);
	CHECK_STR(slurp(out), "never-read-stdin\n");
	close(out);
	/* the whole input reaches a command that reads it all */
	in = input(big, sizeof(big) - 1);
	out = output();
	CHECK(step_split("wc -c", &cmd, err, sizeof(err)) == 0);
	CHECK(step_run(&cmd, in, out, 0, env, workdir, NULL, &r, NULL) == 0);
	step_cmd_free(&cmd);
	CHECK(r.bytes_in == sizeof(big) - 1);
	CHECK(atoll(slurp(out)) == (long long)sizeof(big) - 1);
	close(in);
	close(out);
}

static void output_bounded(void)
{
	struct step_result r;
	int out;
	struct stat st;

	CHECK(run("yes", "", 20, 1 << 20, &out, &r) == 0);
	CHECK(r.status == STEP_FULL);
	CHECK(strcmp(step_status_name(r.status), "ERROR") == 0);
	CHECK(strstr(r.why, "spool") != NULL);
	CHECK(fstat(out, &st) == 0 && st.st_size <= 1 << 20);
	close(out);
}

static void binary_output_kept(void)
{
	static const char bin[] = { 0, 1, 2, (char)0xff, '\n', 0 };
	struct step_result r;
	struct step_cmd cmd = { .timeout = 10 };
	char err[128], got[16];
	int in = input(bin, sizeof(bin)), out = output();

	CHECK(step_split("cat", &cmd, err, sizeof(err)) == 0);
	CHECK(step_run(&cmd, in, out, 0, env, workdir, NULL, &r, NULL) == 0);
	step_cmd_free(&cmd);
	CHECK(r.status == STEP_OK && r.bytes_out == sizeof(bin));
	CHECK(pread(out, got, sizeof(got), 0) == sizeof(bin));
	CHECK(memcmp(got, bin, sizeof(bin)) == 0);
	close(in);
	close(out);
}

static void environment_is_only_what_is_given(void)
{
	struct step_result r;
	int out;

	setenv("FLOWFS_TEST_SECRET", "s3cr3t", 1);
	CHECK(run("env", "", 10, 0, &out, &r) == 0);
	CHECK(r.status == STEP_OK);
	CHECK(strstr(slurp(out), "s3cr3t") == NULL);
	CHECK(strstr(slurp(out), "FLOWFS_STEP=test\n") != NULL);
	CHECK(strstr(slurp(out), "HOME=/\n") != NULL);
	close(out);
	CHECK(run("pwd", "", 10, 0, &out, &r) == 0);
	char want[300];
	snprintf(want, sizeof(want), "%s\n", workdir);
	CHECK_STR(slurp(out), want);
	close(out);
}

static void stop_ends_the_run(void)
{
	static volatile bool stop = true;
	struct step_result r;
	struct step_cmd cmd = { .timeout = 100 };
	char err[128];
	int in = input("", 0), out = output();

	CHECK(step_split("sleep 100", &cmd, err, sizeof(err)) == 0);
	CHECK(step_run(&cmd, in, out, 0, env, workdir, &stop, &r, NULL) == 0);
	step_cmd_free(&cmd);
	CHECK(r.status == STEP_STOPPED);
	CHECK(r.seconds < 5.0);
	close(in);
	close(out);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);	/* as flowfs does: the child must not inherit it */
	if (!mkdtemp(workdir))
		return 1;
	RUN(split_like_a_shell);
	RUN(ok_output_and_counts);
	RUN(empty_output_is_empty);
	RUN(error_keeps_stderr_tail);
	RUN(signal_is_error);
	RUN(missing_command_names_it);
	RUN(timeout_kills_the_group);
	RUN(daemon_left_behind_is_killed);
	RUN(stdin_closed_early_or_never_read);
	RUN(output_bounded);
	RUN(binary_output_kept);
	RUN(environment_is_only_what_is_given);
	RUN(stop_ends_the_run);
	rmdir(workdir);
	return unit_done();
}
