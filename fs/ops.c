/*
 * fs/ops.c - FUSE operations (high-level, path-based API).
 *
 * Each operation forwards to the cache with the caller's identity from
 * fuse_get_context().  File handles are struct cache_file pointers in
 * fi->fh.  Virtual files (.status, .flow) are opened with direct_io so the
 * kernel reads their freshly rendered JSON whatever size stat reported.
 * Runs concurrently under fuse_loop_mt; the cache does its own locking.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../cache/cache.h"
#include "../util/log.h"
#include "fs.h"

static struct cache *fs_cache(void)
{
	return fuse_get_context()->private_data;
}

static struct cache_file *fs_file(const struct fuse_file_info *fi)
{
	return (struct cache_file *)(uintptr_t)fi->fh;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->hard_remove = 1;		/* unlink cancels; never .fuse_hidden renames */
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 1.0;
	cfg->negative_timeout = 0;
	cfg->use_ino = 0;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;	/* O_TRUNC reaches open() */
	/* Writes reach us before write() returns, unless a flow asks for
	 * durability = close: then the kernel's writeback cache is on for the
	 * mount, and every file that must not use it is opened direct_io. */
	if (cache_wants_writeback(fs_cache()) && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
		cache_set_writeback(fs_cache(), true);
		log_info("flowfs", "the kernel's writeback cache is on: streams of durability = close "
			 "flows are acknowledged at close and fsync");
		/* Else the kernel asks for security.capability before every
		 * cached write: a round trip per write(2) after all. */
		if (!initflags_ask_killpriv_v2())
			log_warn("flowfs", "the kernel cannot leave set-id bits to flowfs "
				 "(FUSE_HANDLE_KILLPRIV_V2): every cached write asks for its "
				 "security.capability");
	} else {
		if (cache_wants_writeback(fs_cache()))
			log_warn("flowfs", "the kernel offers no writeback cache: durability = close "
				 "streams are written as with durability = write");
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
		cache_set_writeback(fs_cache(), false);
	}

	return fuse_get_context()->private_data;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (fi && fi->fh)
		return cache_fgetattr(fs_file(fi), st);
	return cache_getattr(fs_cache(), path, st);
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t filler;
};

static int fs_fill(void *arg, const char *name, const struct stat *st)
{
	struct fill_ctx *fc = arg;

	return fc->filler(fc->buf, name, st, 0, 0);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fill_ctx fc = { buf, filler };

	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	return cache_readdir(fs_cache(), path, fs_fill, &fc);
}

static int fs_mkdir(const char *path, mode_t mode)
{
	struct fuse_context *ctx = fuse_get_context();

	return cache_mkdir(fs_cache(), path, mode, ctx->uid, ctx->gid);
}

static int fs_rmdir(const char *path)
{
	return cache_rmdir(fs_cache(), path);
}

static int fs_unlink(const char *path)
{
	return cache_unlink(fs_cache(), path);
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	return cache_rename(fs_cache(), from, to, flags);
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return cache_chmod(fs_cache(), path, mode);
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	return cache_chown(fs_cache(), path, uid, gid);
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	if (fi && fi->fh)
		return cache_ftruncate(fs_file(fi), size);
	return cache_truncate(fs_cache(), path, size);
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	return cache_utimens(fs_cache(), path, tv);
}

/* Hands the kernel a new handle, with how it must treat the file. */
static int fs_handle(struct fuse_file_info *fi, struct cache_file *f)
{
	fi->fh = (uintptr_t)f;
	fi->direct_io = cache_file_direct(f);
	fi->keep_cache = cache_file_cached(f);
	fi->noflush = !cache_file_needs_flush(f);
	return 0;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_context *ctx = fuse_get_context();
	struct cache_file *f;
	int rc = cache_create(fs_cache(), path, fi->flags, mode, ctx->uid, ctx->gid, &f);

	return rc ? rc : fs_handle(fi, f);
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct cache_file *f;
	int rc = cache_open(fs_cache(), path, fi->flags, &f);

	return rc ? rc : fs_handle(fi, f);
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	return (int)cache_read(fs_file(fi), buf, size, off);
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	if (fi->writepage)
		return (int)cache_write_back(fs_file(fi), buf, size, off);
	return (int)cache_write(fs_file(fi), buf, size, off);
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	return cache_flush(fs_file(fi));
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	return cache_fsync(fs_file(fi), datasync != 0);
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	return cache_release(fs_file(fi));
}

static int fs_readlink(const char *path, char *buf, size_t size)
{
	return cache_readlink(fs_cache(), path, buf, size);
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	return cache_statfs(fs_cache(), st);
}

static int fs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	/* No file here has security.* attributes.  With the writeback cache
	 * the kernel asks for security.capability before writes (once per
	 * file with FUSE_HANDLE_KILLPRIV_V2, else before every one): answered
	 * at once, without the path or the lock. */
	if (strncmp(name, "security.", 9) == 0)
		return -ENODATA;
	return cache_getxattr(fs_cache(), path, name, value, size);
}

static int fs_setxattr(const char *path, const char *name, const char *value, size_t size,
		       int flags)
{
	return cache_setxattr(fs_cache(), path, name, value, size, flags);
}

static int fs_listxattr(const char *path, char *list, size_t size)
{
	return cache_listxattr(fs_cache(), path, list, size);
}

static int fs_removexattr(const char *path, const char *name)
{
	return cache_removexattr(fs_cache(), path, name);
}

const struct fuse_operations fs_ops = {
	.init		= fs_init,
	.getattr	= fs_getattr,
	.readdir	= fs_readdir,
	.mkdir		= fs_mkdir,
	.rmdir		= fs_rmdir,
	.unlink		= fs_unlink,
	.rename		= fs_rename,
	.chmod		= fs_chmod,
	.chown		= fs_chown,
	.truncate	= fs_truncate,
	.utimens	= fs_utimens,
	.create		= fs_create,
	.open		= fs_open,
	.read		= fs_read,
	.write		= fs_write,
	.flush		= fs_flush,
	.fsync		= fs_fsync,
	.release	= fs_release,
	.statfs		= fs_statfs,
	.readlink	= fs_readlink,
	.getxattr	= fs_getxattr,
	.setxattr	= fs_setxattr,
	.listxattr	= fs_listxattr,
	.removexattr	= fs_removexattr,
};
