/*
 * cache/step.c - one pipeline step run (see step.h).
 *
 * fork() then, in the child, only async-signal-safe calls: its own process
 * group, default signal dispositions and an empty mask (the spool's
 * threads block signals and flowfs ignores SIGPIPE: both would leak into
 * the command), the pipes as 0, 1 and 2, every other descriptor closed,
 * the working directory, the user, execve().  The parent feeds stdin,
 * drains stdout and stderr with poll() and waits on a pidfd, so a command
 * that never reads its input, closes it early, or leaves a daemon holding
 * its stdout never hangs the run: when the command ends, what is left of
 * its group is killed.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../util/fsutil.h"
#include "../util/hash.h"
#include "step.h"

#define STEP_PATH "/usr/local/bin:/usr/bin:/bin"
#define FEED_BLOCK (1 << 16)
#define TICK_MS 200		/* how often STOP and the timeout are looked at */
#define LEFTOVER_GRACE 2.0	/* seconds to wait for EOF once the command ended */

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *step_status_name(enum step_status s)
{
	static const char *const names[] = {
		[STEP_OK] = "OK", [STEP_EMPTY] = "EMPTY", [STEP_ERROR] = "ERROR",
		[STEP_TIMEOUT] = "TIMEOUT", [STEP_FULL] = "ERROR", [STEP_STOPPED] = "STOPPED",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "ERROR";
}

void step_cmd_free(struct step_cmd *cmd)
{
	for (size_t i = 0; cmd->argv[i]; i++) {
		free(cmd->argv[i]);
		cmd->argv[i] = NULL;
	}
}

int step_split(const char *s, struct step_cmd *cmd, char *err, size_t errlen)
{
	char *word = malloc(strlen(s) + 1);
	size_t n = 0, len;
	bool in_word;

	memset(cmd->argv, 0, sizeof(cmd->argv));
	if (!word) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		len = 0;
		in_word = true;
		while (in_word && *s && *s != ' ' && *s != '\t') {
			if (*s == '\'') {
				const char *e = strchr(s + 1, '\'');
				if (!e)
					goto unbalanced;
				memcpy(word + len, s + 1, (size_t)(e - s - 1));
				len += (size_t)(e - s - 1);
				s = e + 1;
			} else if (*s == '"') {
				for (s++; *s && *s != '"'; s++) {
					if (*s == '\\' && strchr("\"\\$`", s[1]))
						s++;
					word[len++] = *s;
				}
				if (!*s)
					goto unbalanced;
				s++;
			} else if (*s == '\\') {
				if (!s[1]) {
					snprintf(err, errlen, "a trailing backslash");
					goto fail;
				}
				word[len++] = s[1];
				s += 2;
			} else {
				word[len++] = *s++;
			}
		}
		if (n == STEP_ARGS_MAX) {
			snprintf(err, errlen, "more than %d words", STEP_ARGS_MAX);
			goto fail;
		}
		cmd->argv[n] = strndup(word, len);
		if (!cmd->argv[n++]) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	free(word);
	if (n == 0) {
		snprintf(err, errlen, "no command");
		return -EINVAL;
	}
	return 0;
unbalanced:
	snprintf(err, errlen, "a quote that is not closed");
fail:
	free(word);
	step_cmd_free(cmd);
	return -EINVAL;
}

/* NAME as execve() will find it: a path as is, else the first executable
 * of that name in STEP_PATH.  False if there is none. */
static bool resolve(const char *name, char *out, size_t outlen)
{
	const char *p = STEP_PATH;

	if (strchr(name, '/')) {
		snprintf(out, outlen, "%s", name);
		return access(out, F_OK) == 0;
	}
	while (*p) {
		size_t len = strcspn(p, ":");

		snprintf(out, outlen, "%.*s/%s", (int)len, p, name);
		if (access(out, X_OK) == 0)
			return true;
		p += len + (p[len] == ':');
	}
	return false;
}

/* In the child: says what failed on stderr (the pipe) and exits. */
static void __attribute__((noreturn)) child_fail(const char *what, int e)
{
	const char *desc = strerrordesc_np(e);

	if (write(2, "flowfs: ", 8) < 0 || write(2, what, strlen(what)) < 0 ||
	    write(2, ": ", 2) < 0 || write(2, desc ? desc : "error", strlen(desc ? desc : "error")) < 0 ||
	    write(2, "\n", 1) < 0)
		_exit(126);
	_exit(e == ENOENT ? 127 : 126);
}

static void __attribute__((noreturn)) child_exec(const struct step_cmd *cmd, const char *path,
						 const int fds[3], char *const env[],
						 const char *workdir, pid_t parent)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	setpgid(0, 0);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			_exit(126);
	syscall(SYS_close_range, 3U, ~0U, 0U);	/* what other threads opened without O_CLOEXEC */
	if (chdir(workdir) < 0)
		child_fail("cannot enter its working directory", errno);
	if (cmd->as_user && (setgroups(1, &cmd->gid) < 0 || setgid(cmd->gid) < 0 ||
			     setuid(cmd->uid) < 0))
		child_fail("cannot change to its user", errno);
	/* a kill -9 of flowfs takes the step along (set after the user
	 * changed, which clears it); the daemon may already be gone */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(126);
	execve(path, cmd->argv, env);
	child_fail(path, errno);
}

