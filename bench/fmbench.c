/*
 * bench/fmbench.c — the measuring side of `make bench` (see bench/run).
 *
 *   fmbench latency [opts] -- CMD...   edits a file, times save → marker in CMD's output
 *       --file F        the file to edit (its content becomes the edit number)
 *       --mode M        inplace (open O_TRUNC, write, close) or rename (tmp + rename)
 *       --edits N       number of edits (default 30)
 *       --gap MS        pause between edits, outside the measured path (default 150)
 *       --stdin F       CMD's standard input (default /dev/null; "-": a pipe kept open,
 *                       so a program reading stdin blocks)
 *       --log F         CMD's standard error (default /dev/null)
 *     CMD must print "MARK <content>" after reading F; the first run must print
 *     "MARK 0" (F holds "0" on start). Prints "samples_ms ..." and "lost N".
 *
 *   fmbench styles [opts] -- CMD...    --edits saves of --file in one editor's way,
 *       --style inplace|rename|chunked (4 writes 1 ms apart, then the close)|trunc
 *       (emptied and closed, written 1 ms later)|vim (renamed to F~, written anew, F~
 *       deleted)|unlink (deleted, then created). CMD prints "MARK <the number the file
 *       ends in>" ("?": none). Prints "lost L doubled D stale S" (no line in 5 s, the line
 *       twice, a line of an old or partial content).
 *   fmbench pair [opts] -- CMD...      saves --file, then --file2 --apart MS later, in
 *       place, --edits times, after --learn N untimed pairs. CMD prints "MARK <a> <b>".
 *       Prints "mixed M lost L doubled D learn_mixed K" (mixed: one new, one old).
 *   fmbench startup [opts] -- CMD...   time from spawn to the line "done" on stdout
 *       --pss           then wait for the tree to settle and print its PSS (and
 *                       the page tables, VmPTE, which PSS does not count)
 *       --echo          print CMD's lines before "done" too
 *       --log F
 *     Prints "ms X" (and "pss_kb K procs P pte_kb T").
 *
 * CMD runs in a process group of its own; at the end it gets SIGTERM (the pid only:
 * forkmon ends its session and cleans up, entr stops its child), then the whole group
 * SIGKILL if it is still there after 5 s. Output is read through a pipe with poll();
 * all times are CLOCK_MONOTONIC.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (time_t)(ms / 1000) * 1000) * 1e6)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static pid_t child;
static int outfd = -1, echo;
static char linebuf[1 << 16];
static size_t linelen;

static pid_t spawn(char **argv, const char *in, const char *log)
{
	int p[2], inpipe[2] = {-1, -1};
	if (in && strcmp(in, "-") == 0 && pipe2(inpipe, O_CLOEXEC) < 0) {
		perror("pipe");
		exit(1);
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("pipe");
		exit(1);
	}
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		int i = in && strcmp(in, "-") == 0 ? inpipe[0] : open(in ? in : "/dev/null", O_RDONLY);
		int e = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (i < 0 || e < 0)
			_exit(126);
		dup2(i, 0);
		dup2(p[1], 1);
		dup2(e, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	close(p[1]);
	if (inpipe[0] >= 0)
		close(inpipe[0]); /* the write end stays open (and silent) until we exit */
	outfd = p[0];
	return pid;
}

/* The next line of output into out (cap bytes, cut if longer). 0, or -1 on EOF or
 * when end (now_ms) passes. */
