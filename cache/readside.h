/*
 * cache/readside.h - the read side: what was delivered when (readside.c),
 * delivery callbacks (notify.c).  Seen by cache/ only.
 *
 * Virtual paths it serves (all read-only):
 *   FLOW/.time/YYYY/MM/DD/HH/MM/NAME  one JSON line per delivered object
 *   FLOW/.latest                      that line for the flow's last delivery
 *   FLOW/.events, /.events            a growing log of those lines
 *   /.health                          {"healthy","description","version"}
 *   /.tags/TAG/FLOW                   a symlink to ../../FLOW
 * Every function runs with c->lock held unless it says otherwise.
 */
#ifndef FLOWFS_CACHE_READSIDE_H
#define FLOWFS_CACHE_READSIDE_H

#include "internal.h"

/* At mount, before threads: `tags` and `notify` of every flow section are
 * valid; else ERR is "FILE:LINE: [flow.NAME] tags: ..." and -EINVAL. */
int readside_check(const struct cfg *cfg, char *err, size_t errlen);
/* cache_start(): the in-memory logs (seeded from the database) and the
 * notifier thread.  Lock NOT held.  readside_stop() (after c->stopping,
 * lock NOT held) joins it; readside_free() frees what start made. */
int readside_start(struct cache *c);
void readside_stop(struct cache *c);
void readside_free(struct cache *c);
/* The timer's turn: the deliveries log keeps `history_keep`. */
void readside_tick(struct cache *c);

/* Object ID's new state STATE (done at DONE), as object_update_state()
 * sets it; for 'delivered', in the same transaction: its line in the
 * deliveries log and, with `notify`, its callback.  0 or the db's -errno
 * (then nothing changed). */
int readside_settle(struct cache *c, int64_t id, const char *state, double done);

/* P is a read-side path (the names above, and anything under them). */
bool readside_path(const struct cpath *p);
bool readside_name(const char *name);	/* ".time", ".latest" or ".events" */
int readside_getattr(struct cache *c, const struct cpath *p, struct stat *st);
int readside_readdir(struct cache *c, const struct cpath *p, cache_fill_fn fill, void *arg);
/* The read-side entries of the root (P->flow NULL) or of a flow's top. */
void readside_fill(struct cache *c, const struct cpath *p, cache_fill_fn fill, void *arg);
int readside_open(struct cache *c, const struct cpath *p, int flags, struct cache_file **out);
/* .events handles (f->rs set); lock NOT held: they take only the log's lock. */
ssize_t readside_read(struct cache_file *f, char *buf, size_t size, off_t off);
int readside_fgetattr(struct cache_file *f, struct stat *st);

/* notify.c: the notifier thread; notify_wake() after a callback is queued. */
void *notify_main(void *arg);
void notify_wake(struct cache *c);
pthread_cond_t *notify_cond(struct cache *c);	/* what notify_main() waits on */
extern const char readside_schema[];		/* db.c: the tables of the read side */

#endif