/* Keeps the last STEP_ERR_TAIL bytes of stderr. */
static void tail_add(struct step_result *r, const char *p, size_t n)
{
	if (n >= STEP_ERR_TAIL) {
		memcpy(r->err, p + n - STEP_ERR_TAIL, STEP_ERR_TAIL);
		r->err_len = STEP_ERR_TAIL;
	} else {
		size_t keep = r->err_len + n > STEP_ERR_TAIL ? STEP_ERR_TAIL - n : r->err_len;

		memmove(r->err, r->err + r->err_len - keep, keep);
		memcpy(r->err + keep, p, n);
		r->err_len = keep + n;
	}
	r->err[r->err_len] = '\0';
}

struct run {
	const struct step_cmd *cmd;
	struct step_result *r;
	pid_t pid;
	int in, out, in_w, out_r, err_r, pidfd;
	uint64_t in_off, out_max;
	struct sha256 *in_hash;
	char *feed;
	size_t feed_len, feed_pos;
	bool killed, exited;
	int wstatus;
	int rc;
};

/* Ends the run with STATUS (TIMEOUT, FULL, STOPPED, or ERROR for our own
 * failure): the whole group goes. */
static void run_kill(struct run *u, enum step_status status)
{
	if (u->killed)
		return;
	kill(-u->pid, SIGKILL);
	u->killed = true;
	u->r->status = status;
}

static void feed_more(struct run *u)
{
	ssize_t n;

	if (u->feed_pos == u->feed_len) {
		n = pread(u->in, u->feed, FEED_BLOCK, (off_t)u->in_off);
		if (n <= 0) {
			if (n < 0) {
				u->rc = -errno;
				snprintf(u->r->why, sizeof(u->r->why), "reading its input: %s",
					 strerrordesc_np(errno));
				run_kill(u, STEP_ERROR);
			}
			close(u->in_w);
			u->in_w = -1;	/* its stdin ends */
			return;
		}
		u->in_off += (uint64_t)n;
		if (u->in_hash)
			sha256_update(u->in_hash, u->feed, (size_t)n);
		u->feed_len = (size_t)n;
		u->feed_pos = 0;
	}
	n = write(u->in_w, u->feed + u->feed_pos, u->feed_len - u->feed_pos);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {	/* EPIPE: it closed its stdin early, which is its right */
		close(u->in_w);
		u->in_w = -1;
		return;
	}
	u->feed_pos += (size_t)n;
	u->r->bytes_in += (uint64_t)n;
}

