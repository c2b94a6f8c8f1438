/* common/exe.c — the PATH search (see exe.h). */
#include "exe.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Is cand what we are looking for? 0, or -errno. */
static int exe_try(const char *cand, const char *skip)
{
	struct stat st;
	if (stat(cand, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	if (access(cand, X_OK) < 0)
		return -EACCES;
	char real[PATH_MAX];
	if (skip && realpath(cand, real) && strcmp(real, skip) == 0)
		return -ENOENT;
	return 0;
}

int exe_find(const char *cmd, const char *path, const char *skip, char *out, size_t len)
{
	if (!*cmd)
		return -ENOENT;
	if (strchr(cmd, '/')) {
		if ((size_t)snprintf(out, len, "%s", cmd) >= len)
			return -ENAMETOOLONG;
		return access(out, X_OK) == 0 ? 0 : -errno;
	}
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	int err = -ENOENT;
	for (const char *p = path;;) {
		const char *e = strchr(p, ':');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if ((size_t)snprintf(out, len, "%.*s%s%s", (int)l, p, l ? "/" : "", cmd) < len) {
			int r = exe_try(out, skip);
			if (r == 0)
				return 0;
			if (r == -EACCES)
				err = r;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return err;
}
