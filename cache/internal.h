/*
 * cache/internal.h - what the files of cache/ share, and nobody else sees.
 *
 * Locking: one mutex, c->lock, guards the database connection and every
 * in-memory table below (flows, open objects, counters).  File data moves
 * with pread/pwrite outside the lock; network I/O happens in the delivery
 * workers outside the lock.  Lock order: c->lock only (no nesting).
 *
 * Object states in the database (objects.state):
 *   staging    being written (objects.open = 1 since the last write, 0 once
 *              flushed: a flushed object survives a crash and is sealed)
 *   sealing    closed, waiting for the packer (steps, records, compress,
 *              split + hash); objects.stepped counts the steps done
 *   held       sealed, but a path component starts with '.'; queued on rename
 *   queued     one delivery row per sink; some still queued or in flight
 *   delivered  every sink has it; while listed (`retain`, or until the
 *              spool needs the room) its file as written stays, so it
 *              reads back; its packed form is gone
 *   split      read as records (convert.c): its outputs, derived objects
 *              (parent = its id), are delivered in its stead
 *   failed     no delivery pending and at least one failed permanently; or
 *              a write failed (objects.error); or a pipeline step failed
 *              (objects.fstep, objects.error): flowctl retry runs it again
 *   cancelled  unlinked or replaced before delivery
 *   discarded  still open when the daemon died: never acknowledged
 * Users see staging (staging, held), queued (sealing, queued), delivered,
 * failed.  objects.listed = 1 while the object is in the namespace.
 */
#ifndef FLOWFS_CACHE_INTERNAL_H
#define FLOWFS_CACHE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "../backend/sink.h"
#include "../util/buf.h"
#include "../util/cfg.h"
#include "cache.h"
#include "step.h"

#define FLOW_ID_LEN 12

struct flow_perm {			/* the flow keys mode, owner and group */
	mode_t mode;			/* permission bits of the flow's directories */
	uid_t uid;
	gid_t gid;
};

struct transform {			/* a [transform.NAME]: one pipeline step */
	const char *name;		/* the section's */
	struct step_cmd cmd;
};

struct step_retry {			/* a step run again later (it found no room) */
	int64_t id;
	double at;
};

struct flow {
	char id[FLOW_ID_LEN + 1];	/* "fJJSnseETbPF" */
	char *name;
	bool from_config;		/* [flow.NAME] exists: rmdir refused */
	const struct cfg_section *sec;	/* [flow.NAME], or [flowfs] for mkdir flows */
	char **sinks;			/* sink names, NULL-terminated */
	size_t nsinks;
	uint64_t retain;		/* seconds delivered files stay listed */
	uint64_t maxsize, maxlines, rotate;	/* stream chunk triggers (rotate: seconds) */
	const char *compress;		/* chunks: "none", "gz" or "xz" */
	const char *upload_compress;	/* uploads: the same */
	int level;			/* compress_level */
	bool close_durable;		/* durability = close: streams through the writeback cache */
	struct transform **steps;	/* `transforms`, in order */
	size_t nsteps;
	struct flow_perm perm;		/* of the flow's directory and its sub-directories */
	double created, updated;
	struct flow *next;
};

struct open_obj {			/* one per object with open handles */
	int64_t id;
	int refs;			/* open cache_file handles */
	bool dirty;			/* written since the last flush (objects.open = 1) */
	uint64_t size;			/* current size of the data file */
	double mtime;			/* last write or utimens */
	char error[192];		/* the first write, truncate or flush that
					 * failed: at the last close the object is
					 * 'failed' with this, never delivered */
	int early;			/* uploaded while written: 0 not known yet,
					 * 1 yes, -1 no (see worker.c) */
	int writing;			/* writes between their size check and the end
					 * of their pwrite (tracked while early >= 0) */
	uint64_t settled;		/* size when no write was in flight: bytes below
					 * it are on file (tracked while early >= 0) */
	struct open_obj *next;
};