static int next_line(char *out, size_t cap, double end)
{
	for (;;) {
		char *nl = memchr(linebuf, '\n', linelen);
		if (nl) {
			size_t l = (size_t)(nl - linebuf), used = l + 1;
			if (l >= cap)
				l = cap - 1;
			memcpy(out, linebuf, l);
			out[l] = '\0';
			memmove(linebuf, linebuf + used, linelen - used);
			linelen -= used;
			return 0;
		}
		double left = end - now_ms();
		if (left <= 0)
			return -1;
		struct pollfd pf = {outfd, POLLIN, 0};
		int r = poll(&pf, 1, (int)left + 1);
		if (r <= 0)
			continue; /* EINTR, or the deadline: looked at above */
		if (linelen == sizeof linebuf)
			linelen = 0; /* a huge line: not ours */
		ssize_t n = read(outfd, linebuf + linelen, sizeof linebuf - linelen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		linelen += (size_t)n;
	}
}

/* Reads output until a line equal to want appears. Returns 0, or -1 on timeout/EOF. */
static int wait_line(const char *want, double timeout_ms)
{
	static char line[4096];
	double end = now_ms() + timeout_ms;
	while (next_line(line, sizeof line, end) == 0) {
		if (strcmp(line, want) == 0)
			return 0;
		if (echo)
			printf("%s\n", line);
	}
	return -1;
}

static void finish(void)
{
	if (child <= 0)
		return;
	kill(child, SIGTERM);
	double end = now_ms() + 5000;
	int st;
	for (;;) {
		pid_t r = waitpid(child, &st, WNOHANG);
		if (r == child || (r < 0 && errno == ECHILD))
			break;
		if (now_ms() > end) {
			fprintf(stderr, "fmbench: pid %d ignored SIGTERM for 5 s; SIGKILL to its group\n", (int)child);
			kill(-child, SIGKILL);
			waitpid(child, &st, 0);
			break;
		}
		sleep_ms(2);
	}
	/* anything left in its process group (entr's child, a run) */
	kill(-child, SIGKILL);
	child = 0;
}

static void on_signal(int sig)
{
	if (child > 0) {
		kill(child, SIGTERM);
		kill(-child, SIGKILL);
	}
	_exit(128 + sig);
}

static void write_file(const char *f, const char *mode, const char *text)
{
	size_t n = strlen(text);
	if (strcmp(mode, "rename") == 0) {
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp~", f);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, text, n) != (ssize_t)n || close(fd) < 0 || rename(tmp, f) < 0) {
			perror(tmp);
			finish();
			exit(1);
		}
	} else {
		int fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, text, n) != (ssize_t)n || close(fd) < 0) {
			perror(f);
			finish();
			exit(1);
		}
	}
}

/* ---- process trees and PSS ---- */

struct proc {
	int pid, ppid;
};

static int read_procs(struct proc *v, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)) && n < max) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char p[300], buf[1024];
		snprintf(p, sizeof p, "/proc/%s/stat", e->d_name);
		int fd = open(p, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t r = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (r <= 0)
			continue;
		buf[r] = '\0';
		char *q = strrchr(buf, ')');
		char st;
		int ppid;
		if (!q || sscanf(q + 2, "%c %d", &st, &ppid) != 2 || st == 'Z')
			continue;
		v[n].pid = atoi(e->d_name);
		v[n].ppid = ppid;
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* The pids of root and all its descendants; returns how many. */
static int tree(int root, int *out, int max)
{
	static struct proc v[65536];
	int n = read_procs(v, 65536), k = 0;
	out[k++] = root;
	for (int i = 0; i < k; i++)
		for (int j = 0; j < n && k < max; j++)
			if (v[j].ppid == out[i])
				out[k++] = v[j].pid;
	return k;
}

/* The value of the line starting with key in /proc/PID/file (kB), or 0. */
static long proc_kb(int pid, const char *file, const char *key)
{
	char p[64], line[256];
	snprintf(p, sizeof p, "/proc/%d/%s", pid, file);
	FILE *f = fopen(p, "r");
	if (!f)
		return 0;
	long kb = 0;
	size_t l = strlen(key);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, l) == 0) {
			kb = atol(line + l);
			break;
		}
	fclose(f);
	return kb;
}

struct bench_opts {
	const char *what, *file, *file2, *mode, *in, *log;
	int edits, pss, learn;
	double gap, apart;
	char **cmd;
};

/* 0, or 2 after a line saying what is wrong. */
static int bench_parse(int argc, char **argv, struct bench_opts *o)
{
	*o = (struct bench_opts){.what = argv[1], .mode = "inplace", .edits = 30, .gap = 150, .apart = 3};
	int i;
	for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;
		if (!strcmp(a, "--file"))
			o->file = v;
		else if (!strcmp(a, "--mode") || !strcmp(a, "--style"))
			o->mode = v;
		else if (!strcmp(a, "--file2"))
			o->file2 = v;
		else if (!strcmp(a, "--apart"))
			o->apart = v ? atof(v) : 0;
		else if (!strcmp(a, "--learn"))
			o->learn = v ? atoi(v) : 0;
		else if (!strcmp(a, "--edits"))
			o->edits = v ? atoi(v) : 0;
		else if (!strcmp(a, "--gap"))
			o->gap = v ? atof(v) : 0;
		else if (!strcmp(a, "--stdin"))
			o->in = v;
		else if (!strcmp(a, "--log"))
			o->log = v;
		else if (!strcmp(a, "--pss"))
			o->pss = 1, takes = 0;
		else if (!strcmp(a, "--echo"))
			echo = 1, takes = 0;
		else {
			fprintf(stderr, "fmbench: unknown option %s\n", a);
			return 2;
		}
		if (takes && !v) {
			fprintf(stderr, "fmbench: %s needs a value\n", a);
			return 2;
		}
		i += takes;
	}
	if (i >= argc - 1) {
		fprintf(stderr, "fmbench: no command\n");
		return 2;
	}
	o->cmd = argv + i + 1;
	return 0;
}

