/*
 * tests/system/test_monitor.c — the IPC monitor front end: the event stream, output that
 * never blocks the program, the summary, --clear and colours on a terminal, the CLI.
 */
#include "live.h"
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The events of a file, one JSON object per line; every line must parse. */
static json_t *read_events(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	json_t *all = json_array();
	char line[1 << 16];
	while (fgets(line, sizeof line, f)) {
		json_error_t err;
		json_t *e = json_loads(line, 0, &err);
		ck_assert_msg(e != NULL, "not JSON: %s (%s)", line, err.text);
		ck_assert(json_is_string(json_object_get(e, "event")));
		ck_assert(json_is_number(json_object_get(e, "time")));
		json_array_append_new(all, e);
	}
	fclose(f);
	return all;
}

static const char *ev_name(json_t *e)
{
	return json_string_value(json_object_get(e, "event"));
}

static int count_events(json_t *all, const char *name)
{
	int n = 0;
	for (size_t i = 0; i < json_array_size(all); i++)
		n += strcmp(ev_name(json_array_get(all, i)), name) == 0;
	return n;
}

static int has_events(const char *path, const char *name, int count)
{
	struct timespec nap = {0, 5000000};
	for (int i = 0; i < 4000; i++) {
		if (access(path, R_OK) == 0) {
			json_t *all = read_events(path);
			int n = count_events(all, name);
			json_decref(all);
			if (n >= count)
				return 1;
		}
		nanosleep(&nap, NULL);
	}
	return 0;
}

/* Lua's require opens a module twice (a readability check, then the load): with an
 * events file the second read is listed too, after the first. */
START_TEST(test_events_list_re_reads)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", "package.path = './?.lua'\nprint('got ' .. require('mod'))\n");
	h_write(&s, "mod.lua", "return 1\n");
	char events[4096];
	snprintf(events, sizeof events, "%s", h_file(&s, "events.json"));
	char *argv[] = {lv_forkmon(), "run", "--events", events, "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "got 1", 1);
	ck_assert(has_events(events, "exit", 1));
	lv_stop_session(&s, SIGTERM, 0);

	json_t *all = read_events(events);
	int mod = 0;
	json_int_t first = 0;
	for (size_t k = 0; k < json_array_size(all); k++) {
		json_t *e = json_array_get(all, k);
		const char *path = json_string_value(json_object_get(e, "path"));
		if (strcmp(ev_name(e), "watch") || !path || strcmp(path, h_file(&s, "mod.lua")))
			continue;
		json_int_t seq = json_integer_value(json_object_get(e, "seq"));
		if (mod++ == 0)
			first = seq;
		else
			ck_assert_int_gt(seq, first);
	}
	ck_assert_int_eq(mod, 2);
	json_decref(all);
	h_cleanup(&s);
}
END_TEST