/*
 * An upload sent while it is written (worker.c): its parts are hashed in
 * order, once, by the worker that sends each (the whole file's SHA-256 runs
 * along), and handed to the packer at the last close, which then hashes
 * only what came after.  Protected by c->lock, but for WHOLE, which the
 * worker hashing (HASHING set) uses unlocked.
 */
struct early {
	int64_t id;			/* the object */
	struct sha256 *whole;		/* of bytes [0, hashed * part_size) */
	uint64_t hashed;		/* parts hashed */
	uint64_t next_send;		/* parts handed to a sender (<= hashed) */
	char (*sha)[65];		/* [cap]: the hashes of parts [0, hashed) */
	size_t cap;
	int senders;			/* workers sending one of its parts now */
	uint64_t sent;			/* parts sent to every sink so far */
	bool hashing;			/* a worker hashes part HASHED */
	bool started;			/* its first part went to every sink (or failed) */
	bool queued;			/* in c->early_q */
	bool stale;			/* a write or truncate below what is hashed:
					 * the hashes are of no use to the packer */
	bool stopped;			/* no more parts go early (an error, a rename) */
	bool closed;			/* its last close: no more parts are claimed */
	bool taken;			/* the packer took (or will never take) the hashes */
	struct early *next;
};

struct stream {				/* an append-only file: lines go to its open chunk */
	int64_t id;			/* streams.id */
	char flow_id[FLOW_ID_LEN + 1];
	char *dir, *name;		/* where it is listed */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	bool deleted;			/* unlinked; protected by c->lock */
	pthread_mutex_t lock;		/* guards the fields below; taken before c->lock */
	int64_t chunk;			/* open chunk (object id); 0: none */
	int fd;				/* the open chunk's data file */
	uint64_t bytes, lines;		/* in the open chunk (read racily by getattr) */
	double first;			/* time of the open chunk's first byte */
	double mtime;			/* last append */
	uint64_t next_part;		/* <PART> of the next chunk */
	uint64_t sealed;		/* chunks sealed since mount */
	/* durability = close (stream.c "Through the writeback cache"): */
	bool wb;			/* its flow's and the mount's; set at open */
	uint64_t kend;			/* the kernel's offset of the end of what came */
	int64_t wb_trunc;		/* -1, or the size a truncate set (atomic) */
	bool wb_resync;			/* bytes were lost: skip to the next line */
	int wb_writers;			/* open handles writing through the cache (atomic) */
	struct cache_file *wbf;		/* the writer its pages come through: their
					 * unterminated end (its partial, its tail file) */
	pthread_cond_t wb_cond;		/* a page waits for the bytes before it */
	struct stream *next;		/* protected by c->lock; never freed while mounted */
};

struct cache_file {
	struct cache *c;
	int64_t id;			/* object id; 0 for a virtual file or a stream */
	int fd;				/* data file; -1 for a virtual file */
	bool writable;
	struct open_obj *oo;		/* NULL for a virtual file or a stream */
	struct stream *stream;		/* set for a stream handle */
	char *partial;			/* stream: this writer's unterminated line */
	size_t plen, pcap;
	int tail_fd;			/* stream: its copy in SPOOL/tails; -1: none yet */
	char *tail_path;
	char *vdata;			/* virtual file snapshot; .flowctl: the last answer */
	struct rs_handle *rs;		/* an open .events (readside.c); else NULL */
	size_t vlen;
	bool control;			/* /.flowctl */
	bool wb;			/* a stream writer through the writeback cache */
};

struct seal_req {			/* a closed object, to be marked 'sealing' */
	int64_t id;
	uint64_t size;
	double mtime, sealed;
	char error[192];		/* or 'failed' with this: a write failed */
};

struct sink_slot {			/* a configured sink and its running stats */
	struct sink *sink;
	double last_success;		/* protected by c->lock; 0: never */
	double last_error_at;
	char *last_error;
	double failing_since;		/* its first failure since its last success (health) */
};

