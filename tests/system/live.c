/*
 * tests/system/live.c — see live.h.
 */
#include "live.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *lv_forkmon(void)
{
	static char buf[4096];
	snprintf(buf, sizeof buf, "%s", h_path("build/forkmon"));
	return buf;
}

char *lv_prog(const char *name)
{
	static char buf[8][4096];
	static int k;
	char *b = buf[k++ % 8];
	snprintf(b, 4096, "%s/%s", h_path("build/progs"), name);
	return b;
}

/* The end of the output so far, short enough for a Check message (without the
 * threads program's ticks, which would hide everything else). */
const char *lv_out_tail(struct h_session *s)
{
	static char buf[1 << 20];
	const char *o = h_output(s);
	size_t k = 0;
	for (const char *l = o; *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) + 1 : strlen(l);
		if (strncmp(l, "tick ", 5) != 0 && k + len < sizeof buf) {
			memcpy(buf + k, l, len);
			k += len;
		}
		l += len;
	}
	buf[k] = '\0';
	return k > 3000 ? buf + k - 3000 : buf;
}

void lv_expect(struct h_session *s, const char *needle, int count)
{
	if (!h_wait_for(s, needle, count, LV_WAIT))
		ck_abort_msg("waited for %d× \"%s\"; output was:\n%s", count, needle, lv_out_tail(s));
}

/* Waits for count occurrences, then insists there are no more. */
void lv_expect_exactly(struct h_session *s, const char *needle, int count)
{
	lv_expect(s, needle, count);
	int n = h_count(s, needle);
	ck_assert_msg(n == count, "\"%s\" %d times, expected %d; output was:\n%s", needle, n, count,
		      lv_out_tail(s));
}

/* Insists on count occurrences now (what is printed before something already seen). */
void lv_assert_count(struct h_session *s, const char *needle, int count)
{
	int n = h_count(s, needle);
	ck_assert_msg(n == count, "\"%s\" %d times, expected %d; output was:\n%s", needle, n, count,
		      lv_out_tail(s));
}

void lv_expect_none(struct h_session *s, const char *needle)
{
	int n = h_count(s, needle);
	ck_assert_msg(n == 0, "\"%s\" %d times, expected none; output was:\n%s", needle, n, lv_out_tail(s));
}

/* Ends the session with a real signal: forkmon ends by it, and nothing is left. The
 * output stays readable until h_cleanup. */
void lv_stop_session(struct h_session *s, int sig, int group)
{
	int st = h_stop(s, sig, group);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == sig,
		      "forkmon should end by signal %d (status %d), got status 0x%x; output:\n%s", sig,
		      128 + sig, st, lv_out_tail(s));
	ck_assert_msg(h_none_left(s, 10), "%d processes of the session are left:\n%s", h_left(s), h_describe(s));
}

void lv_end_session(struct h_session *s, int sig, int group)
{
	lv_stop_session(s, sig, group);
	h_cleanup(s);
}

/* Runs a command in the session's directory (an editor, a tool) and insists it worked. */
void lv_run_ok(struct h_session *s, ...)
{
	char *argv[32];
	va_list ap;
	va_start(ap, s);
	int n = 0;
	while (n < 31 && (argv[n] = va_arg(ap, char *)))
		n++;
	argv[n] = NULL;
	va_end(ap);
	int st = h_run(s, argv);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "'%s %s' failed: status 0x%x", argv[0],
		      n > 1 ? argv[1] : "", st);
}

/* The text of the last line containing needle (static buffer), "" if none. */
const char *lv_last_line_with(struct h_session *s, const char *needle)
{
	static char line[4096];
	const char *out = h_output(s), *p = out, *hit = NULL;
	while ((p = strstr(p, needle))) {
		hit = p;
		p += strlen(needle);
	}
	line[0] = '\0';
	if (hit) {
		const char *b = hit;
		while (b > out && b[-1] != '\n')
			b--;
		const char *e = strchr(hit, '\n');
		size_t l = e ? (size_t)(e - b) : strlen(b);
		if (l >= sizeof line)
			l = sizeof line - 1;
		memcpy(line, b, l);
		line[l] = '\0';
	}
	return line;
}

int lv_changes(struct h_session *s)
{
	return h_count(s, " changed, resuming from") + h_count(s, " changed, restarting");
}

int lv_settles_on(struct h_session *s, const char *prefix, const char *want, int times, int before, int max)
{
	lv_expect(s, want, times);
	int changes;
	do {
		changes = lv_changes(s);
		h_sleep_ms(LV_SETTLE_MS); /* a quiet period: no further change comes */
	} while (lv_changes(s) != changes);
	ck_assert_msg(!strcmp(lv_last_line_with(s, prefix), want), "last state '%s', wanted '%s':\n%s",
		      lv_last_line_with(s, prefix), want, lv_out_tail(s));
	int n = changes - before;
	ck_assert_msg(n >= 1 && n <= max, "%d changes for one action (1 to %d):\n%s", n, max, lv_out_tail(s));
	return n;
}

const char *lv_resume_line(struct h_session *s, const char *file)
{
	static char line[4096];
	snprintf(line, sizeof line, "[forkmon] file '%s' changed, resuming from it", h_file(s, file));
	return line;
}

