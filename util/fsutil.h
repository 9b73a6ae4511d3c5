/*
 * util/fsutil.h - small file-system helpers shared by the daemon and flowctl.
 */
#ifndef FLOWFS_FSUTIL_H
#define FLOWFS_FSUTIL_H

#include <stddef.h>

/* Writes all N bytes of P to FD (retrying short writes and EINTR); 0 or -errno. */
int write_all(int fd, const void *p, size_t n);
/* Removes PATH and everything under it, never following a symlink nor
 * leaving PATH's file system; what cannot be removed stays. */
void rm_tree(const char *path);

#endif