/* spare.c: empty files made ahead for new uploads' data files */
#define SPARE_MAX 1024			/* files kept in SPOOL/spare */
#define SPARE_BATCH 256			/* made per timer tick at most */

struct cache {
	const struct cfg *cfg;
	char *spool;			/* absolute spool directory */
	char *datadir;			/* spool/data */
	char *taildir;			/* spool/tails: writers' unterminated lines */
	char *sparedir;			/* spool/spare: empty files for new uploads (spare.c) */
	pthread_mutex_t spare_lock;	/* guards the spare fields below */
	uint64_t spares[SPARE_MAX];	/* names of the files in sparedir */
	unsigned nspare, spare_making;	/* in spares; being made by spare_fill() */
	uint64_t spare_next;		/* the next name */
	double spare_taken;		/* when the last one was taken */
	int lock_fd;			/* flock'ed spool/flowfs.lock */
	uint64_t spool_max, part_size, retry_max, drain_timeout;
	int nworkers;

	pthread_mutex_t lock;
	sqlite3 *db;			/* protected by lock */
	struct stmt_cache *stmts;	/* protected by lock */
	struct flow *flows;		/* protected by lock */
	struct open_obj *open;		/* protected by lock */
	struct stream *streams;		/* protected by lock */
	uint64_t used;			/* bytes of data files; protected by lock */
	uint64_t reserve_size;		/* of SPOOL/flowfs.reserve (reserve.c) */
	bool space_low;			/* no reserve: writes get ENOSPC; protected by lock */
	bool reserve_released;		/* given up at least once since mount */
	bool writeback;			/* the mount has the kernel's writeback cache */
	int64_t unlist_refused;		/* its data went to make room, its row still says
					 * listed (reserve.c); protected by lock */
	uint64_t refused;		/* what spool_take() last refused (health); protected by lock */
	struct readside *rs;		/* the read side (readside.c) */
	struct sink_slot *sinks;	/* fixed after cache_new */
	size_t nsinks;

	pthread_cond_t work_cond;	/* deliveries queued, or stop */
	pthread_cond_t pack_cond;	/* objects to seal, or stop */
	int64_t *pack_q;		/* object ids to seal; protected by lock */
	size_t pack_n, pack_cap;
	int64_t *pack_retry;		/* ids whose sealing failed for now (an I/O
					 * error); protected by lock */
	size_t pack_retry_n, pack_retry_cap;
	double pack_retry_at;		/* when they are queued again; protected by lock */
	struct seal_req *seal_retry;	/* closed objects the db did not yet take as
					 * 'sealing'; protected by lock */
	size_t seal_retry_n, seal_retry_cap;
	bool held_retry;		/* a visible object is still 'held'; protected by lock */
	unsigned tails_kept;		/* SPOOL/tails/k.* wait to be appended: bumped
					 * for each; protected by lock */
	bool stopping;			/* protected by lock */
	bool packing;			/* the packer is sealing one; protected by lock */
	int inflight;			/* deliveries being sent; protected by lock */
	struct outcome *unrecorded;	/* outcomes the db refused, written again by
					 * the timer; protected by lock */
	bool unrecorded_logged;		/* the first refusal was logged */
	int64_t *early_q;		/* open uploads with a whole part to claim;
					 * protected by lock */
	size_t early_n, early_cap;
	struct early *early;		/* uploads sent while written; protected by lock */
	struct transform *transforms;	/* [transform.NAME]; fixed after cache_new */
	size_t ntransforms;
	char *stepdir;			/* spool/steps: the steps' working directories */
	pthread_cond_t step_cond;	/* objects to run steps on, or stop */
	int64_t *step_q;		/* ids whose steps are to run; protected by lock */
	size_t step_n, step_cap;
	int stepping;			/* stepper threads running one; protected by lock */
	struct step_retry *step_retry;	/* protected by lock */
	size_t step_retry_n, step_retry_cap;
	volatile bool step_stop;	/* running steps end: unmounting */
	int nsteppers;			/* stepper threads: workers, or 0 with no step */
	pthread_t *workers, *steppers;
	pthread_t packer, timer;
	bool started;
};

