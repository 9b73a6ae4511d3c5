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

extern const struct fuse_operations fs_ops;

#endif
