/*
 * helper/startck.c — the start checkpoint of a helper session: one taken by the hook's
 * constructor (hook/start.c) in a run the session started, before any of the program's
 * code ran. Runs in the session's monitor process; called by serve.c.
 *
 * It depends on no watched file (it is granted at seq 0, before every read), but on the
 * executable and the libraries loaded before it: a program rebuilt since would run its
 * old code. So it serves a client only while every file it has mapped is the inode it
 * mapped (a rebuild that replaced it) and has not changed since a little before its run
 * was started (one written in place: its ctime; the kernel's file clock is coarse, a
 * few ms behind).
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

/* A file changed less than this before the run started may be newer than what it
 * mapped (file times lag the real clock by up to a tick). */
#define STARTCK_SLACK_NS (20 * (int64_t)1000000)
#define STARTCK_MAX_FILES 64

struct startck_file {
	char *path;
	dev_t dev;
	ino_t ino;
};

static struct {
	int64_t spawned_rt; /* CLOCK_REALTIME when its run was started */
	pid_t pid;          /* the checkpoint whose files are below, 0 */
	int nfiles;
	struct startck_file files[STARTCK_MAX_FILES];
} T;

static int64_t startck_realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
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
	startck_forget();
	T.spawned_rt = startck_realtime();
	ckpt_new(0, -1); /* registered by the run's constructor, if it has our hook */
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
		if (ct >= T.spawned_rt - STARTCK_SLACK_NS)
			return -1;
	}
	return 0;
}
