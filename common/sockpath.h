/*
 * common/sockpath.h — where the helper's socket lives; shared by the client and the helper.
 *
 * --socket PATH, else $FORKMON_HELPER_SOCKET, else $XDG_RUNTIME_DIR/forkmon/helper.sock,
 * else /tmp/forkmon-UID/helper.sock. The directory must be the user's own, mode 0700.
 */
#ifndef FORKMON_SOCKPATH_H
#define FORKMON_SOCKPATH_H

#include <stddef.h>

void helper_socket_path(const char *given, char *out, size_t len);

/* Makes (or checks) the socket's directory: ours, mode 0700. Returns 0, or -1 with one
 * line in err. */
int helper_private_dir(const char *sock, char *err, size_t errlen);

#endif
