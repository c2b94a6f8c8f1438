/* common/sibling.c — files next to our executable (see sibling.h). */
#include "sibling.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sibling_path(const char *name, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	return (size_t)snprintf(out, len, "%s/%s", self, name) < len ? 0 : -1;
}

const char *sibling_hook(char *why, size_t len)
{
	static char buf[PATH_MAX];
	const char *env = getenv("FORKMON_HOOK");
	if (env && *env) {
		if (access(env, R_OK) == 0)
			return env;
		snprintf(why, len, "cannot read the hook '%s' (FORKMON_HOOK): %s", env, strerror(errno));
		return NULL;
	}
	if (sibling_path("forkmonhook.so", buf, sizeof buf) == 0 && access(buf, R_OK) == 0)
		return buf;
	snprintf(why, len, "cannot find forkmonhook.so next to the forkmon executable (set FORKMON_HOOK)");
	return NULL;
}
