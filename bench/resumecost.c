/*
 * bench/resumecost.c — the cost of a resume from early in a long start-up (see bench/run,
 * the START-UP section): save → the program's "done" line, for edits of chosen modules,
 * against the program's own time after that module measured inside it.
 *
 *   resumecost [--edits N] [--gap MS] [--log F] --files F1[,F2...] -- CMD...
 *
 * Each file Fk is a Lua module "return {v = V}" (V = 0 at start); CMD prints a line
 * "done SUM MS" once it has read them all: SUM the sum of every module's v, MS the
 * program's own time since the module it measures from (os.clock(), in milliseconds).
 * The edits go round the files; edit e sets the file's v to e, in place (open O_TRUNC,
 * write, close), then times until the line with the new sum. A line "mark" that CMD prints
 * once it is past the module it measures from is timed too (the save → that point part).
 * Prints one line per file: "file K samples_ms ... own_ms ... mark_ms ..." (mark_ms: -1
 * when no mark came), "first_own_ms MS" (the first run's own MS, before any edit: what
 * the hook costs a run that is no copy) and "lost N".
 *
 * CMD runs in a process group of its own; at the end it gets SIGTERM (the pid only: forkmon
 * ends its session), then its group SIGKILL if it is still there after 5 s. All times are
 * CLOCK_MONOTONIC. Run by bench/run, not by `make check`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_FILES = 8, MAX_EDITS = 1000 };

static pid_t rc_child;
static int rc_out = -1;
static char rc_buf[1 << 16];
static size_t rc_len;
static double rc_mark_at; /* when the last "mark" line came (0: none since it was reset) */

static double rc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void rc_sleep_ms(double ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (time_t)(ms / 1000) * 1000) * 1e6)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void rc_spawn(char **argv, const char *log)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("pipe");
		exit(1);
	}
	rc_child = fork();
	if (rc_child == 0) {
		setpgid(0, 0);
		int in = open("/dev/null", O_RDONLY), e = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (in < 0 || e < 0)
			_exit(126);
		dup2(in, 0);
		dup2(p[1], 1);
		dup2(e, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(rc_child, rc_child);
	close(p[1]);
	rc_out = p[0];
}

/* Reads output until a line "done SUM MS"; 0 with *ms, or -1 on timeout or EOF. */
static int rc_wait_done(long sum, double *ms, double timeout_ms)
{
	double end = rc_now_ms() + timeout_ms;
	for (;;) {
		char *nl;
		while ((nl = memchr(rc_buf, '\n', rc_len))) {
			*nl = '\0';
			long s;
			double m;
			int hit = sscanf(rc_buf, "done %ld %lf", &s, &m) == 2 && s == sum;
			if (!strcmp(rc_buf, "mark"))
				rc_mark_at = rc_now_ms();
			size_t used = (size_t)(nl + 1 - rc_buf);
			memmove(rc_buf, nl + 1, rc_len - used);
			rc_len -= used;
			if (hit) {
				*ms = m;
				return 0;
			}
		}
		double left = end - rc_now_ms();
		if (left <= 0)
			return -1;
		struct pollfd pf = {rc_out, POLLIN, 0};
		if (poll(&pf, 1, (int)left + 1) <= 0)
			continue;
		if (rc_len == sizeof rc_buf)
			rc_len = 0; /* a huge line: not ours */
		ssize_t n = read(rc_out, rc_buf + rc_len, sizeof rc_buf - rc_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		rc_len += (size_t)n;
	}
}

static void rc_finish(void)
{
	if (rc_child <= 0)
		return;
	kill(rc_child, SIGTERM);
	double end = rc_now_ms() + 5000;
	int st;
	while (waitpid(rc_child, &st, WNOHANG) == 0) {
		if (rc_now_ms() > end) {
			fprintf(stderr, "resumecost: pid %d ignored SIGTERM for 5 s; SIGKILL to its group\n", (int)rc_child);
			break;
		}
		rc_sleep_ms(2);
	}
	kill(-rc_child, SIGKILL);
	waitpid(rc_child, &st, WNOHANG);
	rc_child = 0;
}

static void rc_on_signal(int sig)
{
	if (rc_child > 0) {
		kill(rc_child, SIGTERM);
		kill(-rc_child, SIGKILL);
	}
	_exit(128 + sig);
}

static void rc_write_module(const char *f, long v)
{
	char text[64];
	int n = snprintf(text, sizeof text, "return {v = %ld}\n", v);
	int fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) < 0) {
		perror(f);
		rc_finish();
		exit(1);
	}
}

int main(int argc, char **argv)
{
	int edits = 20, nf = 0, i;
	double gap = 150;
	const char *log = NULL, *files[MAX_FILES];
	char *list = NULL;
	for (i = 1; i + 1 < argc && strcmp(argv[i], "--"); i += 2) {
		if (!strcmp(argv[i], "--edits"))
			edits = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--gap"))
			gap = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--log"))
			log = argv[i + 1];
		else if (!strcmp(argv[i], "--files"))
			list = argv[i + 1];
		else
			break;
	}
	if (i >= argc - 1 || strcmp(argv[i], "--") || !list || edits < 1 || edits > MAX_EDITS) {
		fprintf(stderr, "usage: resumecost [--edits N] [--gap MS] [--log F] --files F1[,F2...] -- CMD...\n");
		return 2;
	}
	for (char *f = strtok(list, ","); f && nf < MAX_FILES; f = strtok(NULL, ","))
		files[nf++] = f;
	signal(SIGINT, rc_on_signal);
	signal(SIGTERM, rc_on_signal);
	signal(SIGPIPE, SIG_IGN);
	long val[MAX_FILES] = {0}, sum = 0;
	for (int k = 0; k < nf; k++)
		rc_write_module(files[k], 0);
	static double lat[MAX_FILES][MAX_EDITS], own[MAX_FILES][MAX_EDITS], mark[MAX_FILES][MAX_EDITS];
	int got[MAX_FILES] = {0}, lost = 0;
	double ms, first_ms;
	rc_spawn(argv + i + 1, log);
	if (rc_wait_done(0, &first_ms, 60000) < 0) {
		fprintf(stderr, "resumecost: no first 'done 0' from %s\n", argv[i + 1]);
		rc_finish();
		return 1;
	}
	for (int e = 1; e <= edits; e++) {
		int k = (e - 1) % nf;
		rc_sleep_ms(gap);
		sum += e - val[k];
		val[k] = e;
		double t0 = rc_now_ms();
		rc_mark_at = 0;
		rc_write_module(files[k], e);
		if (rc_wait_done(sum, &ms, 10000) < 0) {
			lost++;
			continue;
		}
		lat[k][got[k]] = rc_now_ms() - t0;
		mark[k][got[k]] = rc_mark_at > 0 ? rc_mark_at - t0 : -1;
		own[k][got[k]++] = ms;
	}
	rc_finish();
	for (int k = 0; k < nf; k++) {
		printf("file %d samples_ms", k);
		for (int j = 0; j < got[k]; j++)
			printf(" %.3f", lat[k][j]);
		printf(" own_ms");
		for (int j = 0; j < got[k]; j++)
			printf(" %.3f", own[k][j]);
		printf(" mark_ms");
		for (int j = 0; j < got[k]; j++)
			printf(" %.3f", mark[k][j]);
		printf("\n");
	}
	printf("first_own_ms %.3f\n", first_ms);
	printf("lost %d\n", lost);
	return 0;
}
