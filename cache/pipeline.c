/*
 * cache/pipeline.c - pipeline steps: the packing stage before records and
 * compression.
 *
 * A flow's `transforms = a, b` names [transform.NAME] sections; every
 * sealed object of the flow (chunk or upload; not what records made of
 * one) runs through them in order, each step reading the previous one's
 * output.  The runs happen in `workers` stepper threads, never on a
 * writer's path.  Step K (from 0) reads data/ID (K = 0) or data/ID.sK and
 * writes data/ID.sK+1 (via .tmp, fsynced, renamed); objects.stepped counts
 * the steps done and moves in the same breath as the file is kept, so a
 * kill -9 during a step runs that step again, once, at the next mount, and
 * the object is delivered once.  When all steps are done the object goes
 * back to the packer, which reads data/ID.sN in place of data/ID.
 *
 * Outcomes: OK goes on; EMPTY (no output) drops the object, nothing is
 * delivered; ERROR and TIMEOUT fail the object at that step (objects.fstep,
 * the reason in objects.error), and `flowctl retry` runs it again from
 * there; a step whose output passes the spool's room is an ERROR of that
 * run, and the object is run again later.  Every run is a row of the
 * history table (.history), kept for history_keep.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fsutil.h"
#include "../util/hash.h"
#include "../util/log.h"
#include "internal.h"
#include "step.h"

#define STEP_RETRY_SECONDS 30.0	/* a run that found no room: again after this */

/* ---- [transform.NAME] ---- */

/* SEC's user: *AS_USER false to run as flowfs itself. */
static int transform_user(const struct cfg_section *sec, struct step_cmd *cmd, char *msg,
			  size_t msglen)
{
	const char *name = cfg_str(sec, "user");
	struct passwd pw, *res = NULL;
	char buf[4096];

	if ((!name || !*name) && geteuid() != 0) {
		cmd->as_user = false;
		return 0;
	}
	if (!name || !*name)
		name = "nobody";
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res) {
		snprintf(msg, msglen, "unknown user '%s'%s", name,
			 strcmp(name, "nobody") == 0 && !cfg_str(sec, "user")[0] ?
			 " (the default when flowfs runs as root)" : "");
		return -EINVAL;
	}
	if (res->pw_uid != geteuid() && geteuid() != 0) {
		snprintf(msg, msglen, "flowfs runs as uid %u and cannot run steps as '%s'",
			 (unsigned)geteuid(), name);
		return -EINVAL;
	}
	cmd->as_user = res->pw_uid != geteuid();
	cmd->uid = res->pw_uid;
	cmd->gid = res->pw_gid;
	return 0;
}

int transforms_load(struct cache *c, char *err, size_t errlen)
{
	const struct cfg *cfg = c->cfg;
	char msg[256];

	c->transforms = calloc(cfg->ntransforms ? cfg->ntransforms : 1, sizeof(*c->transforms));
	if (!c->transforms)
		return -ENOMEM;
	rm_tree(c->stepdir);	/* working directories of runs cut short */
	if (mkdir(c->stepdir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "[flowfs] spool: cannot create %s: %s", c->stepdir,
			 strerrordesc_np(errno));
		return -errno;
	}
	for (size_t i = 0; i < cfg->ntransforms; i++) {
		const struct cfg_section *sec = cfg->transforms[i];
		struct transform *t = &c->transforms[i];

		t->name = sec->name;
		t->cmd.timeout = cfg_seconds(sec, "timeout");
		if (step_split(cfg_str(sec, "command"), &t->cmd, msg, sizeof(msg)))
			return key_error(cfg, sec, "command", msg, err, errlen);
		c->ntransforms++;
		if (transform_user(sec, &t->cmd, msg, sizeof(msg)))
			return key_error(cfg, sec, "user", msg, err, errlen);
	}
	return 0;
}

void transforms_free(struct cache *c)
{
	for (size_t i = 0; i < c->ntransforms; i++)
		step_cmd_free(&c->transforms[i].cmd);
	free(c->transforms);
}

int flow_steps(struct cache *c, struct flow *f)
{
	size_t n;
	char **names = cfg_list(f->sec, "transforms", &n);

	if (!names)
		return -ENOMEM;
	f->steps = calloc(n ? n : 1, sizeof(*f->steps));
	for (size_t i = 0; f->steps && i < n; i++)
		for (size_t k = 0; k < c->ntransforms; k++)
			if (strcmp(c->transforms[k].name, names[i]) == 0)
				f->steps[f->nsteps++] = &c->transforms[k];	/* all there: cfg checked */
	cfg_list_free(names);
	return f->steps ? 0 : -ENOMEM;
}