/* The tree's PSS once it stops changing (the run ends after "done"). */
static void bench_pss(void)
{
	static int pids[65536];
	int last = -1, stable = 0;
	for (int k = 0; k < 1000 && stable < 5; k++) {
		sleep_ms(20);
		int n = tree(child, pids, 65536);
		stable = n == last ? stable + 1 : 0;
		last = n;
	}
	int n = tree(child, pids, 65536);
	long sum = 0, pte = 0;
	for (int k = 0; k < n; k++) {
		sum += proc_kb(pids[k], "smaps_rollup", "Pss:");
		pte += proc_kb(pids[k], "status", "VmPTE:");
	}
	printf("pss_kb %ld procs %d pte_kb %ld\n", sum, n, pte);
}

static int bench_startup(const struct bench_opts *o)
{
	double t0 = now_ms();
	child = spawn(o->cmd, o->in, o->log);
	if (wait_line("done", 60000) < 0) {
		fprintf(stderr, "fmbench: no 'done' from %s\n", o->cmd[0]);
		finish();
		return 1;
	}
	printf("ms %.3f\n", now_ms() - t0);
	if (o->pss)
		bench_pss();
	fflush(stdout);
	finish();
	return 0;
}

static int bench_latency(const struct bench_opts *o)
{
	write_file(o->file, "inplace", "0");
	child = spawn(o->cmd, o->in, o->log);
	if (wait_line("MARK 0", 30000) < 0) {
		fprintf(stderr, "fmbench: no first 'MARK 0' from %s\n", o->cmd[0]);
		finish();
		return 1;
	}
	double *s = calloc((size_t)o->edits + 1, sizeof *s);
	int got = 0, lost = 0;
	for (int e = 1; e <= o->edits; e++) {
		sleep_ms(o->gap);
		char text[32], want[48];
		snprintf(text, sizeof text, "%d", e);
		snprintf(want, sizeof want, "MARK %d", e);
		double t0 = now_ms();
		write_file(o->file, o->mode, text);
		if (wait_line(want, 5000) < 0) {
			lost++;
			continue;
		}
		s[got++] = now_ms() - t0;
	}
	finish();
	printf("samples_ms");
	for (int k = 0; k < got; k++)
		printf(" %.3f", s[k]);
	printf("\nlost %d\n", lost);
	free(s);
	return 0;
}

/* ---- save styles, and saves of two files ---- */

static void must(int ok, const char *what)
{
	if (!ok) {
		perror(what);
		finish();
		exit(1);
	}
}

#define write_all(fd, p, n, f) must((fd) >= 0 && write(fd, p, n) == (ssize_t)(n), f)

/* Saves text to f the way style says (see the top comment). */
static void write_style(const char *f, const char *style, const char *text)
{
	size_t n = strlen(text);
	char aside[4096];
	snprintf(aside, sizeof aside, "%s~", f);
	if (!strcmp(style, "inplace") || !strcmp(style, "rename")) {
		write_file(f, style, text);
	} else if (!strcmp(style, "chunked")) {
		int fd = open(f, O_WRONLY | O_TRUNC);
		for (size_t k = 0; k < 4; k++) {
			if (k)
				sleep_ms(1);
			write_all(fd, text + k * n / 4, (k + 1) * n / 4 - k * n / 4, f);
		}
		must(close(fd) == 0, f);
	} else if (!strcmp(style, "trunc")) {
		must(close(open(f, O_WRONLY | O_TRUNC)) == 0, f);
		sleep_ms(1);
		int fd = open(f, O_WRONLY);
		write_all(fd, text, n, f);
		must(close(fd) == 0, f);
	} else if (!strcmp(style, "vim") || !strcmp(style, "unlink")) {
		if (!strcmp(style, "vim"))
			must(rename(f, aside) == 0, aside);
		else
			must(unlink(f) == 0, f);
		int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0644);
		write_all(fd, text, n, f);
		must(fsync(fd) == 0 && close(fd) == 0, f);
		if (!strcmp(style, "vim"))
			must(unlink(aside) == 0, aside);
	} else {
		fprintf(stderr, "fmbench: unknown style %s\n", style);
		finish();
		exit(2);
	}
}

/* Some 4 kB of Lua comments, then the save's number (chunks without it show "?"). */
static const char *style_text(int e)
{
	static char t[8192];
	size_t k = 0;
	for (int i = 0; i < 64; i++)
		k += (size_t)snprintf(t + k, sizeof t - k, "-- line %02d of padding, padding, padding, padding\n", i);
	snprintf(t + k, sizeof t - k, "return %d\n", e);
	return t;
}

