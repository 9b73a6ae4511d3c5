/*
 * cache/path.c - splitting mount paths into flow, directory and name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "readside.h"

int cpath_parse(struct cache *c, const char *path, struct cpath *p)
{
	char *slash, *last;

	memset(p, 0, sizeof(*p));
	while (*path == '/')
		path++;
	p->buf = malloc(strlen(path) * 2 + 4);
	if (!p->buf)
		return -ENOMEM;
	/* buf: "flow\0rel\0" then a copy of rel split as "dir\0name\0". */
	strncpy(p->buf, path, strlen(path) + 1);
	p->flowname = p->buf;
	slash = strchr(p->buf, '/');
	p->rel = slash ? slash + 1 : p->buf + strlen(p->buf);
	if (slash)
		*slash = '\0';
	for (const char *s = p->flowname; *s; s = strchr(s, '/') ? strchr(s, '/') + 1 : "")
		if (strcspn(s, "/") > 255)
			return -ENAMETOOLONG;
	for (const char *s = p->rel; *s; s += strcspn(s, "/") + (s[strcspn(s, "/")] == '/'))
		if (strcspn(s, "/") > 255)
			return -ENAMETOOLONG;
	p->dir = p->rel + strlen(p->rel) + 1;
	memcpy(p->dir, p->rel, strlen(p->rel) + 1);
	last = strrchr(p->dir, '/');
	if (last) {
		*last = '\0';
		p->name = last + 1;
	} else {
		p->name = p->dir;
		p->dir = p->dir + strlen(p->dir);	/* "" */
	}
	if (*p->flowname)
		p->flow = flow_find(c, p->flowname);
	return 0;
}

void cpath_free(struct cpath *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

bool path_hidden(const char *rel)
{
	for (const char *s = rel; *s; ) {
		if (*s == '.')
			return true;
		s += strcspn(s, "/");
		if (*s == '/')
			s++;
	}
	return false;
}

bool name_reserved(const struct cpath *p)
{
	return !*p->dir && (strcmp(p->name, ".flow") == 0 || strcmp(p->name, ".status") == 0 ||
			    strcmp(p->name, ".history") == 0 || readside_name(p->name));
}

int name_check_new(const struct cpath *p)
{
	for (const unsigned char *s = (const unsigned char *)p->name; *s; s++)
		if (*s < 0x20 || *s == 0x7f || *s == '\\')
			return -EINVAL;
	return 0;
}

int cpath_lock(struct cache *c, const char *path, struct cpath *p)
{
	pthread_mutex_lock(&c->lock);
	return cpath_parse(c, path, p);
}

void cpath_unlock(struct cache *c, struct cpath *p)
{
	cpath_free(p);
	pthread_mutex_unlock(&c->lock);
}