/* ---- the queue ---- */

void steps_enqueue(struct cache *c, int64_t id)
{
	if (!ids_push(&c->step_q, &c->step_n, &c->step_cap, id)) {
		log_err("pipeline", "out of memory: object %lld runs its steps at the next mount",
			(long long)id);
		return;
	}
	pthread_cond_signal(&c->step_cond);
}

void steps_retry(struct cache *c)
{
	size_t kept = 0;
	double now = now_real();

	for (size_t i = 0; i < c->step_retry_n; i++) {
		if (c->step_retry[i].at <= now)
			steps_enqueue(c, c->step_retry[i].id);
		else
			c->step_retry[kept++] = c->step_retry[i];
	}
	c->step_retry_n = kept;
}

static void step_later(struct cache *c, int64_t id)
{
	if (c->step_retry_n == c->step_retry_cap) {
		size_t ncap = c->step_retry_cap ? c->step_retry_cap * 2 : 16;
		struct step_retry *v = realloc(c->step_retry, ncap * sizeof(*v));

		if (!v) {
			log_err("pipeline", "out of memory: object %lld runs its steps at the next "
				"mount", (long long)id);
			return;
		}
		c->step_retry = v;
		c->step_retry_cap = ncap;
	}
	c->step_retry[c->step_retry_n++] = (struct step_retry){ id, now_real() + STEP_RETRY_SECONDS };
}

bool obj_steps_pending(struct cache *c, int64_t id)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT flow, coalesce(stepped, 0) FROM objects WHERE id = ? "
				   "AND kind != 'derived'", "i", id);
	struct flow *f = NULL;
	int64_t done = 0;

	if (st && sqlite3_step(st) == SQLITE_ROW) {
		f = flow_by_id(c, (const char *)sqlite3_column_text(st, 0));
		done = sqlite3_column_int64(st, 1);
	}
	if (st)
		sqlite3_reset(st);
	return f && (size_t)done < f->nsteps;
}

/* The data file suffix of the output of K steps: "s2"; "" for none. */
static void form_of(int64_t k, char form[8])
{
	form[0] = '\0';
	if (k > 0)
		snprintf(form, 8, "s%d", (int)k);
}

void step_form(struct cache *c, int64_t id, char form[8])
{
	form_of(db_int(c, "SELECT coalesce(stepped, 0) FROM objects WHERE id = ?", "i", id), form);
}

void cache_source_path(struct cache *c, int64_t id, char *out, size_t outlen)
{
	char form[8];

	step_form(c, id, form);
	cache_packed_path(c, id, form, out, outlen);
}

/* ---- one run ---- */

struct step_job {
	int64_t id;
	struct flow *f;
	const struct transform *t;
	size_t k;			/* the step's index in the flow's list */
	bool chunk;
	char key[1024], source[4096];
	char in[4096], out[4096], tmp[4200], work[4096];
	uint64_t out_max;
	char *env[8];
	char envbuf[6][1200];
};

/* Fills J for object ID's next step; -ENOENT when it is gone or no longer
 * sealing, -EALREADY when its steps are done.  Lock held. */
