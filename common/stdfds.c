/*
 * common/stdfds.c — descriptors 0-2 closed at start-up: taken by /dev/null, remembered,
 * closed again for the command (see stdfds.h). Runs in the monitor, the helper and the
 * client, first thing in main().
 */
#include "stdfds.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static unsigned stdfds_mask;

int stdfds_occupy(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* the lowest free number: fd itself, the lower ones being open by now */
		int n = open("/dev/null", O_RDWR | O_NOCTTY);
		if (n < 0)
			return -1;
		if (n != fd) {
			/* not expected; make sure fd is what gets it */
			int d = dup2(n, fd);
			close(n);
			if (d < 0)
				return -1;
		}
		stdfds_mask |= 1u << fd;
	}
	return 0;
}

unsigned stdfds_closed(void)
{
	return stdfds_mask;
}

void stdfds_reclose(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (stdfds_mask & (1u << fd))
			close(fd);
}
