/* tests/harness.c — see harness.h. */
#include "harness.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct h_session *h_current;

const char *h_top(void)
{
	const char *t = getenv("FORKMON_TOP");
	return t && *t ? t : "..";
}

/* "build" and "build/..." name the build directory: FORKMON_BUILD when set (make
 * sanitize runs the same tests over build/san), else build/ in the source tree. */
const char *h_path(const char *rel)
{
	static char buf[PATH_MAX];
	const char *b = getenv("FORKMON_BUILD");
	if (b && *b && !strncmp(rel, "build", 5) && (rel[5] == '/' || rel[5] == '\0'))
		snprintf(buf, sizeof buf, "%s%s", b, rel + 5);
	else
		snprintf(buf, sizeof buf, "%s/%s", h_top(), rel);
	return buf;
}

/* make sanitize: a hook built with ASan needs the ASan runtime (FORKMON_TEST_PRELOAD) in
 * the program before libc, and first in LD_PRELOAD. Only where a test preloads a hook
 * itself (bare mode); the sanitized monitor adds it for the programs it starts. */
static void h_san_preload(void)
{
	const char *rt = getenv("FORKMON_TEST_PRELOAD");
	const char *pre = getenv("LD_PRELOAD");
	if (!rt || !*rt || !pre || !*pre)
		return;
	static char buf[8192];
	snprintf(buf, sizeof buf, "%s:%s", rt, pre);
	setenv("LD_PRELOAD", buf, 1);
}

static double h_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void h_nap(void)
{
	struct timespec ts = {0, 5000000}; /* polling interval, not a wait for behaviour */
	nanosleep(&ts, NULL);
}