static int job_plan(struct cache *c, int64_t id, struct step_job *j)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT coalesce(stepped, 0) FROM objects WHERE id = ? "
				   "AND state = 'sealing' AND kind != 'derived'", "i", id);
	struct obj_vars ov;
	char err[256], form[8];
	int64_t k = -1;

	memset(j, 0, offsetof(struct step_job, env));
	if (st && sqlite3_step(st) == SQLITE_ROW)
		k = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	if (k < 0 || object_vars(c, id, &ov) != 0)
		return -ENOENT;
	j->id = id;
	j->f = ov.f;
	j->k = (size_t)k;
	if (j->k >= j->f->nsteps)
		return -EALREADY;
	j->t = j->f->steps[j->k];
	j->chunk = ov.chunk;
	if (object_key(&ov, j->key, sizeof(j->key), err, sizeof(err)) != 0)
		snprintf(j->key, sizeof(j->key), "%.1000s", ov.rel);	/* said at delivery */
	snprintf(j->source, sizeof(j->source), "%s", ov.rel);
	cache_source_path(c, id, j->in, sizeof(j->in));
	form_of((int64_t)j->k + 1, form);
	cache_packed_path(c, id, form, j->out, sizeof(j->out));
	snprintf(j->tmp, sizeof(j->tmp), "%s.tmp", j->out);
	snprintf(j->work, sizeof(j->work), "%s/%lld.%zu", c->stepdir, (long long)id, j->k);
	j->out_max = c->spool_max > c->used ? c->spool_max - c->used : 1;
	snprintf(j->envbuf[0], sizeof(j->envbuf[0]), "FLOWFS_FLOW=%s", j->f->name);
	snprintf(j->envbuf[1], sizeof(j->envbuf[1]), "FLOWFS_KEY=%s", j->key);
	snprintf(j->envbuf[2], sizeof(j->envbuf[2]), "FLOWFS_SOURCE=%.1100s", j->source);
	snprintf(j->envbuf[3], sizeof(j->envbuf[3]), "FLOWFS_STEP=%s", j->t->name);
	for (int i = 0; i < 4; i++)
		j->env[i] = j->envbuf[i];
	j->env[4] = "PATH=/usr/local/bin:/usr/bin:/bin";
	j->env[5] = "HOME=/";
	j->env[6] = "LANG=C.UTF-8";
	j->env[7] = NULL;
	return 0;
}

/* A fresh empty working directory, the step's user's own. */
static int workdir_make(const struct step_job *j)
{
	rm_tree(j->work);	/* left by a run cut short */
	if (mkdir(j->work, 0700) < 0)
		return -errno;
	if (j->t->cmd.as_user && chown(j->work, j->t->cmd.uid, j->t->cmd.gid) < 0) {
		int e = -errno;
		rmdir(j->work);
		return e;
	}
	return 0;
}

/* Runs J's step; R says how it went.  0, or -errno when the run could not
 * happen (R->why says why): tried again later.  Lock not held. */
static int job_run(struct cache *c, struct step_job *j, struct step_result *r, char raw[65])
{
	int in = -1, out = -1, rc;
	struct sha256 *h = j->k == 0 ? sha256_new() : NULL;

	memset(r, 0, sizeof(*r));
	rc = workdir_make(j);
	if (rc) {
		snprintf(r->why, sizeof(r->why), "cannot make its working directory %.150s: %s", j->work,
			 strerrordesc_np(-rc));
		goto out;
	}
	in = open(j->in, O_RDONLY | O_CLOEXEC);
	out = open(j->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (in < 0 || out < 0 || (j->k == 0 && !h)) {
		rc = in < 0 || out < 0 ? -errno : -ENOMEM;
		snprintf(r->why, sizeof(r->why), "cannot open %.180s: %s", in < 0 ? j->in : j->tmp,
			 strerrordesc_np(-rc));
		goto out;
	}
	rc = step_run(&j->t->cmd, in, out, j->out_max, j->env, j->work, &c->step_stop, r, h);
	if (rc == 0 && r->status == STEP_OK && (fsync(out) < 0 || rename(j->tmp, j->out) < 0)) {
		rc = -errno;
		snprintf(r->why, sizeof(r->why), "keeping its output %.180s: %s", j->out,
			 strerrordesc_np(-rc));
	}
	if (h)
		sha256_final_hex(h, raw);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rc || r->status != STEP_OK)
		unlink(j->tmp);
	rm_tree(j->work);
	sha256_free(h);
	return rc;
}

/* The last line of stderr that says something, for logs and errors. */
static void err_last_line(const struct step_result *r, char *out, size_t outlen)
{
	const char *e = r->err + r->err_len, *b;

	while (e > r->err && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' '))
		e--;
	for (b = e; b > r->err && b[-1] != '\n'; b--)
		;
	snprintf(out, outlen, "%.*s", (int)(e - b), b);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < ' ')
			*p = ' ';
}

