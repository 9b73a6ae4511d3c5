/*
 * cache/reserve.c - room for the spool's own bookkeeping on a full disk.
 *
 * A delivered object frees its data file only once its outcome is in the
 * database, and writing the outcome needs room for SQLite's WAL.  When the
 * spool's file system fills up (writers got ENOSPC) and the database cannot
 * grow, nothing could be recorded and nothing freed: the spool would stay
 * full for good.  So the spool keeps SPOOL/flowfs.reserve, a few MiB
 * allocated at mount.  When the workers' bookkeeping is refused for lack of
 * space, the reserve is given up and the write tried again; from then on the
 * spool is "low": writes get ENOSPC at once, so the room freed by each
 * delivery goes to the next outcome, not to a writer.  Meanwhile the timer
 * checkpoints the WAL every second (so it can start over rather than grow)
 * and re-creates the reserve once the file system has twice its size free
 * again, which ends the low state.
 *
 * Delivered files stay listed (and their data in the spool) for `retain`;
 * they are the first to go when room is short: spool_take() and sealing
 * take them out of the listing, oldest delivery first, before a writer
 * gets ENOSPC (spool_reclaim).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../util/log.h"
#include "internal.h"

#define RESERVE_MAX (4u << 20)

static void reserve_path(const struct cache *c, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/flowfs.reserve", c->spool);
}

/* Bytes free for us on the spool's file system, or -1. */
static int64_t spool_free(const struct cache *c, uint64_t *total)
{
	struct statvfs sv;

	if (statvfs(c->spool, &sv) < 0)
		return -1;
	if (total)
		*total = (uint64_t)sv.f_blocks * sv.f_frsize;
	return (int64_t)((uint64_t)sv.f_bavail * sv.f_frsize);
}

void reserve_init(struct cache *c)
{
	uint64_t total = 0;

	spool_free(c, &total);
	/* 4 MiB, but no more than 1/16 of a small file system */
	c->reserve_size = total / 16 < RESERVE_MAX ? total / 16 : RESERVE_MAX;
	c->space_low = true;
	reserve_fill(c);
	if (c->space_low)
		log_warn("spool", "%s has less than %llu KiB free: writes get ENOSPC until "
			 "deliveries or you free some", c->spool,
			 (unsigned long long)(2 * c->reserve_size) >> 10);
}

/* Bytes free for the reserve (open as FD): what the file system has, and
 * what the reserve holds already; -1 if unknown. */
static int64_t reserve_avail(const struct cache *c, int fd)
{
	int64_t avail = spool_free(c, NULL);
	struct stat st;

	if (avail >= 0 && fstat(fd, &st) == 0)
		avail += (int64_t)st.st_blocks * 512;
	return avail;
}

void reserve_fill(struct cache *c)
{
	char path[4096];
	int64_t avail;
	int fd, rc;

	if (!c->space_low)
		return;
	/* Only a successful commit triggers SQLite's own checkpoint: copy the
	 * WAL into the database now, so that it can start over instead of
	 * growing (a reader that held it back may be gone). */
	if (c->db)
		sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	reserve_path(c, path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	avail = reserve_avail(c, fd);
	/* delivered files still listed give their room back for it */
	if (avail >= 0 && avail < (int64_t)(2 * c->reserve_size) &&
	    spool_reclaim(c, 2 * c->reserve_size - (uint64_t)avail) > 0)
		avail = reserve_avail(c, fd);
	rc = avail >= (int64_t)(2 * c->reserve_size) && ftruncate(fd, (off_t)c->reserve_size) == 0 ?
	     posix_fallocate(fd, 0, (off_t)c->reserve_size) : ENOSPC;
	close(fd);
	if (rc)
		return;
	if (c->reserve_released)
		log_info("spool", "the spool's file system has room again: writes are accepted, "
			 "the %llu KiB reserve is back", (unsigned long long)c->reserve_size >> 10);
	c->space_low = false;
}

bool reserve_release(struct cache *c)
{
	char path[4096];
	bool had = !c->space_low;

	if (!had)
		return false;
	reserve_path(c, path, sizeof(path));
	if (truncate(path, 0) < 0 && errno != ENOENT)
		log_warn("spool", "truncate %s: %m", path);
	c->space_low = true;
	c->reserve_released = true;
	log_warn("spool", "the spool's file system is full: the %llu KiB reserve is given to "
		 "recording deliveries; writes get ENOSPC until there is room again",
		 (unsigned long long)c->reserve_size >> 10);
	return true;
}

bool spool_room(const struct cache *c, uint64_t n)
{
	return !c->space_low && c->used + n <= c->spool_max;
}

uint64_t spool_reclaimable(struct cache *c)
{
	int64_t n = db_int(c, "SELECT coalesce(sum(size), 0) FROM objects INDEXED BY objects_reclaim "
			   "WHERE state = 'delivered' AND listed = 1", NULL);

	return n > 0 ? (uint64_t)n : 0;
}

/* obj_unlist(), once more if the db was full and the WAL can start over
 * in the room it has. */
static int unlist_roomy(struct cache *c, int64_t id)
{
	int rc = obj_unlist(c, id);

	if (rc == -ENOSPC && db_wal_restartable(c))
		rc = obj_unlist(c, id);
	return rc;
}

uint64_t spool_reclaim(struct cache *c, uint64_t need)
{
	uint64_t freed = 0;
	int rc;

	while (freed < need) {
		sqlite3_stmt *st = db_stmt(c, "SELECT id, size FROM objects INDEXED BY objects_reclaim "
					   "WHERE state = 'delivered' AND listed = 1 ORDER BY done, id LIMIT 1",
					   NULL);
		int64_t id = 0, size = 0;

		if (st && sqlite3_step(st) == SQLITE_ROW) {
			id = sqlite3_column_int64(st, 0);
			size = sqlite3_column_int64(st, 1);
		}
		if (st)
			sqlite3_reset(st);
		if (!id)
			break;
		if (id == c->unlist_refused) {
			/* its data went already, its row was refused: once more */
			if (unlist_roomy(c, id) != 0)
				break;	/* only the db can go on now */
			c->unlist_refused = 0;
			continue;
		}
		rc = unlist_roomy(c, id);
		if (rc == -ENOSPC) {
			/* too full even to record that: its data goes first (it
			 * was delivered), then the row, with the room that made */
			cache_unlink_data(c, id, DATA_ALL);
			if (obj_unlist(c, id) != 0) {
				log_err("spool", "object %lld: its data went to make room, but the "
					"database still refuses to take it out of the listing; "
					"trying again", (long long)id);
				c->unlist_refused = id;
				freed += (uint64_t)(size > 0 ? size : 0);
				break;
			}
		} else if (rc) {
			break;	/* the db refused for another reason */
		}
		log_info("spool", "object %lld (%lld bytes, delivered) leaves the listing early: "
			 "the spool needs the room", (long long)id, (long long)size);
		freed += (uint64_t)(size > 0 ? size : 0);
	}
	return freed;
}

bool spool_make_room(struct cache *c, uint64_t n)
{
	if (!spool_room(c, n)) {
		/* over spool_max: what is missing; with the reserve given up:
		 * enough for it to come back, and N */
		uint64_t need = c->space_low ? n + 2 * c->reserve_size :
				c->used + n - c->spool_max;

		if (spool_reclaim(c, need) > 0)
			reserve_fill(c);
	}
	return spool_room(c, n);
}

bool spool_take(struct cache *c, uint64_t n)
{
	if (!spool_make_room(c, n)) {
		c->refused = n;	/* .health: the spool is full */
		return false;
	}
	c->used += n;
	return true;
}