void h_rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			h_rm_rf(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void h_atexit(void)
{
	if (h_current) {
		if (h_current->pid > 0) {
			kill(-h_current->pid, SIGKILL);
			kill(h_current->pid, SIGKILL);
		}
		h_rm_rf(h_current->dir);
		unlink(h_current->out);
	}
}

void h_init(struct h_session *s)
{
	memset(s, 0, sizeof *s);
	const char *tmp = getenv("TMPDIR");
	snprintf(s->dir, sizeof s->dir, "%s/forkmon-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	snprintf(s->out, sizeof s->out, "%s.out", s->dir);
	/* unique on the machine: other test runs (other checkouts) go on beside this one */
	static int sessions;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(s->tag, sizeof s->tag, "%d-%ld.%09ld-%d", (int)getpid(), (long)ts.tv_sec, ts.tv_nsec, ++sessions);
	if (!h_current)
		atexit(h_atexit);
	h_current = s;
}

const char *h_file(struct h_session *s, const char *name)
{
	static char buf[PATH_MAX];
	snprintf(buf, sizeof buf, "%s/%s", s->dir, name);
	return buf;
}

void h_write(struct h_session *s, const char *name, const char *content)
{
	int fd = open(h_file(s, name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	size_t n = strlen(content);
	ck_assert_int_eq(write(fd, content, n), (ssize_t)n);
	ck_assert_int_eq(close(fd), 0);
}

void h_write_rename(struct h_session *s, const char *name, const char *content)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	const char *slash = strrchr(name, '/');
	int dirlen = slash ? (int)(slash - name + 1) : 0; /* the temporary file sits beside it */
	snprintf(tmp, sizeof tmp, "%s/%.*s.%s.swp", s->dir, dirlen, name, name + dirlen);
	snprintf(dst, sizeof dst, "%s/%s", s->dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	size_t n = strlen(content);
	ck_assert_int_eq(write(fd, content, n), (ssize_t)n);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(rename(tmp, dst), 0);
}

void h_start(struct h_session *s, char *const argv[], char *const env[])
{
	int out = open(s->out, O_WRONLY | O_CREAT | O_APPEND, 0644);
	ck_assert_int_ge(out, 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(126);
		int in = open("/dev/null", O_RDONLY);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		if (chdir(s->dir) < 0)
			_exit(126);
		char tagvar[128];
		snprintf(tagvar, sizeof tagvar, "FORKMON_TEST_TAG=%s", s->tag);
		putenv(tagvar);
		unsetenv("LD_PRELOAD");
		unsetenv("FORKMON_SOCKET");
		for (int i = 0; env && env[i]; i++)
			putenv(env[i]);
		h_san_preload();
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	close(out);
	s->pid = pid;
}

const char *h_output(struct h_session *s)
{
	static char buf[1 << 20];
	int fd = open(s->out, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : 0;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

int h_count(struct h_session *s, const char *needle)
{
	const char *p = h_output(s);
	int n = 0;
	size_t l = strlen(needle);
	while ((p = strstr(p, needle))) {
		n++;
		p += l;
	}
	return n;
}

int h_wait_for(struct h_session *s, const char *needle, int count, double timeout_s)
{
	double end = h_now() + timeout_s;
	for (;;) {
		if (h_count(s, needle) >= count)
			return 1;
		if (h_now() > end)
			return 0;
		h_nap();
	}
}

int h_wait_exit(struct h_session *s, double timeout_s)
{
	double end = h_now() + timeout_s;
	for (;;) {
		pid_t r = waitpid(s->pid, &s->status, WNOHANG);
		if (r == s->pid) {
			s->pid = 0;
			return 1;
		}
		if (h_now() > end)
			return 0;
		h_nap();
	}
}

int h_stop(struct h_session *s, int sig, int group)
{
	ck_assert_int_gt(s->pid, 0);
	kill(group ? -s->pid : s->pid, sig);
	if (!h_wait_exit(s, 20)) {
		kill(-s->pid, SIGKILL);
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &s->status, 0);
		s->pid = 0;
		ck_abort_msg("the session did not end within 20 s of signal %d", sig);
	}
	return s->status;
}

static int h_scan(struct h_session *s, pid_t *pids, int max);

int h_left(struct h_session *s)
{
	return h_scan(s, NULL, 0);
}

int h_procs(struct h_session *s, pid_t *pids, int max)
{
	return h_scan(s, pids, max);
}

static int h_scan(struct h_session *s, pid_t *pids, int max)
{
	char want[128];
	int wl = snprintf(want, sizeof want, "FORKMON_TEST_TAG=%s", s->tag) + 1;
	DIR *d = opendir("/proc");
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char p[64], stat[512];
		snprintf(p, sizeof p, "/proc/%s/stat", e->d_name);
		int fd = open(p, O_RDONLY);
		if (fd < 0)
			continue;
		ssize_t k = read(fd, stat, sizeof stat - 1);
		close(fd);
		if (k <= 0)
			continue;
		stat[k] = '\0';
		char *rp = strrchr(stat, ')');
		if (rp && (rp[2] == 'Z' || rp[2] == 'X'))
			continue; /* a zombie is gone; its parent reaps it */
		snprintf(p, sizeof p, "/proc/%s/environ", e->d_name);
		fd = open(p, O_RDONLY);
		if (fd < 0)
			continue;
		static char env[1 << 16];
		k = read(fd, env, sizeof env);
		close(fd);
		for (ssize_t i = 0; i + wl <= k;) {
			if (memcmp(env + i, want, (size_t)wl) == 0) {
				if (n < max)
					pids[n] = (pid_t)atoi(e->d_name);
				n++;
				break;
			}
			i += (ssize_t)strnlen(env + i, (size_t)(k - i)) + 1;
		}
	}
	if (d)
		closedir(d);
	return n;
}

const char *h_describe(struct h_session *s)
{
	static char buf[8192];
	pid_t pids[64];
	int n = h_procs(s, pids, 64);
	size_t k = 0;
	buf[0] = '\0';
	for (int i = 0; i < n && i < 64 && k < sizeof buf - 512; i++) {
		char p[64], stat[512] = "", cmd[256] = "";
		snprintf(p, sizeof p, "/proc/%d/stat", (int)pids[i]);
		int fd = open(p, O_RDONLY);
		ssize_t m = fd >= 0 ? read(fd, stat, sizeof stat - 1) : -1;
		if (fd >= 0)
			close(fd);
		stat[m > 0 ? m : 0] = '\0';
		char *rp = strrchr(stat, ')');
		snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pids[i]);
		fd = open(p, O_RDONLY);
		m = fd >= 0 ? read(fd, cmd, sizeof cmd - 1) : -1;
		if (fd >= 0)
			close(fd);
		for (ssize_t j = 0; j < m - 1; j++)
			if (!cmd[j])
				cmd[j] = ' ';
		cmd[m > 0 ? m : 0] = '\0';
		/* after ")": state, then the parent's pid */
		k += (size_t)snprintf(buf + k, sizeof buf - k, "  pid %d: %.12s, %s\n", (int)pids[i],
				      rp ? rp + 2 : "?", cmd);
	}
	return buf;
}

int h_none_left(struct h_session *s, double timeout_s)
{
	double end = h_now() + timeout_s;
	for (;;) {
		if (h_left(s) == 0)
			return 1;
		if (h_now() > end)
			return 0;
		h_nap();
	}
}

void h_cleanup(struct h_session *s)
{
	if (s->pid > 0) {
		kill(-s->pid, SIGKILL);
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	h_rm_rf(s->dir);
	unlink(s->out);
	if (h_current == s)
		h_current = NULL;
}

/* ---- additions for the live suite ---------------------------------------------- */

double h_clock(void)
{
	return h_now();
}

void h_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int h_run(struct h_session *s, char *const argv[])
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (chdir(s->dir) < 0)
			_exit(126);
		unsetenv("LD_PRELOAD");
		unsetenv("FORKMON_SOCKET");
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			ck_abort_msg("waitpid: %s", strerror(errno));
	}
	return st;
}

void h_start_io(struct h_session *s, char *const argv[], char *const env[], int in, int out)
{
	int o = out >= 0 ? out : open(s->out, O_WRONLY | O_CREAT | O_APPEND, 0644);
	ck_assert_int_ge(o, 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(126);
		if (in >= 0) {
			dup2(in, 0);
		} else {
			int nul = open("/dev/null", O_RDONLY);
			dup2(nul, 0);
		}
		dup2(o, 1);
		dup2(o, 2);
		if (chdir(s->dir) < 0)
			_exit(126);
		char tagvar[128];
		snprintf(tagvar, sizeof tagvar, "FORKMON_TEST_TAG=%s", s->tag);
		putenv(tagvar);
		unsetenv("LD_PRELOAD");
		unsetenv("FORKMON_SOCKET");
		for (int i = 0; env && env[i]; i++)
			putenv(env[i]);
		h_san_preload();
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	if (out < 0)
		close(o);
	s->pid = pid;
}

pid_t h_copier(struct h_session *s, int fd)
{
	int o = open(s->out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ck_assert_int_ge(o, 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		/* hold nothing else: a copy of a pipe's write end would keep it open for ever */
		for (int k = 3; k < 4096; k++)
			if (k != fd && k != o)
				close(k);
		char buf[65536];
		for (;;) {
			ssize_t n = read(fd, buf, sizeof buf);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				_exit(0);
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(o, buf + off, (size_t)(n - off));
				if (w <= 0)
					_exit(1);
				off += w;
			}
		}
	}
	close(o);
	return pid;
}
