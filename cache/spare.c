/*
 * cache/spare.c - spare data files: empty files made before they are needed.
 *
 * Creating a file costs the file system an inode, and ext4 without a
 * journal skips (and reads the inode of) every inode freed in the last
 * half minute: in a directory of a busy file system that is up to 0.4 ms
 * a file, paid under c->lock by every upload's create.  So the timer keeps
 * up to SPARE_MAX empty files in SPOOL/spare, made outside any lock while
 * the spool is idle (nothing created for a second, nothing packed or
 * sent), and a new upload's data file is one of them renamed into
 * SPOOL/data (20 us); when none is left it is created as before.
 *
 * A spare file is empty and no row names it: a crash leaves the pool to
 * the next mount, which keeps the empty ones and removes anything else.
 * Threads: c->spare_lock guards the list; spare_take() is called with or
 * without c->lock, spare_fill() without it (the file system work is done
 * outside spare_lock too).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/log.h"
#include "internal.h"

static void spare_path(const struct cache *c, uint64_t n, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%llu", c->sparedir, (unsigned long long)n);
}

/* Adds spare N to the list; false if it is full.  spare_lock held. */
static bool spare_push(struct cache *c, uint64_t n)
{
	if (c->nspare >= SPARE_MAX)
		return false;
	c->spares[c->nspare++] = n;
	if (n >= c->spare_next)
		c->spare_next = n + 1;
	return true;
}

int spare_init(struct cache *c)
{
	DIR *d;
	struct dirent *e;

	pthread_mutex_init(&c->spare_lock, NULL);
	if (asprintf(&c->sparedir, "%s/spare", c->spool) < 0) {
		c->sparedir = NULL;
		return -ENOMEM;
	}
	if (mkdir(c->sparedir, 0700) < 0 && errno != EEXIST)
		return -errno;
	d = opendir(c->sparedir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {	/* the empty files a crash or unmount left */
		char path[4096], *end;
		unsigned long long n = strtoull(e->d_name, &end, 10);
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		spare_path(c, n, path, sizeof(path));
		if (*end || e->d_name[0] == '0' || lstat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_size != 0 || !spare_push(c, n)) {
			snprintf(path, sizeof(path), "%s/%s", c->sparedir, e->d_name);
			unlink(path);
		}
	}
	closedir(d);
	if (c->spare_next == 0)
		c->spare_next = 1;
	return 0;
}

void spare_free(struct cache *c)
{
	if (!c->sparedir)
		return;
	pthread_mutex_destroy(&c->spare_lock);
	free(c->sparedir);
	c->sparedir = NULL;
}

bool spare_take(struct cache *c, const char *path)
{
	char from[4096];
	uint64_t n;

	if (!c->sparedir)
		return false;
	pthread_mutex_lock(&c->spare_lock);
	if (c->nspare == 0) {
		pthread_mutex_unlock(&c->spare_lock);
		return false;
	}
	n = c->spares[--c->nspare];
	c->spare_taken = now_real();
	pthread_mutex_unlock(&c->spare_lock);
	spare_path(c, n, from, sizeof(from));
	return rename(from, path) == 0;
}

bool spare_idle(struct cache *c, double now)
{
	bool idle;

	pthread_mutex_lock(&c->spare_lock);
	idle = now - c->spare_taken >= 1.0;
	pthread_mutex_unlock(&c->spare_lock);
	return idle;
}

unsigned spare_fill(struct cache *c, unsigned most)
{
	unsigned made = 0;

	if (!c->sparedir)
		return 0;
	while (made < most) {
		char path[4096];
		uint64_t n;
		int fd;

		pthread_mutex_lock(&c->spare_lock);
		n = c->nspare + c->spare_making < SPARE_MAX ? c->spare_next++ : 0;
		if (n)
			c->spare_making++;
		pthread_mutex_unlock(&c->spare_lock);
		if (!n)
			break;
		spare_path(c, n, path, sizeof(path));
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		pthread_mutex_lock(&c->spare_lock);
		c->spare_making--;
		if (fd >= 0 && !spare_push(c, n))
			fd = -1;
		pthread_mutex_unlock(&c->spare_lock);
		if (fd < 0) {	/* a full disk or inode table: no spares for now */
			unlink(path);
			break;
		}
		made++;
	}
	return made;
}
