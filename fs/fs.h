/*
 * fs/fs.h - the FUSE side of flowfs.
 *
 * fs/ knows FUSE and the cache API (cache/cache.h), nothing of HTTP or SQL.
 * Every callback turns into one cache_*() call and never blocks on the
 * network.
 */
#ifndef FLOWFS_FS_H
#define FLOWFS_FS_H

#define FUSE_USE_VERSION 35
#include <fuse.h>
#include <stdbool.h>

extern const struct fuse_operations fs_ops;

/* initflags.c: FUSE_INIT flags this libfuse has no name for. */
struct fuse_session;
int initflags_install(struct fuse_session *se);
bool initflags_ask_killpriv_v2(void);

#endif