START_TEST(test_events_after_an_edit_are_change_resume_exit)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", "print('start')\nprint('got ' .. dofile('mod.lua'))\n");
	h_write(&s, "mod.lua", "return 1\n");
	char events[4096];
	snprintf(events, sizeof events, "%s", h_file(&s, "events.json"));
	char *argv[] = {lv_forkmon(), "run", "--events", events, "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "got 1", 1);
	ck_assert(has_events(events, "exit", 1));
	h_write(&s, "mod.lua", "return 2\n");
	lv_expect(&s, "got 2", 1);
	ck_assert(has_events(events, "exit", 2));
	lv_stop_session(&s, SIGTERM, 0);

	json_t *all = read_events(events);
	ck_assert_str_eq(ev_name(json_array_get(all, 0)), "start");
	/* reads: main.lua, mod.lua, then mod.lua again in the resumed copy */
	ck_assert_int_eq(count_events(all, "watch"), 3);
	ck_assert_int_ge(count_events(all, "checkpoint"), 2);
	/* after the edit: change, resume, (the new copy's read), exit — in that order */
	size_t i = 0, n = json_array_size(all);
	while (i < n && strcmp(ev_name(json_array_get(all, i)), "change"))
		i++;
	ck_assert_msg(i < n, "no change event");
	json_t *paths = json_object_get(json_array_get(all, i), "paths");
	ck_assert_int_eq(json_array_size(paths), 1);
	ck_assert_str_eq(json_string_value(json_array_get(paths, 0)), h_file(&s, "mod.lua"));
	ck_assert_str_eq(ev_name(json_array_get(all, i + 1)), "resume");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(all, i + 1), "path")), h_file(&s, "mod.lua"));
	ck_assert_str_eq(ev_name(json_array_get(all, i + 2)), "watch");
	ck_assert_str_eq(ev_name(json_array_get(all, i + 3)), "exit");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(all, i + 3), "status")), 0);
	ck_assert(json_is_number(json_object_get(json_array_get(all, i + 3), "run_ms")));
	/* sequence numbers only grow */
	json_int_t last = 0;
	for (size_t k = 0; k < n; k++) {
		json_t *e = json_array_get(all, k);
		if (strcmp(ev_name(e), "watch"))
			continue;
		json_int_t seq = json_integer_value(json_object_get(e, "seq"));
		ck_assert_int_gt(seq, last);
		last = seq;
	}
	ck_assert_str_eq(ev_name(json_array_get(all, n - 1)), "end");
	json_decref(all);
	/* the summary line */
	ck_assert_int_eq(h_count(&s, "[forkmon] 2 copies run, 1 resume, 0 restarts;"), 1);
	h_cleanup(&s);
}
END_TEST

/* ---- a flood of reads while the terminal is blocked ---- */

enum { FLOOD_FILES = 300 };

static void flood_files(struct h_session *s)
{
	char name[64], body[128];
	for (int i = 0; i < FLOOD_FILES; i++) {
		snprintf(name, sizeof name, "m%03d.lua", i);
		snprintf(body, sizeof body, "return %d\n", i);
		h_write(s, name, body);
	}
	h_write(s, "main.lua", "local t = 0\nfor i = 0, 299 do t = t + dofile(string.format('m%03d.lua', i)) end\n"
			       "print('done ' .. t)\n");
}

/* A pipe already full, that nobody reads for now: forkmon's stderr. Returns how many
 * bytes fill it. */
static size_t flood_full_pipe(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	char junk[4096];
	memset(junk, '.', sizeof junk);
	size_t filled = 0;
	for (;;) {
		ssize_t w = write(p[1], junk, sizeof junk);
		if (w <= 0)
			break;
		filled += (size_t)w;
	}
	fcntl(p[1], F_SETFL, 0);
	return filled;
}

/* forkmon run with the program's stdout to a file and its own stderr to err. */
static void flood_start(struct h_session *s, int err, const char *events, const char *out)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent || chdir(s->dir) < 0)
			_exit(126);
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(o, 1);
		dup2(err, 2);
		char tag[128];
		snprintf(tag, sizeof tag, "FORKMON_TEST_TAG=%s", s->tag);
		putenv(tag);
		execl(lv_forkmon(), "forkmon", "run", "--events", events, "-f", "%.lua$", "--", "lua5.4", "main.lua",
		      (char *)NULL);
		_exit(127);
	}
	s->pid = pid;
}

/* Polls until the program's first line says it is done; returns that line (static). */
static const char *flood_wait_done(const char *out)
{
	static char line[256];
	line[0] = '\0';
	double end = h_clock() + LV_WAIT;
	while (!strstr(line, "done") && h_clock() < end) {
		h_sleep_ms(5); /* polling */
		FILE *f = fopen(out, "r");
		if (f) {
			if (!fgets(line, sizeof line, f))
				line[0] = '\0';
			fclose(f);
		}
	}
	return line;
}

