/*
 * hook/offsets.c — the file offsets a resumed run gets back. Runs inside the user's
 * program: offsets_save() in the run just before a checkpoint is forked (ckpt.c),
 * offsets_restore() in every run resumed from it (resume.c), offsets_note_rw() after
 * each read-write open (interpose.c).
 *
 * fork() shares open file descriptions, so the run's reads after the checkpoint move
 * the checkpoint's offsets too: they are saved before the fork and put back.
 */
#include "hook.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { MAX_OFFSETS = 256 };
static struct {
	int fd;
	off_t off;
} offsets[MAX_OFFSETS];
static int noffsets;

/*
 * Files the program itself opened for reading and writing (O_RDWR, fopen "r+"): their
 * offsets are restored too. A read-write description inherited from elsewhere may be
 * shared with processes outside the program (a test runner's log), so only these are;
 * device and inode tell a reused descriptor number from the file we saw opened.
 */
enum { MAX_OWN_RW = 64 };
static struct {
	int fd;
	dev_t dev;
	ino_t ino;
} own_rw[MAX_OWN_RW];
static int nown_rw, own_rw_next;

void offsets_note_rw(int fd)
{
	struct stat st;
	/* in a signal handler that interrupted the hook: unnoted (see hk_enter) */
	if (fd < 0 || !hk.active || hk_busy || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !hk_enter())
		return;
	int i;
	for (i = 0; i < nown_rw && own_rw[i].fd != fd; i++)
		;
	if (i == nown_rw) {
		if (nown_rw < MAX_OWN_RW)
			nown_rw++;
		else
			i = own_rw_next++ % MAX_OWN_RW; /* forget the oldest */
	}
	own_rw[i].fd = fd;
	own_rw[i].dev = st.st_dev;
	own_rw[i].ino = st.st_ino;
	hk_leave();
}

static int offsets_own_rw(int fd)
{
	struct stat st;
	for (int i = 0; i < nown_rw; i++)
		if (own_rw[i].fd == fd)
			return fstat(fd, &st) == 0 && st.st_dev == own_rw[i].dev && st.st_ino == own_rw[i].ino;
	return 0;
}

/* Files open for reading alone, and read-write files the program opened itself: a
 * description open for writing may be shared with processes outside the program (a
 * shell's output file), and output must go after what earlier copies wrote, not over it. */
static void offsets_consider(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_APPEND) ||
	    ((fl & O_ACCMODE) != O_RDONLY && !((fl & O_ACCMODE) == O_RDWR && offsets_own_rw(fd))))
		return;
	off_t off = lseek(fd, 0, SEEK_CUR);
	if (off < 0)
		return; /* pipes, terminals, sockets */
	offsets[noffsets].fd = fd;
	offsets[noffsets].off = off;
	noffsets++;
}

/* skip: a descriptor of ours (the checkpoint's control connection). */
void offsets_save(int skip)
{
	noffsets = 0;
	int d = real_raw_open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
	if (d < 0)
		return;
	/* small: a page of stack written at each checkpoint is a page every checkpoint
	 * keeps a copy of; a few more getdents calls cost less */
	char buf[512] __attribute__((aligned(8)));
	for (;;) {
		long n = syscall(SYS_getdents64, d, buf, sizeof buf);
		if (n <= 0)
			break;
		for (long i = 0; i < n;) {
			struct dirent64 *e = (struct dirent64 *)(buf + i);
			i += e->d_reclen;
			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			int fd = atoi(e->d_name);
			if (fd == d || fd == skip || fd == hk.fd || noffsets >= MAX_OFFSETS)
				continue;
			offsets_consider(fd);
		}
	}
	close(d);
}

void offsets_restore(void)
{
	for (int i = 0; i < noffsets; i++)
		lseek(offsets[i].fd, offsets[i].off, SEEK_SET);
}
