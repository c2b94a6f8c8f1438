/* common/exe.c — the PATH search, and execvp's shell fallback (see exe.h). Runs in the
 * monitor and the client. */
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

int exe_shell_argv(const char *exe, char *const *argv, char **out, size_t max)
{
	size_t n = 0;
	while (argv[0] && argv[n + 1])
		n++; /* the arguments after argv[0] */
	if (n + 3 > max)
		return -1;
	out[0] = (char *)EXE_SHELL;
	out[1] = (char *)exe;
	for (size_t i = 0; i < n; i++)
		out[2 + i] = argv[1 + i];
	out[2 + n] = NULL;
	return 0;
}