/* Everything the pipe gives until every writer is gone (malloc'd); *got: its length. */
static char *flood_drain(int fd, size_t *got)
{
	size_t cap = 1 << 22;
	char *buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	*got = 0;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	double end = h_clock() + LV_WAIT;
	while (h_clock() < end) {
		ssize_t r = read(fd, buf + *got, cap - 1 - *got);
		if (r > 0) {
			*got += (size_t)r;
			continue;
		}
		if (r == 0)
			break;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		poll(&pf, 1, 5);
	}
	buf[*got] = '\0';
	return buf;
}

/* Each module's read listed exactly once, in program order. */
static void flood_check_watches(const char *events)
{
	json_t *all = read_events(events);
	int k = 0;
	for (size_t i = 0; i < json_array_size(all); i++) {
		json_t *e = json_array_get(all, i);
		if (strcmp(ev_name(e), "watch"))
			continue;
		const char *path = json_string_value(json_object_get(e, "path"));
		if (strstr(path, "/main.lua"))
			continue;
		char name[64];
		snprintf(name, sizeof name, "/m%03d.lua", k);
		ck_assert_msg(strstr(path, name), "watch #%d is %s, expected %s", k, path, name);
		k++;
	}
	ck_assert_int_eq(k, FLOOD_FILES);
	json_decref(all);
}

START_TEST(test_flood_with_a_blocked_terminal_loses_no_event)
{
	struct h_session s;
	h_init(&s);
	flood_files(&s);
	char events[4096], out[4096];
	snprintf(events, sizeof events, "%s", h_file(&s, "events.json"));
	snprintf(out, sizeof out, "%s", h_file(&s, "stdout.txt"));
	int p[2];
	size_t filled = flood_full_pipe(p);
	flood_start(&s, p[1], events, out);
	close(p[1]);
	/* the program finishes while the terminal is still blocked */
	ck_assert_msg(strstr(flood_wait_done(out), "done 44850"),
		      "the program did not finish with the terminal blocked");
	ck_assert(has_events(events, "exit", 1));
	/* now drain the terminal, then end the session */
	kill(s.pid, SIGTERM);
	size_t got;
	char *err = flood_drain(p[0], &got);
	close(p[0]);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	ck_assert(WIFSIGNALED(s.status) && WTERMSIG(s.status) == SIGTERM);
	ck_assert_msg(got > filled, "forkmon's own lines never came");
	ck_assert_msg(strstr(err, "lines dropped") || strstr(err, "[forkmon] watch"), "no status lines at all");
	free(err);
	flood_check_watches(events);
	ck_assert(h_none_left(&s, 10));
	h_cleanup(&s);
}
END_TEST

/* ---- a pseudo-terminal ---- */

struct pty_run {
	int master;
	pid_t pid;
	char buf[1 << 16];
	size_t len;
};

static void pty_start(struct pty_run *r, const char *dir, char *const argv[], char *const env[])
{
	memset(r, 0, sizeof *r);
	struct winsize ws = {.ws_row = 24, .ws_col = 80};
	pid_t parent = getpid();
	r->pid = forkpty(&r->master, NULL, NULL, &ws);
	ck_assert_int_ge(r->pid, 0);
	if (r->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent || chdir(dir) < 0)
			_exit(126);
		for (int i = 0; env && env[i]; i++)
			putenv(env[i]);
		unsetenv("NO_COLOR");
		unsetenv("FORKMON_NO_COLORS");
		for (int i = 0; env && env[i]; i++)
			putenv(env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
}

static int pty_wait_for(struct pty_run *r, const char *needle, int count)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int n = 0;
		r->buf[r->len] = '\0';
		for (const char *p = r->buf; (p = strstr(p, needle)); p += strlen(needle))
			n++;
		if (n >= count)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > LV_WAIT)
			return 0;
		struct pollfd pf = {.fd = r->master, .events = POLLIN};
		if (poll(&pf, 1, 50) > 0) {
			ssize_t k = read(r->master, r->buf + r->len, sizeof r->buf - 1 - r->len);
			if (k > 0)
				r->len += (size_t)k;
		}
	}
}

