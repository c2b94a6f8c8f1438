/*
 * helper/startck.c — the start checkpoint of a helper session: one taken by the hook's
 * constructor (hook/start.c) in a run the session started, before any of the program's
 * code ran. Runs in the session's monitor process; called by serve.c.
 *
 * It depends on no watched file (it is granted at seq 0, before every read), but on the
 * executable and the libraries loaded before it: a program rebuilt since would run its
 * old code. So it serves a client only while every file it has mapped is the inode it
 * mapped (a rebuild that replaced it) and has not changed since its run was started (one
 * written in place: its ctime).
 *
 * "Since its run was started" on the kernel's own file clock: a file's times are taken
 * from the coarse real-time clock (a tick, 4 ms here; or finer, never earlier), so a
 * change made after the spawn is stamped at or after CLOCK_REALTIME_COARSE read before
 * it, and one stamped earlier was made before. (A margin of 20 ms on the fine clock
 * instead refused the start checkpoint of every run started within 20 ms of a rebuild,
 * at the next call: up to 6 cold calls in a row after a `cc`.)
 *
 * The grant ends with its run (startck_end): when it exits, fails to exec, or registers
 * a later checkpoint without having taken this one.
 */
#include "serve.h"

#include "session.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#define STARTCK_MAX_FILES 64

struct startck_file {
	char *path;
	dev_t dev;
	ino_t ino;
};

static struct {
	int grant;          /* the run's grant while it is pending (K.v), or -1 */
	int64_t spawned_rt; /* CLOCK_REALTIME_COARSE right before its run was started */
	pid_t pid;          /* the checkpoint whose files are below, 0 */
	int nfiles;
	struct startck_file files[STARTCK_MAX_FILES];
} T = {.grant = -1};

static int64_t startck_realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void startck_forget(void)
{
	for (int i = 0; i < T.nfiles; i++)
		free(T.files[i].path);
	T.nfiles = 0;
	T.pid = 0;
}

void startck_grant(void)
{
	startck_end();
	startck_forget();
	T.spawned_rt = startck_realtime();
	T.grant = ckpt_new(0, -1); /* registered by the run's constructor, if it has our hook */
}

/* The grant is only ever registered by its own run's constructor, before anything else
 * of the run: once the run is gone, or failed to exec, or registered a later checkpoint
 * (its constructor took none: a static binary, no hook, not a safe moment), it never
 * will be. A pending grant left in the table would make the session look for its
 * registration (an accept) on every turn of its loop, and each cold run would add one. */
void startck_end(void)
{
	int k = T.grant;
	T.grant = -1;
	if (k >= 0 && k < K.n && K.v[k].state == CK_PENDING && K.v[k].seq == 0 && K.v[k].conn < 0)
		ckpt_drop(k);
}

int startck_pending(void)
{
	int n = 0;
	for (int k = 0; k < K.n; k++)
		n += K.v[k].state == CK_PENDING && K.v[k].seq == 0;
	return n;
}

/* The files the checkpoint (process pid) has mapped, from /proc/PID/maps: 0, or -1 when
 * they cannot be known (then it does not serve). */
static int startck_read_maps(pid_t pid)
{
	char path[64], line[PATH_MAX + 256];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int bad = 0;
	while (!bad && fgets(line, sizeof line, f)) {
		unsigned maj, min;
		unsigned long long ino;
		int at = 0;
		if (sscanf(line, "%*s %*s %*s %x:%x %llu %n", &maj, &min, &ino, &at) < 3 || !ino || line[at] != '/')
			continue;
		char *name = line + at;
		name[strcspn(name, "\n")] = '\0';
		/* a memory file (memfd: the ring of the hook's connection, monitor/rings.c) has
		 * no name on disk for a rebuild to replace; the kernel always says "deleted" */
		if (!strncmp(name, "/memfd:", 7))
			continue;
		if (strstr(name, " (deleted)")) {
			bad = 1; /* replaced, or gone, since */
			break;
		}
		int dup = 0;
		for (int i = 0; i < T.nfiles && !dup; i++)
			dup = T.files[i].ino == ino && !strcmp(T.files[i].path, name);
		if (dup)
			continue;
		if (T.nfiles == STARTCK_MAX_FILES || !(T.files[T.nfiles].path = strdup(name))) {
			bad = 1;
			break;
		}
		T.files[T.nfiles].dev = makedev(maj, min);
		T.files[T.nfiles++].ino = (ino_t)ino;
	}
	fclose(f);
	if (bad)
		startck_forget();
	else
		T.pid = pid;
	return bad ? -1 : 0;
}

int startck_usable(int k)
{
	if (K.v[k].pid <= 0)
		return -1;
	if (T.pid != K.v[k].pid && startck_read_maps(K.v[k].pid) < 0)
		return -1;
	for (int i = 0; i < T.nfiles; i++) {
		struct stat st;
		if (stat(T.files[i].path, &st) < 0 || st.st_ino != T.files[i].ino || st.st_dev != T.files[i].dev)
			return -1;
		int64_t ct = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
		if (ct >= T.spawned_rt)
			return -1;
	}
	return 0;
}
