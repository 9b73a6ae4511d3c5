/*
 * tests/bench/nullfs.c - a FUSE file system that accepts every write and
 * keeps nothing: the ceiling of any FUSE file system on this kernel, which
 * bench.sh prints beside flowfs.  Every name in its root exists (an empty
 * regular file), can be created, opened, appended to and truncated; every
 * write() returns its full size at once.
 *
 * "direct" opens every file with direct_io, as flowfs opens a stream: each
 * write() is one request to the daemon.  "writeback" lets the kernel cache
 * writes and send them in large requests, the most FUSE can do.  libfuse's
 * high-level API with its multi-threaded loop, as flowfs uses.
 *
 *   nullfs MOUNTPOINT direct|writeback     (stays in front; fusermount3 -u)
 */
#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

static bool writeback;		/* set once in main(), before any thread */

static void *null_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->entry_timeout = 1.0;	/* as flowfs */
	cfg->attr_timeout = 1.0;
	cfg->direct_io = !writeback;
	if (writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	return NULL;
}

static int null_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	memset(st, 0, sizeof(*st));
	st->st_blksize = 1 << 20;	/* as flowfs: cp and cat write 1 MiB at a time */
	st->st_uid = fuse_get_context()->uid;
	st->st_gid = fuse_get_context()->gid;
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
	}
	return 0;
}

static int null_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
			struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	return 0;
}

static int null_open(const char *path, struct fuse_file_info *fi)
{
	return 0;
}

static int null_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return 0;
}

static int null_write(const char *path, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	return (int)size;
}

/* What a write with the writeback cache also asks for; nothing to do. */
static int null_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	return 0;
}

static int null_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	return 0;
}

static int null_unlink(const char *path)
{
	return 0;
}

static struct fuse_operations null_ops = {
	.init = null_init,
	.getattr = null_getattr,
	.readdir = null_readdir,
	.open = null_open,
	.create = null_create,
	.write = null_write,
	.truncate = null_truncate,
	.utimens = null_utimens,
	.unlink = null_unlink,
};

int main(int argc, char **argv)
{
	char *args[] = { argv[0], "-f", "-o", "fsname=nullfs,subtype=nullfs", argc > 1 ? argv[1] : NULL,
			 NULL };

	if (argc != 3 || (strcmp(argv[2], "direct") != 0 && strcmp(argv[2], "writeback") != 0))
		return 64;
	writeback = strcmp(argv[2], "writeback") == 0;
	return fuse_main(5, args, &null_ops, NULL);
}