/* db.c: statements cached by the address of their SQL text (string literals).
 * FMT letters bind in order: 'i' int64_t, 'n' int, 'd' double, 't' text
 * (NULL binds NULL), 'b' blob (pointer then size_t).  Caller holds c->lock. */
int db_open(struct cache *c, const char *path, char *err, size_t errlen);
void db_close(struct cache *c);
sqlite3_stmt *db_stmt(struct cache *c, const char *sql, const char *fmt, ...);
int db_exec(struct cache *c, const char *sql, const char *fmt, ...);	/* 0 or -EIO */
int64_t db_int(struct cache *c, const char *sql, const char *fmt, ...);	/* first column or -1 */
/* The first column of every row of ST (from db_stmt; NULL gives none) in
 * *OUT (malloc'd, caller frees); how many.  Lock held. */
size_t db_ids(struct cache *c, sqlite3_stmt *st, int64_t **out);
int db_begin(struct cache *c);
int db_end(struct cache *c, int rc);
/* A passive checkpoint: true if it copied the whole WAL into the database,
 * so that the next write starts the WAL over (in the room it already
 * has) instead of growing it: what a full disk leaves to try. */
bool db_wal_restartable(struct cache *c);
int db_errno(struct cache *c, int rc);
extern const char claim_sql[];	/* worker.c: a worker's next delivery */	/* SQLITE_FULL -> -ENOSPC, else -EIO, logged */

/* spool.c */
double now_real(void);
void cache_data_path(const struct cache *c, int64_t id, char *out, size_t outlen);
/* data/ID, or data/ID.gz / data/ID.xz once packed. */
void cache_packed_path(const struct cache *c, int64_t id, const char *packed, char *out,
		       size_t outlen);
struct flow *flow_find(struct cache *c, const char *name);	/* caller holds lock */
struct flow *flow_by_id(struct cache *c, const char *id);	/* caller holds lock */
struct sink_slot *sink_slot_find(struct cache *c, const char *name);
struct flow *flow_add(struct cache *c, const char *id, const char *name, const char *sinks_db,
		      double created, double updated);
/* perm.c: reads mode, owner and group of SEC into OUT; on -EINVAL, *BAD_KEY
 * names the key and MSG says what is wrong ("unknown user 'bob'"). */
int flow_perm(const struct cfg_section *sec, struct flow_perm *out, const char **bad_key,
	      char *msg, size_t len);
/* At mount: every flow section's permissions resolve; else ERR is
 * "FILE:LINE: [flow.NAME] owner: unknown user 'bob'" and -EINVAL. */
int check_flow_perms(const struct cfg *cfg, char *err, size_t errlen);
int flow_create(struct cache *c, const char *name, const char *source, struct flow **out);
void flow_remove(struct cache *c, struct flow *f);	/* from memory; caller holds lock */
/* Removes object ID's data files, the FORMS named: DATA_RAW (the file as
 * written, data/ID), DATA_PACKED (its compressed form, data/ID.KIND, and
 * its last pipeline step's output, data/ID.sN), and
 * takes their sizes off c->used.  Caller holds lock. */
/* Removes data file PATH and takes its size off c->used; lock held. */
void unlink_counted(struct cache *c, const char *path);
/* ERR = "FILE:LINE: [SECTION] KEY: MSG" for KEY of SEC; -EINVAL. */
int key_error(const struct cfg *cfg, const struct cfg_section *sec, const char *key,
	      const char *msg, char *err, size_t errlen);
#define DATA_RAW	1u
#define DATA_PACKED	2u
#define DATA_ALL	(DATA_RAW | DATA_PACKED)
void cache_unlink_data(struct cache *c, int64_t id, unsigned forms);