static int pty_end(struct pty_run *r)
{
	kill(r->pid, SIGTERM);
	int st;
	for (int i = 0; i < 4000; i++) {
		char junk[4096];
		struct pollfd pf = {.fd = r->master, .events = POLLIN};
		if (poll(&pf, 1, 5) > 0 && read(r->master, junk, sizeof junk) < 0)
			(void)0;
		if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
			close(r->master);
			return st;
		}
	}
	kill(r->pid, SIGKILL);
	waitpid(r->pid, &st, 0);
	close(r->master);
	return st;
}

START_TEST(test_clear_and_colours_on_a_terminal_only)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", "print('start')\nprint('got ' .. dofile('mod.lua'))\n");
	h_write(&s, "mod.lua", "return 1\n");
	char tag[128];
	snprintf(tag, sizeof tag, "FORKMON_TEST_TAG=%s", s.tag);
	char *env[] = {tag, NULL};
	char *argv[] = {lv_forkmon(), "run", "--clear", "-f", "%.lua$", "--", "/usr/bin/lua5.4", "main.lua", NULL};
	struct pty_run r;
	pty_start(&r, s.dir, argv, env);
	ck_assert(pty_wait_for(&r, "got 1", 1));
	ck_assert_msg(strstr(r.buf, "\033[1;36m[forkmon]\033[0m watch"), "no colour on the terminal:\n%s", r.buf);
	h_write(&s, "mod.lua", "return 2\n");
	ck_assert(pty_wait_for(&r, "got 2", 1));
	char *clear = strstr(r.buf, "\033[2J");
	ck_assert_msg(clear && clear < strstr(r.buf, "got 2"), "the screen was not cleared before the new copy");
	int st = pty_end(&r);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	ck_assert(h_none_left(&s, 10));

	/* NO_COLOR on the same terminal: no colour */
	char *env2[] = {tag, "NO_COLOR=1", NULL};
	pty_start(&r, s.dir, argv, env2);
	ck_assert(pty_wait_for(&r, "got 2", 1));
	ck_assert_msg(!strstr(r.buf, "\033[1;36m"), "colour despite NO_COLOR");
	ck_assert(strstr(r.buf, "[forkmon] watch"));
	pty_end(&r);
	ck_assert(h_none_left(&s, 10));

	/* not a terminal: no colour, no clearing */
	char *argv2[] = {lv_forkmon(), "run", "--clear", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};
	h_start(&s, argv2, NULL);
	lv_expect(&s, "got 2", 1);
	h_write(&s, "mod.lua", "return 3\n");
	lv_expect(&s, "got 3", 1);
	ck_assert_msg(!strchr(h_output(&s), '\033'), "escape sequences in a pipe");
	lv_stop_session(&s, SIGTERM, 0);
	h_cleanup(&s);
}
END_TEST

/* ---- the command line ---- */

static void cli_case(char *const args[], int want_status, const char *want_out, const char *want_absent)
{
	struct h_session s;
	h_init(&s);
	char *argv[16] = {lv_forkmon()};
	for (int k = 0; args[k] && k < 14; k++)
		argv[k + 1] = args[k];
	h_start(&s, argv, NULL);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == want_status, "%s %s: status 0x%x, output:\n%s",
		      args[0], args[1] ? args[1] : "", s.status, h_output(&s));
	if (want_out)
		ck_assert_msg(strstr(h_output(&s), want_out), "%s: no \"%s\" in:\n%s", args[0], want_out, h_output(&s));
	if (want_absent)
		ck_assert_msg(!strstr(h_output(&s), want_absent), "%s: \"%s\" in:\n%s", args[0], want_absent,
			      h_output(&s));
	ck_assert(h_none_left(&s, 10));
	h_cleanup(&s);
}

START_TEST(test_cli_help_and_version)
{
	cli_case((char *[]){"--help", NULL}, 0, "usage: forkmon run", NULL);
	cli_case((char *[]){"-h", NULL}, 0, "usage: forkmon run", NULL);
	cli_case((char *[]){"run", "--help", NULL}, 0, "--filter PATTERN", NULL);
	cli_case((char *[]){"run", "-h", NULL}, 0, "--events FILE", NULL);
	cli_case((char *[]){"--version", NULL}, 0, "forkmon ", NULL);
	cli_case((char *[]){"-V", NULL}, 0, "forkmon ", NULL);
}
END_TEST

