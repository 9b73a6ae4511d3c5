/*
 * fs/initflags.c - ask the kernel for FUSE_INIT flags this libfuse cannot
 * name.
 *
 * libfuse before 3.17 has no FUSE_CAP_HANDLE_KILLPRIV_V2.  Without it, a
 * kernel with the writeback cache asks the daemon for security.capability
 * before every cached write(2) (to drop it), so a one-line write costs a
 * round trip after all.  With it (kernel 5.11 and later) the file system
 * takes over dropping set-id bits and capabilities, the superblock is
 * SB_NOSEC, and the kernel asks once per inode.
 *
 * libfuse lets a file system read and write /dev/fuse itself
 * (fuse_session_custom_io).  These hooks are plain read(2), writev(2) and
 * splice(2), except for one message: the reply to FUSE_INIT, where the
 * wanted flags the kernel offered are added.  A kernel that offered none
 * of them gets libfuse's reply unchanged.
 */
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"		/* FUSE_USE_VERSION first */
#include <fuse_lowlevel.h>

/* What the kernel offered in FUSE_INIT, and what its reply adds. */
static _Atomic uint32_t offered, wanted;
static _Atomic uint64_t init_unique;
static _Atomic int init_state;		/* 0 before INIT, 1 INIT read, 2 replied */

static ssize_t io_read(int fd, void *buf, size_t len, void *ud)
{
	ssize_t n = read(fd, buf, len);

	if (atomic_load(&init_state) == 0 &&
	    n >= (ssize_t)(sizeof(struct fuse_in_header) + offsetof(struct fuse_init_in, flags2))) {
		const struct fuse_in_header *h = buf;
		const struct fuse_init_in *in = (const void *)(h + 1);

		if (h->opcode == FUSE_INIT) {
			atomic_store(&offered, in->major == 7 && in->minor >= 33 ? in->flags : 0);
			atomic_store(&init_unique, h->unique);
			atomic_store(&init_state, 1);
		}
	}
	return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *ud)
{
	static struct fuse_init_out out;	/* the INIT reply, written once */

	if (atomic_load(&init_state) == 1 && count >= 2 &&
	    iov[0].iov_len >= sizeof(struct fuse_out_header) &&
	    ((const struct fuse_out_header *)iov[0].iov_base)->unique == atomic_load(&init_unique)) {
		const struct fuse_out_header *h = iov[0].iov_base;
		uint32_t add = atomic_load(&wanted) & atomic_load(&offered);

		atomic_store(&init_state, 2);
		if (h->error == 0 && add && iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + 4 &&
		    iov[1].iov_len <= sizeof(out)) {
			memcpy(&out, iov[1].iov_base, iov[1].iov_len);
			out.flags |= add;
			iov[1].iov_base = &out;
		}
	}
	return writev(fd, iov, count);
}

/* Both ways: libfuse offers splice only when the hooks have it. */
static ssize_t io_splice(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			 unsigned int flags, void *ud)
{
	return splice(fdin, offin, fdout, offout, len, flags);
}

int initflags_install(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = io_read,
		.writev = io_writev,
		.splice_receive = io_splice,
		.splice_send = io_splice,
	};

	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

/* From the init operation, which runs between reading FUSE_INIT and
 * writing its reply: add FLAG to the reply if the kernel offered it. */
static bool ask(uint32_t flag)
{
	if (atomic_load(&init_state) != 1 || !(atomic_load(&offered) & flag))
		return false;
	atomic_fetch_or(&wanted, flag);
	return true;
}

/* The file system takes over dropping set-id bits and security.capability
 * on write, chown and truncate (it keeps none of either). */
bool initflags_ask_killpriv_v2(void)
{
	return ask(FUSE_HANDLE_KILLPRIV_V2);
}
