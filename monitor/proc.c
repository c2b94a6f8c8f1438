/* monitor/proc.c — process trees, walked down from their root (see proc.h). Runs in the
 * monitor (the run's victims, the session's end) and in the guard. */
#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int proc_add(struct proc_set *s, pid_t pid)
{
	if (s->n == s->cap) {
		int cap = s->cap ? s->cap * 2 : 32;
		pid_t *p = realloc(s->pids, (size_t)cap * sizeof *p);
		if (!p)
			return -1;
		s->pids = p;
		s->cap = cap;
	}
	s->pids[s->n++] = pid;
	return 0;
}

struct pinfo {
	pid_t pid, ppid;
	int zombie;
	int verdict; /* 0 unknown, 1 victim, 2 not */
};

static int pinfo_read(pid_t pid, struct pinfo *pi)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p || !p[1])
		return -1;
	char state;
	int ppid;
	if (sscanf(p + 2, "%c %d", &state, &ppid) != 2)
		return -1;
	pi->pid = pid;
	pi->ppid = ppid;
	pi->zombie = state == 'Z' || state == 'X';
	pi->verdict = 0;
	return 0;
}

static int pinfo_cmp(const void *a, const void *b)
{
	pid_t x = ((const struct pinfo *)a)->pid, y = ((const struct pinfo *)b)->pid;
	return (x > y) - (x < y);
}

static struct pinfo *pinfo_find(struct pinfo *v, int n, pid_t pid)
{
	struct pinfo key = {.pid = pid};
	return bsearch(&key, v, (size_t)n, sizeof *v, pinfo_cmp);
}

/* Without children files: every /proc/PID/stat, the tree rebuilt from the parents. */
static int proc_scan(pid_t root, pid_t min_pid, const pid_t *keep, int nkeep, struct proc_set *out)
{
	out->n = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	struct pinfo *v = NULL;
	int n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid < min_pid && pid != 1)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			struct pinfo *nv = realloc(v, (size_t)cap * sizeof *nv);
			if (!nv)
				break;
			v = nv;
		}
		if (pinfo_read(pid, &v[n]) == 0)
			n++;
	}
	closedir(d);
	qsort(v, (size_t)n, sizeof *v, pinfo_cmp);
	for (int i = 0; i < n; i++) {
		/* Walk up to root (victim), or to the top / a kept process (not). */
		pid_t chain[512];
		int len = 0, verdict = 2;
		struct pinfo *p = &v[i];
		while (p && len < 512) {
			if (p->verdict) {
				verdict = p->verdict;
				break;
			}
			int kept = 0;
			for (int k = 0; k < nkeep; k++)
				kept |= keep[k] == p->pid;
			if (kept || p->pid == root) {
				verdict = 2;
				p->verdict = 2;
				break;
			}
			chain[len++] = p->pid;
			if (p->ppid == root) {
				verdict = 1;
				break;
			}
			p = p->ppid > 0 ? pinfo_find(v, n, p->ppid) : NULL;
		}
		for (int j = 0; j < len; j++) {
			struct pinfo *q = pinfo_find(v, n, chain[j]);
			if (q)
				q->verdict = verdict;
		}
	}
	for (int i = 0; i < n; i++)
		if (v[i].verdict == 1 && !v[i].zombie)
			proc_add(out, v[i].pid);
	free(v);
	return out->n;
}

/* The whole of a small /proc file into buf (NUL-terminated): its length, or -1. One
 * read() when it fits: a children file is made in one pass then. */
static ssize_t proc_slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

int proc_walkable(void)
{
	static int known = -1;
	if (known < 0) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
		known = access(path, R_OK) == 0;
	}
	return known;
}

/* The state letter and thread count of pid (/proc/PID/stat); -1 when it is gone. */
static int proc_stat(pid_t pid, char *state, long *threads)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (proc_slurp(path, buf, sizeof buf) <= 0)
		return -1;
	char *p = strrchr(buf, ')'); /* the command name may hold anything */
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	*state = p[2];
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice num_threads (field 20) */
	int field = 3;
	for (p += 2; *p && field < 20; p++)
		field += *p == ' ';
	*threads = atol(p);
	return 0;
}

/* Adds the pids of one children file (spaces between) to kids. */
static void proc_add_listed(const char *path, struct proc_set *kids)
{
	char buf[16384];
	if (proc_slurp(path, buf, sizeof buf) <= 0)
		return;
	char *p = buf, *end;
	long k;
	while ((k = strtol(p, &end, 10)) > 0 && end != p && proc_add(kids, (pid_t)k) == 0)
		p = end;
}

/* The children of every thread of pid, added to kids (a thread's children are its own:
 * a program that forks from a second thread has them there). */
static void proc_children(pid_t pid, long threads, struct proc_set *kids)
{
	char path[96];
	if (threads <= 1) { /* the common case: no directory to list */
		snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
		proc_add_listed(path, kids);
		return;
	}
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.16s/children", (int)pid, e->d_name);
		proc_add_listed(path, kids);
	}
	if (d)
		closedir(d);
}

static int proc_kept(pid_t pid, const pid_t *keep, int nkeep)
{
	for (int k = 0; k < nkeep; k++)
		if (keep[k] == pid)
			return 1;
	return 0;
}

/* Down the tree from root: what lives below it, the kept subtrees left out. */
static int proc_walk(pid_t root, const pid_t *keep, int nkeep, struct proc_set *out)
{
	struct proc_set todo = {0};
	char state;
	long threads;
	out->n = 0;
	if (proc_stat(root, &state, &threads) < 0)
		return -1;
	proc_children(root, threads, &todo);
	/* a bound, should pids be reused under us into a loop */
	for (int i = 0; i < todo.n && i < (1 << 20); i++) {
		pid_t pid = todo.pids[i];
		if (proc_kept(pid, keep, nkeep) || proc_stat(pid, &state, &threads) < 0)
			continue;
		/* a zombie has no children left (they went to the subreaper as it died),
		 * unless only its first thread ended */
		if ((state == 'Z' || state == 'X') && threads <= 1)
			continue;
		proc_add(out, pid);
		proc_children(pid, threads, &todo);
	}
	free(todo.pids);
	return out->n;
}

int proc_descendants(pid_t root, pid_t min_pid, const pid_t *keep, int nkeep, struct proc_set *out)
{
	if (!proc_walkable())
		return proc_scan(root, min_pid, keep, nkeep, out);
	int n = proc_walk(root, keep, nkeep, out);
	/* A children file read while another child ends may skip a sibling: "none" is
	 * believed when a second walk agrees. */
	if (n == 0)
		n = proc_walk(root, keep, nkeep, out);
	return n;
}

void proc_signal(const struct proc_set *s, int sig)
{
	for (int i = 0; i < s->n; i++)
		kill(s->pids[i], sig);
}

void proc_terminate(const struct proc_set *s)
{
	proc_signal(s, SIGTERM);
	proc_signal(s, SIGCONT);
}