/* Text a JSON string may hold: bytes that are not UTF-8 become '?'. */
static void utf8_clean(char *s, size_t n)
{
	for (size_t i = 0; i < n; ) {
		unsigned char b = (unsigned char)s[i];
		size_t len = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 :
			     (b & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = len > 0 && i + len <= n && !(len == 2 && b < 0xc2);

		for (size_t k = 1; ok && k < len; k++)
			ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
		if (!ok) {
			s[i++] = '?';
			continue;
		}
		i += len;
	}
}

static int history_add(struct cache *c, const struct step_job *j, struct step_result *r)
{
	utf8_clean(r->err, r->err_len);
	return db_exec(c, "INSERT INTO history(t, flow, object, key, source, step, status, exit, "
		       "signal, seconds, bytes_in, bytes_out, why, stderr) VALUES "
		       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "dtittttnndiitt", now_real(),
		       j->f->id, j->id, j->key, j->source, j->t->name, step_status_name(r->status),
		       r->exit_code, r->signal, r->seconds, (int64_t)r->bytes_in, (int64_t)r->bytes_out,
		       r->why[0] ? r->why : NULL, r->err);
}

/* J's run ended with R (RC from job_run): the history and the object say
 * so.  True if the next step runs.  Lock held. */
static bool job_done(struct cache *c, struct step_job *j, int rc, struct step_result *r,
		     const char *raw)
{
	char name[1200], last[200], msg[700];
	struct stat st;
	bool cancelled = db_int(c, "SELECT count(*) FROM objects WHERE id = ? AND state = 'sealing'",
				"i", j->id) != 1;

	snprintf(name, sizeof(name), "%.100s/%.1000s", j->f->name, j->source);
	if (r->status == STEP_STOPPED || cancelled) {	/* unmounting, or rm'd meanwhile */
		unlink(j->out);
		return false;
	}
	if (rc || r->status == STEP_FULL) {
		r->status = STEP_FULL;
		RESERVE_RETRY(c, history_add(c, j, r));
		log_err("pipeline", "%s: step %s: %s; running it again in %.0fs", name, j->t->name,
			r->why, STEP_RETRY_SECONDS);
		unlink(j->out);
		step_later(c, j->id);
		return false;
	}
	if (RESERVE_RETRY(c, history_add(c, j, r)) != 0)
		log_err("pipeline", "%s: step %s: its run cannot be recorded in the history",
			name, j->t->name);
	err_last_line(r, last, sizeof(last));
	if (j->k == 0)
		db_exec(c, "UPDATE objects SET sha256 = ? WHERE id = ?", "ti", raw, j->id);
	switch (r->status) {
	case STEP_OK:
		if (stat(j->out, &st) == 0)
			c->used += (uint64_t)st.st_size;
		if (db_exec(c, "UPDATE objects SET stepped = ? WHERE id = ?", "ii",
			    (int64_t)j->k + 1, j->id) != 0) {
			unlink(j->out);	/* the step runs again */
			c->used -= (uint64_t)st.st_size;
			step_later(c, j->id);
			return false;
		}
		if (j->k > 0)	/* the previous step's output is done with */
			unlink_counted(c, j->in);
		return true;
	case STEP_EMPTY:
		log_info("pipeline", "%s: step %s gave no output (EMPTY): nothing is delivered",
			 name, j->t->name);
		if (j->k > 0)
			unlink_counted(c, j->in);
		db_exec(c, "UPDATE objects SET state = 'delivered', stepped = ?, done = ?, "
			"psize = 0, psha256 = NULL WHERE id = ?", "idi", (int64_t)j->k + 1, now_real(),
			j->id);
		if (j->chunk)
			cache_unlink_data(c, j->id, DATA_RAW);
		pthread_cond_broadcast(&c->work_cond);
		return false;
	default:
		snprintf(msg, sizeof(msg), "step %s %s%s%.200s", j->t->name, r->why, last[0] ? ": " : "",
			 last);
		log_err("pipeline", "%s: %s; state failed, flowctl retry runs it again", name, msg);
		db_exec(c, "UPDATE objects SET state = 'failed', fstep = ?, error = ? WHERE id = ?",
			"iti", (int64_t)j->k, msg, j->id);
		pthread_cond_broadcast(&c->work_cond);
		return false;
	}
}

/* Object ID through the rest of its steps, then back to the packer. */
static void steps_run(struct cache *c, int64_t id)
{
	struct step_job *j = malloc(sizeof(*j));
	struct step_result *r = malloc(sizeof(*r));
	char raw[65] = "";
	bool more = j && r;
	int rc;

	while (more) {
		pthread_mutex_lock(&c->lock);
		rc = job_plan(c, id, j);
		if (rc == -EALREADY)
			packer_enqueue(c, id);
		pthread_mutex_unlock(&c->lock);
		if (rc)
			break;
		rc = job_run(c, j, r, raw);
		pthread_mutex_lock(&c->lock);
		more = job_done(c, j, rc, r, raw);
		pthread_mutex_unlock(&c->lock);
	}
	if (!j || !r) {
		pthread_mutex_lock(&c->lock);
		step_later(c, id);
		pthread_mutex_unlock(&c->lock);
	}
	free(j);
	free(r);
}

void *stepper_main(void *arg)
{
	struct cache *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->stopping && c->step_n == 0)
			pthread_cond_wait(&c->step_cond, &c->lock);
		if (c->stopping)
			break;	/* the rest stays 'sealing': its steps run at the next mount */
		int64_t id = c->step_q[0];
		memmove(c->step_q, c->step_q + 1, --c->step_n * sizeof(*c->step_q));
		c->stepping++;
		pthread_mutex_unlock(&c->lock);
		steps_run(c, id);
		pthread_mutex_lock(&c->lock);
		c->stepping--;
		pthread_cond_broadcast(&c->work_cond);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- the history ---- */

void history_prune(struct cache *c)
{
	for (const struct flow *f = c->flows; f; f = f->next)
		db_exec(c, "DELETE FROM history WHERE flow = ? AND t < ?", "td", f->id,
			now_real() - (double)cfg_seconds(f->sec, "history_keep"));
	/* what flows that are gone ran */
	db_exec(c, "DELETE FROM history WHERE t < ? AND flow NOT IN (SELECT id FROM flows WHERE "
		"deleted IS NULL)", "d", now_real() - (double)cfg_seconds(c->cfg->global, "history_keep"));
}

int64_t history_clean(struct cache *c, const struct flow *f, double days)
{
	if (db_exec(c, "DELETE FROM history WHERE (?1 IS NULL OR flow = ?1) AND t <= ?2", "td",
		    f ? f->id : NULL, now_real() - days * 86400.0) != 0)
		return -1;
	return sqlite3_changes(c->db);
}

int history_json(struct cache *c, const struct flow *f, struct buf *b)
{
	sqlite3_stmt *st = db_stmt(c, "SELECT t, key, source, step, status, exit, signal, seconds, "
				   "bytes_in, bytes_out, why, stderr, object FROM history "
				   "WHERE flow = ? ORDER BY id", "t", f->id);
	char ts[40];

	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW) {
		ts_iso(sqlite3_column_double(st, 0), ts, sizeof(ts));
		buf_printf(b, "{\"time\":\"%s\",\"flow\":", ts);
		buf_json_str(b, f->name);
		buf_printf(b, ",\"key\":");
		buf_json_str(b, (const char *)sqlite3_column_text(st, 1));
		buf_printf(b, ",\"source\":");
		buf_json_str(b, (const char *)sqlite3_column_text(st, 2));
		buf_printf(b, ",\"step\":");
		buf_json_str(b, (const char *)sqlite3_column_text(st, 3));
		buf_printf(b, ",\"status\":\"%s\"", sqlite3_column_text(st, 4));
		if (sqlite3_column_int(st, 5) < 0)	/* a signal, or it never ran */
			buf_printf(b, ",\"exit\":null");
		else
			buf_printf(b, ",\"exit\":%d", sqlite3_column_int(st, 5));
		if (sqlite3_column_int(st, 6))
			buf_printf(b, ",\"signal\":%d", sqlite3_column_int(st, 6));
		else
			buf_printf(b, ",\"signal\":null");
		buf_printf(b, ",\"seconds\":%.3f,\"bytes_in\":%lld,\"bytes_out\":%lld,\"object\":%lld",
			   sqlite3_column_double(st, 7), (long long)sqlite3_column_int64(st, 8),
			   (long long)sqlite3_column_int64(st, 9), (long long)sqlite3_column_int64(st, 12));
		buf_printf(b, ",\"why\":");
		if (sqlite3_column_type(st, 10) == SQLITE_NULL)
			buf_printf(b, "null");
		else
			buf_json_str(b, (const char *)sqlite3_column_text(st, 10));
		buf_printf(b, ",\"stderr\":");
		buf_json_str(b, sqlite3_column_text(st, 11) ? (const char *)sqlite3_column_text(st, 11) : "");
		buf_printf(b, "}\n");
	}
	sqlite3_reset(st);
	return 0;
}
