/*
 * cache/cache.h - the spool, as fs/ sees it.
 *
 * The cache owns the spool directory: a SQLite database in WAL mode (flows,
 * directories, objects, parts, deliveries) and one data file per object.
 * fs/ calls these functions from concurrent FUSE threads; none of them
 * touches the network.  Paths are absolute paths inside the mount:
 * "/web/2026/q4/a.bin"; the first component is the flow.
 *
 * Life of an upload:
 *   create/open (state staging, data file in the spool) -> writes (pwrite to
 *   the data file) -> flush (records "closed at size N" so a kill -9 after
 *   close() returned loses nothing) -> last release (sealed: the packer
 *   thread splits it into parts and hashes them) -> queued (one delivery row
 *   per sink) -> workers deliver -> delivered (data file removed).
 *
 * All functions return 0 or -errno unless said otherwise.
 */
#ifndef FLOWFS_CACHE_H
#define FLOWFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "../util/cfg.h"

/* The mode bits flowfs keeps: permissions and sticky, never set-user-ID or
 * set-group-ID (files here are data to ship, not programs; and with the
 * kernel's writeback cache flowfs, not the kernel, would have to drop them
 * on every write by another user). */
#define CACHE_MODE_BITS 01777

extern const struct cfg_key cache_global_keys[];
extern const struct cfg_key cache_flow_keys[];
extern const struct cfg_key cache_transform_keys[];

struct cache;
struct cache_file;	/* an open file handle */

/*
 * cache_new - check the config's sinks, take the spool lock and open the
 * database.  Prints nothing; on failure ERR says why ("spool /x is in use by
 * flowfs pid 123").  Does not start threads: call cache_start() after any
 * fork().  Borrows CFG for the cache's lifetime.
 */
int cache_new(struct cache **out, const struct cfg *cfg, char *err, size_t errlen);
/* Starts the packer, the delivery workers and the timer thread. */
int cache_start(struct cache *c);
/* Stops the threads (waits up to drain_timeout for deliveries in flight),
 * closes the database and releases the lock.  NULL-safe. */
void cache_free(struct cache *c);

/* Attributes of PATH; regular files, directories and the virtual files. */
int cache_getattr(struct cache *c, const char *path, struct stat *st);
/* Calls FILL for every entry of directory PATH (not "." or ".."). */
typedef int (*cache_fill_fn)(void *arg, const char *name, const struct stat *st);
int cache_readdir(struct cache *c, const char *path, cache_fill_fn fill, void *arg);

int cache_mkdir(struct cache *c, const char *path, mode_t mode, uid_t uid, gid_t gid);
int cache_rmdir(struct cache *c, const char *path);
int cache_unlink(struct cache *c, const char *path);
int cache_rename(struct cache *c, const char *from, const char *to, unsigned flags);
int cache_chmod(struct cache *c, const char *path, mode_t mode);
int cache_chown(struct cache *c, const char *path, uid_t uid, gid_t gid);
int cache_utimens(struct cache *c, const char *path, const struct timespec tv[2]);
int cache_truncate(struct cache *c, const char *path, off_t size);
int cache_statfs(struct cache *c, struct statvfs *st);
/* The target of symlink PATH (/.tags/TAG/FLOW) into BUF, NUL-terminated. */
int cache_readlink(struct cache *c, const char *path, char *buf, size_t size);

/* durability = close in [flowfs] or a flow: the mount wants the kernel's
 * writeback cache (fs_init asks for it and says whether it got it). */
bool cache_wants_writeback(struct cache *c);
void cache_set_writeback(struct cache *c, bool on);

/* Open handles.  FLAGS are open(2) flags.  cache_create makes a new file
 * (or truncates a visible one); O_APPEND makes a stream.  cache_open opens
 * an existing one. */
int cache_create(struct cache *c, const char *path, int flags, mode_t mode, uid_t uid,
		 gid_t gid, struct cache_file **out);
int cache_open(struct cache *c, const char *path, int flags, struct cache_file **out);
/* The kernel must not cache this file's pages: virtual files, whose content
 * is made at open, and streams, whose appends go straight to the chunk
 * (but for durability = close writers: cache_file_cached). */
bool cache_file_direct(const struct cache_file *f);
/* A durability = close stream's writer: its appends go through the
 * kernel's writeback cache, whose pages the kernel keeps from open to open. */
bool cache_file_cached(const struct cache_file *f);
/* Uploads need the kernel's flush at every close(): it records the file as
 * acknowledged, and so do writers through the writeback cache.  Other
 * streams are acknowledged write by write. */
bool cache_file_needs_flush(const struct cache_file *f);
ssize_t cache_read(struct cache_file *f, char *buf, size_t size, off_t off);
ssize_t cache_write(struct cache_file *f, const char *buf, size_t size, off_t off);
/* A write from the kernel's writeback cache: pages of the file by offset,
 * through any handle open for writing (a stream reassembles its lines). */
ssize_t cache_write_back(struct cache_file *f, const char *buf, size_t size, off_t off);
int cache_ftruncate(struct cache_file *f, off_t size);
int cache_fgetattr(struct cache_file *f, struct stat *st);
int cache_flush(struct cache_file *f);
int cache_fsync(struct cache_file *f, bool datasync);
/* Last close of the handle: seals an upload.  Frees F. */
int cache_release(struct cache_file *f);

/* Extended attributes: user.flowfs.state, user.flowfs.sha256 (read-only)
 * and user.meta.* (settable until delivery starts).  Getters follow the
 * getxattr(2) size protocol: SIZE 0 asks for the length. */
int cache_getxattr(struct cache *c, const char *path, const char *name, char *value,
		   size_t size);
int cache_setxattr(struct cache *c, const char *path, const char *name, const char *value,
		   size_t size, int flags);
int cache_listxattr(struct cache *c, const char *path, char *list, size_t size);
int cache_removexattr(struct cache *c, const char *path, const char *name);

#endif
