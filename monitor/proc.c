/* monitor/proc.c — process trees from /proc (see proc.h). */
#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int proc_descendants(pid_t root, pid_t min_pid, const pid_t *keep, int nkeep, struct proc_set *out)
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