/* spare.c */
int spare_init(struct cache *c);	/* after the spool lock: keeps what a last mount left */
void spare_free(struct cache *c);	/* NULL-safe; leaves the files for the next mount */
/* Renames a spare file to PATH; false if none is left (then create PATH). */
bool spare_take(struct cache *c, const char *path);
/* No spare taken in the second before NOW: the time to make more. */
bool spare_idle(struct cache *c, double now);
/* Makes up to MOST spare files (c->lock not held); how many it made. */
unsigned spare_fill(struct cache *c, unsigned most);
void ts_iso(double t, char *out, size_t outlen);	/* "2026-11-22T14:00:00.123456Z" */

/* ERR = "FILE:LINE: [SECTION] KEY: MSG" for KEY of SEC (or the line of the
 * section when KEY comes from [flowfs]); -EINVAL. */
int key_error(const struct cfg *cfg, const struct cfg_section *sec, const char *key,
	      const char *msg, char *err, size_t errlen);

/* reserve.c: SPOOL/flowfs.reserve, room for recording deliveries on a full
 * disk.  Lock held for all but reserve_init (at mount, before threads). */
void reserve_init(struct cache *c);
void reserve_fill(struct cache *c);	/* the timer: back when there is room */
bool reserve_release(struct cache *c);	/* true if there was one to give up */
/* CALL (0 or -errno), made once more if it failed for lack of space and the
 * reserve could be given up for it: for the bookkeeping that frees space
 * (recording a delivery, sealing, cancelling), never for new data. */
#define RESERVE_RETRY(c, call) __extension__ ({				\
	int rr_ = (call);						\
	if (rr_ == -ENOSPC && (reserve_release(c) ||			\
			       spool_reclaim(c, (c)->reserve_size) > 0 ||	\
			       db_wal_restartable(c)))			\
		rr_ = (call);						\
	rr_;								\
})
/* Takes N bytes of spool for data: false (ENOSPC) past spool_max, or while
 * the reserve is given up. */
bool spool_take(struct cache *c, uint64_t n);
bool spool_room(const struct cache *c, uint64_t n);	/* the same check, taking nothing */
/* spool_room, after taking back delivered files' room if it is short. */
bool spool_make_room(struct cache *c, uint64_t n);
/* Takes delivered files out of the listing, oldest delivery first, and
 * removes their data until NEED bytes are freed or none is left: the room
 * they hold is the spool's to take back.  Bytes freed; lock held. */
uint64_t spool_reclaim(struct cache *c, uint64_t need);
uint64_t spool_reclaimable(struct cache *c);	/* bytes spool_reclaim could free; lock held */

/* path.c: "/flow/a/b" -> flow, dir "a", name "b".  */
struct cpath {
	struct flow *flow;	/* NULL for the root, or if no such flow */
	char *flowname;		/* first component; "" for the root */
	char *dir;		/* "" at the flow's top; "a/b" below */
	char *name;		/* last component; "" for the flow itself */
	char *rel;		/* "a/b/name" */
	char *buf;		/* owns the strings */
};
int cpath_parse(struct cache *c, const char *path, struct cpath *p);	/* caller holds lock */
void cpath_free(struct cpath *p);
/* Takes c->lock and parses PATH; cpath_unlock() frees P and drops the lock. */
int cpath_lock(struct cache *c, const char *path, struct cpath *p);
void cpath_unlock(struct cache *c, struct cpath *p);
bool path_hidden(const char *rel);	/* a component starts with '.' */
bool name_reserved(const struct cpath *p);	/* .flow / .status at a flow's top */
/* -EINVAL if the new name P ends in has a control character or a backslash:
 * keys could not carry it unchanged, and two names would share one key. */
int name_check_new(const struct cpath *p);

/* Why failed object o (an alias of objects) is not delivered: its own
 * error (a write failed), else the error of a sink that failed it for good.
 * An SQL expression, for xattr.c and status.c. */