START_TEST(test_cli_errors_say_one_thing_and_exit_2)
{
	cli_case((char *[]){NULL}, 2, "forkmon: no subcommand given", NULL);
	cli_case((char *[]){"frob", NULL}, 2, "forkmon: unknown subcommand 'frob'", NULL);
	cli_case((char *[]){"run", NULL}, 2, "forkmon: no command given", NULL);
	cli_case((char *[]){"run", "--", NULL}, 2, "forkmon: no command given", NULL);
	cli_case((char *[]){"run", "--bogus", "true", NULL}, 2, "forkmon: unknown option '--bogus'", NULL);
	cli_case((char *[]){"run", "-x", "true", NULL}, 2, "forkmon: unknown option '-x'", NULL);
	cli_case((char *[]){"run", "-f", NULL}, 2, "forkmon: option '-f' needs a value", NULL);
	cli_case((char *[]){"run", "-d", "soon", "true", NULL}, 2, "forkmon: invalid delay 'soon'", NULL);
	cli_case((char *[]){"run", "-m", "-3", "true", NULL}, 2, "forkmon: invalid checkpoint count '-3'", NULL);
	cli_case((char *[]){"run", "-f", "(", "true", NULL}, 2, "forkmon: malformed pattern '(': ", NULL);
	cli_case((char *[]){"run", "-i", "%", "true", NULL}, 2, "forkmon: malformed pattern '%': ", NULL);
	cli_case((char *[]){"run", "-E", "/nonexistent/dir/ev.json", "true", NULL}, 2,
		 "forkmon: cannot write events to '/nonexistent/dir/ev.json'", NULL);
	cli_case((char *[]){"run", "--", "/nonexistent/prog", NULL}, 127, "forkmon: /nonexistent/prog: command not found",
		 NULL);
	/* not a program (a device: never executable); a file that is executable but in no
	 * executable format is run by /bin/sh, as by a shell (/etc/hostname, 0755 on some
	 * machines, gave 126 before that) */
	cli_case((char *[]){"run", "--", "/dev/null", NULL}, 126, "forkmon: /dev/null: Permission denied", NULL);
}
END_TEST

START_TEST(test_unusable_options_are_refused_in_bare_mode_too)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "p.lua", "print('ran')\n");
	char pre[4096];
	snprintf(pre, sizeof pre, "LD_PRELOAD=%s", h_path("build/forkmonhook.so"));
	char *env[] = {pre, "FORKMON_FILTER=%.lua$", "FORKMON_DELAY=later", NULL};
	char *argv[] = {"lua5.4", "p.lua", NULL};
	h_start(&s, argv, env);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 2, "0x%x", s.status);
	ck_assert_int_eq(h_count(&s, "forkmon: invalid FORKMON_DELAY 'later'"), 1);
	ck_assert_int_eq(h_count(&s, "ran"), 0);
	ck_assert(h_none_left(&s, 10));
	h_cleanup(&s);
}
END_TEST

Suite *monitor_suite(void)
{
	Suite *s = suite_create("monitor");
	TCase *tc = tcase_create("front end");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_events_after_an_edit_are_change_resume_exit);
	tcase_add_test(tc, test_events_list_re_reads);
	tcase_add_test(tc, test_flood_with_a_blocked_terminal_loses_no_event);
	tcase_add_test(tc, test_clear_and_colours_on_a_terminal_only);
	tcase_add_test(tc, test_cli_help_and_version);
	tcase_add_test(tc, test_cli_errors_say_one_thing_and_exit_2);
	tcase_add_test(tc, test_unusable_options_are_refused_in_bare_mode_too);
	suite_add_tcase(s, tc);
	return s;
}