const char *lv_resume_from_line(struct h_session *s, const char *file, const char *from)
{
	static char line[3 * 4096];
	char a[4096];
	snprintf(a, sizeof a, "%s", h_file(s, file));
	snprintf(line, sizeof line, "[forkmon] file '%s' changed, resuming from '%s'", a, h_file(s, from));
	return line;
}

const char *lv_restart_line(struct h_session *s, const char *file)
{
	static char line[4096];
	snprintf(line, sizeof line, "[forkmon] file '%s' changed, restarting", h_file(s, file));
	return line;
}

/* ---- /proc -------------------------------------------------------------------------- */

int lv_pstat_read(pid_t pid, struct lv_pstat *ps)
{
	char p[64], buf[1024];
	snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	if (!rp)
		return -1;
	int ppid, pgid;
	char state;
	if (sscanf(rp + 2, "%c %d %d", &state, &ppid, &pgid) != 3)
		return -1;
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice num_threads */
	char *q = rp + 2;
	for (int field = 3; *q && field < 20; q++)
		if (*q == ' ')
			field++;
	ps->pid = pid;
	ps->ppid = ppid;
	ps->pgid = pgid;
	ps->state = state;
	ps->threads = atoi(q);
	return 0;
}

/* The monitor of the session whose top process is top: forkmon run's guard has one child,
 * the monitor, in its own process group and running the same executable (bare mode has
 * no guard: top is the monitor). */
pid_t lv_monitor_of(pid_t top)
{
	char p[64], exe[PATH_MAX], cexe[PATH_MAX];
	snprintf(p, sizeof p, "/proc/%d/exe", (int)top);
	ssize_t n = readlink(p, exe, sizeof exe - 1);
	if (n <= 0)
		return top;
	exe[n] = '\0';
	DIR *d = opendir("/proc");
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	pid_t found = top;
	while ((e = readdir(d))) {
		struct lv_pstat ps;
		if (e->d_name[0] < '1' || e->d_name[0] > '9' || lv_pstat_read((pid_t)atoi(e->d_name), &ps) < 0 ||
		    ps.ppid != top || ps.state == 'Z' || ps.state == 'X')
			continue;
		snprintf(p, sizeof p, "/proc/%d/exe", (int)ps.pid);
		ssize_t k = readlink(p, cexe, sizeof cexe - 1);
		if (k == n && memcmp(cexe, exe, (size_t)n) == 0)
			found = ps.pid;
	}
	closedir(d);
	return found;
}

/* The checkpoints of a session: the monitor's live children in a process group of
 * their own. Returns how many (up to max into out). */
int lv_checkpoints_of(pid_t top, struct lv_pstat *out, int max)
{
	pid_t monitor = lv_monitor_of(top);
	DIR *d = opendir("/proc");
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		struct lv_pstat ps;
		if (lv_pstat_read((pid_t)atoi(e->d_name), &ps) < 0 || ps.ppid != monitor || ps.pgid != ps.pid ||
		    ps.state == 'Z' || ps.state == 'X')
			continue;
		if (n < max)
			out[n] = ps;
		n++;
	}
	closedir(d);
	return n;
}

/* Descriptors of pid whose link reads `what` (e.g. "anon_inode:inotify"). */
int lv_fds_named(pid_t pid, const char *what)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(p);
	if (!d)
		return -1;
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		char l[128], t[256];
		snprintf(l, sizeof l, "%s/%s", p, e->d_name);
		ssize_t k = readlink(l, t, sizeof t - 1);
		if (k <= 0)
			continue;
		t[k] = '\0';
		n += strcmp(t, what) == 0;
	}
	closedir(d);
	return n;
}

/* ---- files ------------------------------------------------------------------------- */

/* A file of the session's directory, read whole (static buffer). */
const char *lv_file_text(struct h_session *s, const char *name)
{
	static char buf[1 << 16];
	int fd = open(h_file(s, name), O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

int lv_text_count(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

void lv_make_dir(struct h_session *s, const char *name)
{
	ck_assert_int_eq(mkdir(h_file(s, name), 0755), 0);
}

int lv_assert_between(struct h_session *s, const char *needle, int lo, int hi)
{
	int n = h_count(s, needle);
	ck_assert_msg(n >= lo && n <= hi, "\"%s\" %d times, expected %d to %d; output was:\n%s", needle, n, lo,
		      hi, lv_out_tail(s));
	return n;
}

int lv_versions_grow(struct h_session *s, const char *prefix, int *lines)
{
	const char *out = h_output(s);
	size_t pl = strlen(prefix);
	int last = -1, n = 0;
	for (const char *p = out; (p = strstr(p, prefix)); p += pl) {
		int v;
		if (sscanf(p + pl, "%d", &v) != 1)
			continue;
		ck_assert_msg(v >= last, "\"%s%d\" shown after \"%s%d\": an older version came back; output was:\n%s",
			      prefix, v, prefix, last, lv_out_tail(s));
		last = v;
		n++;
	}
	if (lines)
		*lines = n;
	return last;
}