#define OBJ_WHY_FAILED								\
	"coalesce(o.error, (SELECT d.sink || ': ' || coalesce(d.last_error, 'failed') "	\
	"FROM deliveries d WHERE d.object = o.id AND d.state = 'failed' ORDER BY d.sink LIMIT 1), "	\
	"'failed')"

/* ns.c */
struct objrow {				/* a listed object, as stored */
	int64_t id;
	char state[16];
	uint64_t size;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	double mtime, ctime;
};
int obj_lookup(struct cache *c, const struct cpath *p, struct objrow *r);	/* -ENOENT */
int obj_by_id(struct cache *c, int64_t id, struct objrow *r);	/* any state */
/* "flow/dir/name" of object ID for logs ("object ID" if unknown); lock held. */
void obj_name(struct cache *c, int64_t id, char *out, size_t outlen);
bool obj_has_data(const char *state);	/* the data file still exists */
const char *state_public(const char *state);	/* "held" -> "staging", ... */
void obj_stat(struct cache *c, const struct objrow *r, struct stat *st);
struct open_obj *open_obj_find(struct cache *c, int64_t id);
/* Queues every held object a rename made visible; what the db refuses
 * sets c->held_retry, and the timer calls this again.  Lock held. */
void held_release(struct cache *c);
int obj_cancel(struct cache *c, int64_t id);	/* 0 or the db's -errno */
/* Delivered object ID leaves the listing and its data goes; 0 or -errno. */
int obj_unlist(struct cache *c, int64_t id);
bool parent_exists(struct cache *c, const struct cpath *p);
/* FILL for the first column of every row of S (NULL: -EIO) with ST; lock held. */
int fill_names(sqlite3_stmt *s, const struct stat *st, cache_fill_fn fill, void *arg);

/* packer.c */
void *packer_main(void *arg);
void packer_enqueue(struct cache *c, int64_t id);	/* caller holds lock */
/* The last close of staging object ID (SIZE bytes, last written at MTIME):
 * marks it 'sealing' and queues it for the packer, or, when one of its
 * writes failed (ERROR not NULL), marks it 'failed' with ERROR: never
 * delivered.  When the db refuses (a full disk), the timer marks it again
 * every second (packer_retry) and sync counts it pending meanwhile.  Lock
 * held. */
void object_seal(struct cache *c, int64_t id, uint64_t size, double mtime, const char *error);
/* Appends ID to the growable array *V (*N used, *CAP allocated); false when
 * out of memory. */
bool ids_push(int64_t **v, size_t *n, size_t *cap, int64_t id);
int object_queue_deliveries(struct cache *c, int64_t id);	/* caller holds lock */
/* Held object ID is visible now: to its sinks, or (records) to the packer
 * to be converted.  Lock held; 0 or the db's -errno. */
int object_release(struct cache *c, int64_t id);

/* convert.c: the records stage (see there) */
bool convert_wanted(const struct flow *f, const char *rel, bool chunk);	/* it reads records */
/* Object ID is read as records when packed: not derived, and its flow
 * reads records under its name now.  Lock held. */
bool obj_converts(struct cache *c, int64_t id);
/* Converts sealing object ID into its outputs, queued for the packer;
 * then it is 'split'.  Lock NOT held.  0 or -errno (nothing is left: it
 * is converted again). */
int convert_object(struct cache *c, int64_t id);

/* pipeline.c: pipeline steps (see there) */
int transforms_load(struct cache *c, char *err, size_t errlen);	/* at cache_new */
void transforms_free(struct cache *c);
int flow_steps(struct cache *c, struct flow *f);	/* F's steps from its `transforms` */
void steps_enqueue(struct cache *c, int64_t id);	/* lock held */
void steps_retry(struct cache *c);	/* the timer: runs due again; lock held */
void *stepper_main(void *arg);
/* Object ID has steps still to run (not derived; fewer done than its
 * flow has).  Lock held. */