/* Reads lines until want (5 s at most); every other line is handed to other. 0: seen. */
static int collect(const char *want, void (*other)(const char *line, void *arg), void *arg)
{
	char line[256];
	double end = now_ms() + 5000;
	while (next_line(line, sizeof line, end) == 0) {
		if (!strcmp(line, want))
			return 0;
		if (!strncmp(line, "MARK ", 5))
			other(line, arg);
	}
	return -1;
}

struct tally {
	const char *last; /* the line of the last save seen */
	int lost, doubled, stale;
};

static void tally_other(const char *line, void *arg)
{
	struct tally *t = arg;
	if (t->last && !strcmp(line, t->last))
		t->doubled++;
	else
		t->stale++;
}

/* Reads lines for ms, handing each MARK line to other: lines still coming after a save
 * (in the pause before the next, after the last: an emptied or deleted file's grace). */
static void drain(double ms, void (*other)(const char *line, void *arg), void *arg)
{
	char line[256];
	double end = now_ms() + ms;
	while (next_line(line, sizeof line, end) == 0)
		if (!strncmp(line, "MARK ", 5))
			other(line, arg);
}

static int bench_styles(const struct bench_opts *o)
{
	write_file(o->file, "inplace", style_text(0));
	child = spawn(o->cmd, o->in, o->log);
	static char want[2][48];
	struct tally t = {0};
	if (wait_line("MARK 0", 30000) < 0)
		return fprintf(stderr, "fmbench: no first 'MARK 0' from %s\n", o->cmd[0]), finish(), 1;
	for (int e = 1; e <= o->edits; e++) {
		drain(o->gap, tally_other, &t);
		char *w = want[e % 2];
		snprintf(w, sizeof want[0], "MARK %d", e);
		write_style(o->file, o->mode, style_text(e));
		if (collect(w, tally_other, &t) < 0)
			t.lost++;
		t.last = w;
	}
	drain(700, tally_other, &t);
	finish();
	printf("lost %d doubled %d stale %d\n", t.lost, t.doubled, t.stale);
	return 0;
}

struct pairs {
	struct tally t;
	int mixed;
};

static void pair_other(const char *line, void *arg)
{
	struct pairs *p = arg;
	int a, b;
	if (sscanf(line, "MARK %d %d", &a, &b) == 2 && a != b)
		p->mixed++;
	else
		tally_other(line, &p->t);
}

static int bench_pair(const struct bench_opts *o)
{
	write_file(o->file, "inplace", "0");
	write_file(o->file2, "inplace", "0");
	child = spawn(o->cmd, o->in, o->log);
	static char want[2][64];
	struct pairs p = {{0}, 0};
	int learn_mixed = 0;
	if (wait_line("MARK 0 0", 30000) < 0)
		return fprintf(stderr, "fmbench: no first 'MARK 0 0' from %s\n", o->cmd[0]), finish(), 1;
	for (int e = 1; e <= o->learn + o->edits; e++) {
		drain(o->gap, pair_other, &p);
		if (e == o->learn + 1) {
			learn_mixed = p.mixed + p.t.stale + p.t.doubled + p.t.lost;
			p = (struct pairs){{p.t.last, 0, 0, 0}, 0};
		}
		char *w = want[e % 2], text[32];
		snprintf(w, sizeof want[0], "MARK %d %d", e, e);
		snprintf(text, sizeof text, "%d", e);
		write_file(o->file, "inplace", text);
		sleep_ms(o->apart);
		write_file(o->file2, "inplace", text);
		if (collect(w, pair_other, &p) < 0)
			p.t.lost++;
		p.t.last = w;
	}
	drain(700, pair_other, &p);
	finish();
	printf("mixed %d lost %d doubled %d learn_mixed %d\n", p.mixed, p.t.lost, p.t.doubled + p.t.stale, learn_mixed);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	if (argc < 2) {
		fprintf(stderr, "usage: fmbench latency|styles|pair|startup [options] -- CMD...\n");
		return 2;
	}
	if (bench_parse(argc, argv, &o))
		return 2;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(o.what, "startup") == 0)
		return bench_startup(&o);
	if (strcmp(o.what, "styles") == 0 && o.file)
		return bench_styles(&o);
	if (strcmp(o.what, "pair") == 0 && o.file && o.file2)
		return bench_pair(&o);
	if (strcmp(o.what, "latency") != 0 || !o.file) {
		fprintf(stderr, "fmbench: latency and styles need --file, pair --file and --file2\n");
		return 2;
	}
	return bench_latency(&o);
}
