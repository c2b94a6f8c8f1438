/* common/sockpath.c — the helper's socket path and its private directory (see sockpath.h). */
#include "sockpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void helper_socket_path(const char *given, char *out, size_t len)
{
	const char *env = getenv("FORKMON_HELPER_SOCKET");
	const char *rt = getenv("XDG_RUNTIME_DIR");
	if (given && *given)
		snprintf(out, len, "%s", given);
	else if (env && *env)
		snprintf(out, len, "%s", env);
	else if (rt && *rt && access(rt, W_OK) == 0)
		snprintf(out, len, "%s/forkmon/helper.sock", rt);
	else
		snprintf(out, len, "/tmp/forkmon-%d/helper.sock", (int)getuid());
}

int helper_private_dir(const char *sock, char *err, size_t errlen)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", sock);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir) {
		snprintf(err, errlen, "'%s': the socket needs a directory of its own", sock);
		return -1;
	}
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
		return -1;
	}
	struct stat st;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077)) {
		snprintf(err, errlen, "'%s' is not a private directory of user %d (mode 0700); refusing it", dir,
			 (int)getuid());
		return -1;
	}
	return 0;
}