bool obj_steps_pending(struct cache *c, int64_t id);
/* FORM of object ID's last step's output ("s2": data/ID.s2), "" when no
 * step ran; what packing reads, at cache_source_path.  Lock held. */
void step_form(struct cache *c, int64_t id, char form[8]);
void cache_source_path(struct cache *c, int64_t id, char *out, size_t outlen);
void history_prune(struct cache *c);	/* older than history_keep; lock held */
/* Deletes the runs of F (NULL: all flows) at least DAYS old; how many, or
 * -1.  Lock held. */
int64_t history_clean(struct cache *c, const struct flow *f, double days);
int history_json(struct cache *c, const struct flow *f, struct buf *b);	/* .history; lock held */

/* worker.c */
/* Object ID's state from its outputs' (split, delivered or failed); lock held. */
void parent_settle(struct cache *c, int64_t id);
void *worker_main(void *arg);
/* Object ID's upload started while it was written is dropped (a rename,
 * new metadata): it is sent whole after its last close.  Lock held. */
void early_forget(struct cache *c, int64_t id);

/* early.c: uploads sent while written (see there).  All with the lock held. */
struct early *early_find(struct cache *c, int64_t id);
/* OO's settled size may make a new whole part: the workers send it while
 * the file is still written (S3, GCS, Azure). */
void early_note(struct cache *c, struct open_obj *oo);
/* A write of OO from OFF, counted in oo->writing, is on file (or failed). */
void early_wrote(struct cache *c, struct open_obj *oo, uint64_t off);
void early_truncated(struct cache *c, struct open_obj *oo, uint64_t size);
/* The last close of object ID; SEALED: it goes to the packer. */
void early_closed(struct cache *c, int64_t id, bool sealed);
/* Queues object E for a worker when a part of it can be claimed. */
void early_kick(struct cache *c, struct early *e);
/* A worker's turn on object ID: 1 with part *K (hashed: SHA) to send,
 * then early_release(); 0 after hashing a part (the lock was dropped
 * meanwhile): ask again; -EAGAIN when there is nothing to do now, or the
 * read's -errno (no more parts go early). */
int early_next(struct cache *c, int64_t id, uint64_t *k, char sha[65]);
/* The worker is done with part K (SENT or not: then no more go early);
 * true if no other worker sends parts of ID. */
bool early_release(struct cache *c, int64_t id, uint64_t k, bool sent);
void early_stop(struct cache *c, int64_t id);	/* no more parts of ID go early */
/* For the packer: the hashes of object ID's first parts (the return, 0 if
 * none, or stale), *SHA (malloc'd, caller frees) and the whole file's
 * SHA-256 over them, *WHOLE (caller continues it and frees it).  Waits
 * while a part is half hashed. */
uint64_t early_take(struct cache *c, int64_t id, struct sha256 **whole, char (**sha)[65]);
void early_free_all(struct cache *c);	/* cache_free */
void *timer_main(void *arg);
/* The timer's turn: objects whose sealing failed for now go back to the
 * packer once their time has come; lock held. */
void packer_retry(struct cache *c);
void outcomes_free(struct cache *c);	/* at close, after the threads: a last try, then frees */
int object_update_state(struct cache *c, int64_t id);	/* caller holds lock; 0 or -errno */

/* status.c: JSON of the virtual files; caller holds lock. */
int status_root_json(struct cache *c, struct buf *b);
int status_flow_json(struct cache *c, struct flow *f, struct buf *b);
int flow_json(struct cache *c, struct flow *f, struct buf *b);

/* compress.c: KIND one of compress_kinds ("gz", "xz", ...); reads IN from
 * its start to its end, adding what it reads to RAW when not NULL. */
extern const char *const compress_kinds[];	/* NULL-terminated */
struct sha256;
int compress_fd(int in, int out, const char *kind, int level, struct sha256 *raw);
/* The cores one compression may use: those no other one uses, at least 1;
 * given back when it ends. */