static void drain_out(struct run *u, char *buf)
{
	ssize_t n = read(u->out_r, buf, FEED_BLOCK);
	int rc;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(u->out_r);
		u->out_r = -1;
		return;
	}
	if (u->killed)
		return;		/* what comes after the end is not kept */
	if (u->out_max && u->r->bytes_out + (uint64_t)n > u->out_max) {
		snprintf(u->r->why, sizeof(u->r->why), "its output passed %llu bytes, more than "
			 "the spool has room for (spool_max)", (unsigned long long)u->out_max);
		run_kill(u, STEP_FULL);
		return;
	}
	rc = write_all(u->out, buf, (size_t)n);
	if (rc) {
		u->rc = rc;
		snprintf(u->r->why, sizeof(u->r->why), "writing its output to the spool: %s",
			 strerrordesc_np(-rc));
		run_kill(u, rc == -ENOSPC ? STEP_FULL : STEP_ERROR);
		return;
	}
	u->r->bytes_out += (uint64_t)n;
}

static void drain_err(struct run *u, char *buf)
{
	ssize_t n = read(u->err_r, buf, FEED_BLOCK);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(u->err_r);
		u->err_r = -1;
		return;
	}
	tail_add(u->r, buf, (size_t)n);
}

/* Without a pidfd (a kernel before 5.3): whether PID ended, still unreaped. */
static bool ended(pid_t pid)
{
	siginfo_t si = { 0 };

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* The command ended: the rest of its group goes, then it is reaped. */
static void reap(struct run *u)
{
	kill(-u->pid, SIGKILL);
	while (waitpid(u->pid, &u->wstatus, 0) < 0 && errno == EINTR)
		;
	u->exited = true;
}

static void run_loop(struct run *u, const volatile bool *stop, double t0)
{
	char *buf = malloc(FEED_BLOCK);
	double grace = 0;

	if (!buf) {
		u->rc = -ENOMEM;
		snprintf(u->r->why, sizeof(u->r->why), "out of memory");
		run_kill(u, STEP_ERROR);
		reap(u);
		return;
	}
	while (!u->exited || u->out_r >= 0 || u->err_r >= 0) {
		struct pollfd p[4];
		int n = 0, ip = -1, op = -1, ep = -1, dp = -1;
		double now = mono();

		if (stop && *stop)
			run_kill(u, STEP_STOPPED);
		if (u->cmd->timeout && now - t0 >= (double)u->cmd->timeout) {
			snprintf(u->r->why, sizeof(u->r->why), "still running after its timeout of %llus",
				 (unsigned long long)u->cmd->timeout);
			run_kill(u, STEP_TIMEOUT);
		}
		if (u->exited) {	/* a process that left the group holds a pipe */
			if (!grace)
				grace = now + LEFTOVER_GRACE;
			else if (now >= grace)
				break;
		}
		if (u->in_w >= 0 && !u->killed)
			p[ip = n++] = (struct pollfd){ .fd = u->in_w, .events = POLLOUT };
		if (u->out_r >= 0)
			p[op = n++] = (struct pollfd){ .fd = u->out_r, .events = POLLIN };
		if (u->err_r >= 0)
			p[ep = n++] = (struct pollfd){ .fd = u->err_r, .events = POLLIN };
		if (!u->exited && u->pidfd >= 0)
			p[dp = n++] = (struct pollfd){ .fd = u->pidfd, .events = POLLIN };
		if (poll(p, (nfds_t)n, u->pidfd >= 0 ? TICK_MS : 20) < 0 && errno != EINTR)
			break;
		if (ip >= 0 && p[ip].revents)
			feed_more(u);
		if (op >= 0 && p[op].revents)
			drain_out(u, buf);
		if (ep >= 0 && p[ep].revents)
			drain_err(u, buf);
		if (!u->exited && ((dp >= 0 && p[dp].revents) || (u->pidfd < 0 && ended(u->pid))))
			reap(u);
	}
	if (!u->exited) {
		run_kill(u, u->r->status);
		reap(u);
	}
	free(buf);
}

static void run_result(struct run *u)
{
	struct step_result *r = u->r;

	if (WIFEXITED(u->wstatus))
		r->exit_code = WEXITSTATUS(u->wstatus);
	else if (WIFSIGNALED(u->wstatus))
		r->signal = WTERMSIG(u->wstatus);
	if (u->killed)
		return;		/* TIMEOUT, FULL, STOPPED or our ERROR, said already */
	if (r->signal) {
		r->status = STEP_ERROR;
		snprintf(r->why, sizeof(r->why), "killed by signal %d (SIG%s)", r->signal,
			 sigabbrev_np(r->signal) ? sigabbrev_np(r->signal) : "?");
	} else if (r->exit_code != 0) {
		r->status = STEP_ERROR;
		snprintf(r->why, sizeof(r->why), "exited with status %d", r->exit_code);
	} else {
		r->status = r->bytes_out ? STEP_OK : STEP_EMPTY;
	}
}

/* The input the command did not read, into the hash all the same. */
static void hash_rest(struct run *u)
{
	ssize_t n;

	while ((n = pread(u->in, u->feed, FEED_BLOCK, (off_t)u->in_off)) > 0) {
		sha256_update(u->in_hash, u->feed, (size_t)n);
		u->in_off += (uint64_t)n;
	}
	if (n < 0) {
		u->rc = -errno;
		snprintf(u->r->why, sizeof(u->r->why), "reading its input: %s", strerrordesc_np(errno));
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int step_run(const struct step_cmd *cmd, int in, int out, uint64_t out_max,
	     char *const env[], const char *workdir, const volatile bool *stop,
	     struct step_result *r, struct sha256 *in_hash)
{
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	struct run u = { .cmd = cmd, .r = r, .in = in, .out = out, .out_max = out_max,
			 .in_w = -1, .out_r = -1, .err_r = -1, .pidfd = -1,
			 .in_hash = in_hash };
	double t0 = mono();
	char path[4096];
	pid_t parent;

	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	if (!resolve(cmd->argv[0], path, sizeof(path))) {
		r->status = STEP_ERROR;
		r->exit_code = 127;
		snprintf(r->why, sizeof(r->why), "command not found: %s%s", cmd->argv[0],
			 strchr(cmd->argv[0], '/') ? "" : " (PATH=" STEP_PATH ")");
		return 0;
	}
	u.feed = malloc(FEED_BLOCK);
	if (!u.feed || pipe2(inp, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
	    pipe2(errp, O_CLOEXEC) < 0) {
		u.rc = u.feed ? -errno : -ENOMEM;
		snprintf(r->why, sizeof(r->why), "cannot make its pipes: %s", strerrordesc_np(-u.rc));
		goto out_close;
	}
	parent = getpid();
	u.pid = fork();
	if (u.pid < 0) {
		u.rc = -errno;
		snprintf(r->why, sizeof(r->why), "cannot start it: %s", strerrordesc_np(errno));
		goto out_close;
	}
	if (u.pid == 0)
		child_exec(cmd, path, (int[3]){ inp[0], outp[1], errp[1] }, env, workdir, parent);
	setpgid(u.pid, u.pid);	/* as the child does: whichever runs first */
	close_fd(&inp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[1]);
	u.in_w = inp[1];
	u.out_r = outp[0];
	u.err_r = errp[0];
	inp[1] = outp[0] = errp[0] = -1;
	fcntl(u.in_w, F_SETFL, O_NONBLOCK);
	fcntl(u.out_r, F_SETFL, O_NONBLOCK);
	fcntl(u.err_r, F_SETFL, O_NONBLOCK);
	u.pidfd = (int)syscall(SYS_pidfd_open, u.pid, 0);
	run_loop(&u, stop, t0);
	run_result(&u);
	if (in_hash && u.rc == 0)
		hash_rest(&u);
	r->seconds = mono() - t0;
	close_fd(&u.in_w);
	close_fd(&u.out_r);
	close_fd(&u.err_r);
	close_fd(&u.pidfd);
out_close:
	close_fd(&inp[0]);
	close_fd(&inp[1]);
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	free(u.feed);
	return u.rc;
}