int compress_cores_take(void);
void compress_cores_give(int n);

/* file.c: fsync() of a directory; 0 or -errno */
int fsync_dir(const char *path);

/* stream.c */
int streams_load(struct cache *c);
void streams_free(struct cache *c);
/* The stream at P, or NULL; "stream" at a flow's top is created on demand
 * when CREATE.  Lock held. */
struct stream *stream_find(struct cache *c, const struct cpath *p, bool create, mode_t mode,
			   uid_t uid, gid_t gid);
int stream_handle(struct cache *c, struct stream *s, int flags, struct cache_file **out);
ssize_t stream_write(struct cache_file *f, const char *buf, size_t size, off_t off);
/* durability = close: a page of stream F's from the writeback cache. */
ssize_t stream_write_back(struct cache_file *f, const char *buf, size_t size, off_t off);
int stream_flush(struct cache_file *f);	/* a close: its unterminated end is stored */
void stream_truncated(struct cache_file *f, uint64_t size);	/* the kernel's size now */
void stream_release(struct cache_file *f);
int stream_fsync(struct cache_file *f);
void stream_stat(const struct stream *s, struct stat *st);
int stream_unlink(struct cache *c, struct stream *s);	/* lock NOT held */
int streams_rotate(struct cache *c, const char *flow, bool due_only);	/* lock NOT held; sealed count */
void stream_status_json(struct cache *c, const struct flow *f, struct buf *b);	/* lock held */
bool stream_implicit(const struct cpath *p);	/* "stream" at a flow's top */
/* Trims a recovered chunk to its last whole line (or SYNCED bytes). */
void chunk_trim(const char *path, int64_t synced);
/* The unterminated lines of writers that are gone, in SPOOL/tails: at a
 * crash, tails_settle() drops those whose line reached a chunk (before open
 * chunks are trimmed and sealed) and keeps the others; tails_append()
 * appends what is kept, at recovery and from the timer (after a close on a
 * full disk).  True if nothing is left.  Lock NOT held. */
void tails_settle(struct cache *c);
bool tails_append(struct cache *c);

/* control.c: the /.flowctl file */
int control_command(struct cache *c, const char *cmd, size_t len, struct buf *answer);
ssize_t control_write(struct cache_file *f, const char *buf, size_t size);

/* template.c */
struct tmpl_vars {
	const char *flow, *flowid, *stream, *path, *host;
	uint64_t seq, part;
	time_t t;
	/* <FIELD:name>: the text of a record's field into OUT; 0, or -ENOENT
	 * when missing (the token's fallback is used).  NULL: no record. */
	int (*field)(void *ctx, const char *name, char *out, size_t outlen);
	void *field_ctx;
};
/* Renders TMPL into OUT; every value is made safe (no '/', '..', control
 * characters, empty segments; <PATH> keeps its '/').  0, -EINVAL (bad key)
 * or -ENAMETOOLONG. */
int tmpl_render(const char *tmpl, const struct tmpl_vars *v, char *out, size_t outlen);
bool tmpl_has_fields(const char *tmpl);	/* it has a <FIELD:...> token */

/* worker.c: keys */
struct obj_vars {			/* what an object's key is rendered from */
	struct tmpl_vars v;		/* points into the fields below */
	struct flow *f;
	bool chunk;			/* a stream chunk (or made from one) */
	bool derived;			/* made by records: its key is fixed */
	char rel[4096];			/* its path in the flow: <PATH>, <STREAM> */
	char host[256];
};
int object_vars(struct cache *c, int64_t id, struct obj_vars *ov);	/* lock held; -ENOENT */
/* OV's key by its flow's template (filename or uploads), without a sink's
 * prefix; -EINVAL or -ENAMETOOLONG with ERR saying why. */
int object_key(const struct obj_vars *ov, char *out, size_t outlen, char *err, size_t errlen);


#endif
