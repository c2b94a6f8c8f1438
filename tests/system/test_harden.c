/*
 * tests/system/test_harden.c — hostile programs and bad input (issue 13): opens from a
 * signal handler, threads and forks at once (the hook must never deadlock); forkmon
 * started with stdin, stdout or stderr closed (no livelock, the program sees them closed
 * as a direct run would); file names that would forge a status line; option errors that
 * name the option; bare mode with a monitor that is not forkmon's.
 *
 * System suite (harden). Shared helpers: live.h.
 */
#include "live.h"
#include "suites.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Waits (LV_WAIT) for the session's file name to hold a whole line; its text. */
static const char *hd_wait_file(struct h_session *s, const char *name)
{
	double end = h_clock() + LV_WAIT;
	do {
		const char *t = lv_file_text(s, name);
		if (strchr(t, '\n'))
			return t;
		h_sleep_ms(20);
	} while (h_clock() < end);
	ck_abort_msg("'%s' was never written; output:\n%s", name, lv_out_tail(s));
	return "";
}

/* CPU seconds pid used so far (user + system), from /proc/PID/stat. */
static double hd_cpu_s(pid_t pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	ck_assert_ptr_nonnull(p);
	unsigned long ut = 0, st = 0;
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st), 2);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* forkmon idles while it waits for changes: a livelock would burn the whole half second. */
static void hd_assert_idle(struct h_session *s)
{
	double c0 = hd_cpu_s(s->pid);
	h_sleep_ms(500); /* a window to measure over, not a wait for behaviour */
	double used = hd_cpu_s(s->pid) - c0;
	ck_assert_msg(used < 0.2, "forkmon used %.2f s of CPU in 0.5 s while idle; output:\n%s", used, lv_out_tail(s));
}

/* Ends the session with SIGTERM: within seconds, by the signal, nothing left. */
static void hd_end_quickly(struct h_session *s)
{
	double t0 = h_clock();
	lv_stop_session(s, SIGTERM, 0);
	ck_assert_msg(h_clock() - t0 < 10, "SIGTERM took %.1f s", h_clock() - t0);
	h_cleanup(s);
}

/* ---- the hook in signal handlers, threads and forks ---------------------------------- */

static void hd_sigopen(const char *mode, const char *n)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "w.dat", "watched\n");
	h_write(&s, "o.txt", "other\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.dat$", "--", lv_prog("sigopen"), (char *)mode, "w.dat",
			"o.txt", (char *)n, NULL};
	h_start(&s, argv, NULL);
	/* about a second normally; the old hook never got there (a handler spinning on the
	 * lock its own thread held) */
	ck_assert_msg(h_wait_for(&s, "sigopen done", 1, 3 * LV_WAIT), "the program did not finish (deadlock?):\n%s",
		      lv_out_tail(&s));
	ck_assert_int_eq(h_count(&s, "sigopen start"), 1);
	lv_expect_exactly(&s, "[forkmon] watch '", 1);
	lv_expect_none(&s, "[forkmon] killed by");
	lv_expect_none(&s, "[forkmon] exited with status");
	lv_end_session(&s, SIGTERM, 0);
}

START_TEST(test_opens_in_a_signal_handler_while_the_program_opens_never_deadlock)
{
	hd_sigopen("signal", "100000");
}
END_TEST

START_TEST(test_opens_in_threads_handlers_and_forked_children_never_deadlock)
{
	hd_sigopen("threads", "5000");
	/* the children forked while threads were in the hook finished too */
}
END_TEST

/* ---- closed standard descriptors ------------------------------------------------------ */

/* Reports which of 0-2 are open, into the file named by its argument (opened after the
 * check: it may well get one of the closed numbers). */
static const char fds_py[] = "import os, sys\n"
			     "def state(fd):\n"
			     "    try:\n"
			     "        os.fstat(fd)\n"
			     "        return 'open'\n"
			     "    except OSError:\n"
			     "        return 'closed'\n"
			     "line = ' '.join('%%d:%%s' %% (fd, state(fd)) for fd in (0, 1, 2)) + '\\n'\n"
			     "with open(sys.argv[1] + '%s', 'w') as f:\n"
			     "    f.write(line)\n";

/* forkmon's own descriptors are never 0-2: those closed (closed[i]) are /dev/null. */
static void hd_assert_std_null(struct h_session *s, const int closed[3])
{
	for (int fd = 0; fd < 3; fd++) {
		char path[64], link[256];
		snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)s->pid, fd);
		ssize_t n = readlink(path, link, sizeof link - 1);
		link[n > 0 ? n : 0] = '\0';
		if (closed[fd])
			ck_assert_msg(strcmp(link, "/dev/null") == 0, "forkmon's fd %d is '%s', not /dev/null", fd, link);
	}
}

static void hd_closed(const char *redirs)
{
	struct h_session s;
	h_init(&s);
	char py[1024], cmd[512];
	snprintf(py, sizeof py, fds_py, "");
	h_write(&s, "fds.py", py);
	snprintf(cmd, sizeof cmd, "exec python3 fds.py direct.out %s", redirs);
	lv_run_ok(&s, "/bin/sh", "-c", cmd, NULL);
	char direct[256];
	snprintf(direct, sizeof direct, "%s", hd_wait_file(&s, "direct.out"));
	snprintf(cmd, sizeof cmd, "exec \"$0\" run -f '%%.py$' -- python3 fds.py run.out %s", redirs);
	char *argv[] = {"/bin/sh", "-c", cmd, lv_forkmon(), NULL};
	h_start(&s, argv, NULL);
	ck_assert_str_eq(hd_wait_file(&s, "run.out"), direct);
	int closed[3] = {strstr(redirs, "<&-") != NULL, strstr(redirs, " >&-") || !strncmp(redirs, ">&-", 3),
			 strstr(redirs, "2>&-") != NULL};
	hd_assert_std_null(&s, closed);
	hd_assert_idle(&s);
	/* the copy resumed after a change sees the same */
	snprintf(py, sizeof py, fds_py, "' + '2");
	h_write(&s, "fds.py", py);
	ck_assert_str_eq(hd_wait_file(&s, "run.out2"), direct);
	if (!strstr(redirs, "2>&-"))
		lv_expect(&s, "[forkmon] watch '", 1);
	hd_assert_idle(&s);
	hd_end_quickly(&s);
}

START_TEST(test_stdin_closed)
{
	hd_closed("<&-");
}
END_TEST

START_TEST(test_stdout_closed)
{
	hd_closed(">&-");
}
END_TEST

START_TEST(test_stderr_closed)
{
	hd_closed("2>&-");
}
END_TEST

START_TEST(test_all_three_closed)
{
	hd_closed("<&- >&- 2>&-");
}
END_TEST

/* What a run starts inherits no descriptor of forkmon's (its sockets, its rings): not the
 * connection the monitor made for the run before it started (monitor/spawn.c,
 * FORKMON_CONN), which its hook takes at start, nor the hook's own. The child (without
 * the hook: its own would be listed) counts them after the run's first watched read, in
 * the first run and in the copy resumed after a change. */
START_TEST(test_what_a_run_starts_inherits_no_descriptor_of_forkmons)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "mod.lua", "return {suffix = ''}\n");
	h_write(&s, "main.lua", "local m = require('mod')\n"
				"os.execute('FORKMON_DISABLE=1 ls -l /proc/self/fd | grep -c -e socket: -e memfd: > ' .. arg[1] .. m.suffix)\n");
	lv_run_ok(&s, "lua5.4", "main.lua", "direct.out", NULL);
	ck_assert_str_eq(hd_wait_file(&s, "direct.out"), "0\n"); /* the test's own: none */
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", "run.out", NULL};
	h_start(&s, argv, NULL);
	ck_assert_str_eq(hd_wait_file(&s, "run.out"), "0\n");
	hd_assert_idle(&s);
	h_write(&s, "mod.lua", "return {suffix = '2'}\n");
	ck_assert_str_eq(hd_wait_file(&s, "run.out2"), "0\n");
	hd_assert_idle(&s);
	hd_end_quickly(&s);
}
END_TEST

/* A program that fails with stderr closed: said to nobody, and no livelock either. */
START_TEST(test_stderr_closed_and_the_program_fails)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "err.py", "open('ran.out', 'w').write('ran\\n')\nraise SystemExit('failing')\n");
	char *argv[] = {"/bin/sh", "-c", "exec \"$0\" run -- python3 err.py 2>&- <&-", lv_forkmon(), NULL};
	h_start(&s, argv, NULL);
	hd_wait_file(&s, "ran.out");
	const int closed[3] = {1, 0, 1};
	hd_assert_std_null(&s, closed);
	hd_assert_idle(&s);
	hd_end_quickly(&s);
}
END_TEST

/* forkmon-client with a closed descriptor runs the command itself: it sees it closed. */
START_TEST(test_the_client_runs_a_command_with_closed_descriptors_as_it_is)
{
	struct h_session s;
	h_init(&s);
	char py[1024], cmd[512], sock[4200];
	snprintf(py, sizeof py, fds_py, "");
	h_write(&s, "fds.py", py);
	lv_run_ok(&s, "/bin/sh", "-c", "exec python3 fds.py direct.out <&- 2>&-", NULL);
	char direct[256];
	snprintf(direct, sizeof direct, "%s", hd_wait_file(&s, "direct.out"));
	snprintf(cmd, sizeof cmd, "exec \"$0\" python3 fds.py client.out <&- 2>&-");
	snprintf(sock, sizeof sock, "FORKMON_HELPER_SOCKET=%s/helper/helper.sock", s.dir);
	char *argv[] = {"/bin/sh", "-c", cmd, (char *)h_path("build/forkmon-client"), NULL};
	char *env[] = {sock, NULL};
	h_start(&s, argv, env);
	ck_assert_msg(h_wait_exit(&s, LV_WAIT), "the client did not end");
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 0, "status 0x%x", s.status);
	ck_assert_str_eq(lv_file_text(&s, "client.out"), direct);
	ck_assert_msg(h_none_left(&s, 10), "%d processes left (a helper?):\n%s", h_left(&s), h_describe(&s));
	h_cleanup(&s);
}
END_TEST

START_TEST(test_stderr_closed_and_errors_of_forkmon_end_it)
{
	struct h_session s;
	h_init(&s);
	char *missing[] = {"/bin/sh", "-c", "exec \"$0\" run -- ./no-such-command 2>&- >&-", lv_forkmon(), NULL};
	h_start(&s, missing, NULL);
	ck_assert_msg(h_wait_exit(&s, LV_WAIT), "forkmon did not end");
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 127, "status 0x%x", s.status);
	char *notread[] = {"/bin/sh", "-c", "exec \"$0\" run -- python3 missing.py 2>&-", lv_forkmon(), NULL};
	h_start(&s, notread, NULL);
	ck_assert_msg(h_wait_exit(&s, LV_WAIT), "forkmon did not end");
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 2, "status 0x%x", s.status);
	ck_assert_msg(h_none_left(&s, 10), "%d processes left:\n%s", h_left(&s), h_describe(&s));
	h_cleanup(&s);
}
END_TEST

/* ---- file names that would forge a line ----------------------------------------------- */

START_TEST(test_a_name_with_a_newline_and_a_bad_byte_is_escaped_in_every_line)
{
	struct h_session s;
	h_init(&s);
	const char *name = "odd\n[forkmon] file 'x' changed, restarting\xff.dat";
	h_write(&s, name, "one\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.dat$", "--", "cat", (char *)name, NULL};
	h_start(&s, argv, NULL);
	char esc[4096], watch[4200], changed[4200];
	snprintf(esc, sizeof esc, "%s/odd\\n[forkmon] file 'x' changed, restarting\\xff.dat", s.dir);
	snprintf(watch, sizeof watch, "[forkmon] watch '%s'\n", esc);
	lv_expect_exactly(&s, watch, 1);
	lv_expect(&s, "one\n", 1);
	h_write(&s, name, "two\n");
	snprintf(changed, sizeof changed, "[forkmon] file '%s' changed, ", esc);
	lv_expect_exactly(&s, changed, 1);
	lv_expect(&s, "two\n", 1);
	/* no line of forkmon's starts inside the name */
	ck_assert_int_eq(h_count(&s, "\n[forkmon] file 'x'"), 0);
	ck_assert_int_eq(h_count(&s, "\xff"), 0);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* ---- option errors --------------------------------------------------------------------- */

static const struct {
	const char *args[6];
	const char *line;
	int status;
} bad_usage[] = {
	{{"forkmon", "run", "-xq", "true"}, "forkmon: unknown option '-x'\n", 2},
	{{"forkmon", "run", "-qx", "true"}, "forkmon: unknown option '-x'\n", 2},
	{{"forkmon", "run", "--bogus", "true"}, "forkmon: unknown option '--bogus'\n", 2},
	{{"forkmon", "run", "--quiet=1", "true"}, "forkmon: option '--quiet' takes no value\n", 2},
	{{"forkmon", "run", "-qd"}, "forkmon: option '-d' needs a value\n", 2},
	{{"forkmon", "run", "--delay"}, "forkmon: option '--delay' needs a value\n", 2},
	{{"forkmon", "run", "-d", "soon", "true"}, "forkmon: invalid delay 'soon' (a whole number from 0 to 600000)\n", 2},
	{{"forkmon", "run", "-m", "-1", "true"}, "forkmon: invalid checkpoint count '-1'", 2},
	{{"forkmon", "run", "-q"}, "forkmon: no command given\n", 2},
	{{"forkmon", "helper", "-xh"}, "forkmon: unknown option '-x'\n", 2},
	{{"forkmon", "helper", "-t", "0"}, "forkmon: invalid timeout '0'", 2},
	{{"forkmon", "bogus"}, "forkmon: unknown subcommand 'bogus' (run, helper, client)\n", 2},
	{{"forkmon", "-q", "run"}, "forkmon: unknown option '-q' (options go after the subcommand", 2},
	{{"forkmon-client", "-s"}, "forkmon: option '-s' needs a value\n", 2},
	{{"forkmon-client", "--bogus", "true"}, "forkmon: unknown option '--bogus'\n", 2},
	{{"forkmon-client"}, "forkmon: no command given\n", 2},
	{{"forkmon-client", "no\nsuch\xff"}, "forkmon: no\\nsuch\\xff: command not found\n", 127},
	{{"forkmon", "run", "--", "./no\nsuch\xff"}, "forkmon: ./no\\nsuch\\xff: command not found\n", 127},
};

START_TEST(test_each_bad_input_gets_one_line_naming_it_and_its_status)
{
	for (size_t i = 0; i < sizeof bad_usage / sizeof *bad_usage; i++) {
		struct h_session s;
		h_init(&s);
		char *argv[8] = {0};
		char exe[4096];
		int client = strcmp(bad_usage[i].args[0], "forkmon") != 0;
		snprintf(exe, sizeof exe, "%s", h_path(client ? "build/forkmon-client" : "build/forkmon"));
		argv[0] = exe;
		for (int k = 1; k < 6 && bad_usage[i].args[k]; k++)
			argv[k] = (char *)bad_usage[i].args[k];
		h_start(&s, argv, NULL);
		ck_assert_msg(h_wait_exit(&s, LV_WAIT), "%s did not end", bad_usage[i].line);
		ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == bad_usage[i].status,
			      "case %zu: status 0x%x, output:\n%s", i, s.status, h_output(&s));
		ck_assert_msg(h_count(&s, bad_usage[i].line) == 1, "case %zu: wanted '%s', got:\n%s", i,
			      bad_usage[i].line, h_output(&s));
		ck_assert_int_eq(h_count(&s, "forkmon: "), 1);
		h_cleanup(&s);
	}
}
END_TEST

START_TEST(test_a_hook_that_cannot_be_read_is_named_and_forkmon_fails_with_1)
{
	struct h_session s;
	h_init(&s);
	char *argv[] = {lv_forkmon(), "run", "--", "true", NULL};
	char *env[] = {"FORKMON_HOOK=/nonexistent/forkmonhook.so", NULL};
	h_start(&s, argv, env);
	ck_assert(h_wait_exit(&s, LV_WAIT));
	ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 1, "status 0x%x", s.status);
	ck_assert_int_eq(h_count(&s, "forkmon: cannot read the hook '/nonexistent/forkmonhook.so' (FORKMON_HOOK): "
				     "No such file or directory\n"), 1);
	ck_assert_int_eq(h_count(&s, "forkmon: "), 1);
	h_cleanup(&s);
}
END_TEST

/* Bare mode with a monitor that is not forkmon's: one line, and the program runs. */
START_TEST(test_bare_mode_with_a_foreign_monitor_runs_the_program_without_it)
{
	const char *mons[] = {"/bin/false", "/bin/true", "/nonexistent/forkmon"};
	for (size_t i = 0; i < sizeof mons / sizeof *mons; i++) {
		struct h_session s;
		h_init(&s);
		h_write(&s, "x.lua", "print('x ran') os.exit(3)\n");
		char pre[4200], mon[128], line[256];
		snprintf(pre, sizeof pre, "LD_PRELOAD=%s", h_path("build/forkmonhook.so"));
		snprintf(mon, sizeof mon, "FORKMON_MONITOR=%s", mons[i]);
		char *env[] = {pre, mon, "FORKMON_FILTER=%.lua$", NULL};
		char *argv[] = {"lua5.4", "x.lua", NULL};
		h_start(&s, argv, env);
		ck_assert_msg(h_wait_exit(&s, LV_WAIT), "the program did not end");
		ck_assert_msg(WIFEXITED(s.status) && WEXITSTATUS(s.status) == 3, "%s: status 0x%x:\n%s", mons[i],
			      s.status, h_output(&s));
		ck_assert_int_eq(h_count(&s, "x ran\n"), 1);
		if (i < 2)
			snprintf(line, sizeof line, "forkmon: cannot start the monitor '%s' (not forkmon's, or not of "
				 "this version); not watching\n", mons[i]);
		else
			snprintf(line, sizeof line, "forkmon: cannot find the monitor executable (set FORKMON_MONITOR); "
				 "not watching\n");
		ck_assert_msg(h_count(&s, line) == 1, "wanted '%s', got:\n%s", line, h_output(&s));
		ck_assert_int_eq(h_count(&s, "forkmon: "), 1);
		ck_assert_msg(h_none_left(&s, 10), "%d processes left:\n%s", h_left(&s), h_describe(&s));
		h_cleanup(&s);
	}
}
END_TEST

/* The hook runs inside other people's programs: it exports exactly the functions it
 * interposes (hook/interposers.def), nothing a program's own symbols could meet by
 * accident. The list is read from the .def, so a new interposer needs no edit here. */
START_TEST(test_the_hook_exports_exactly_its_interposers)
{
	char cmd[8192], so[4096];
	snprintf(so, sizeof so, "%s", h_path("build/forkmonhook.so")); /* h_path: one static buffer */
	snprintf(cmd, sizeof cmd,
		 "nm -D --defined-only '%s' | awk '{print $NF}' | sort > /dev/shm/fm-exports.$$ && "
		 "sed -n 's/^INTERPOSER(\\([A-Za-z0-9_]*\\),.*/\\1/p' '%s' | sort | "
		 "diff /dev/shm/fm-exports.$$ - ; r=$?; rm -f /dev/shm/fm-exports.$$; exit $r",
		 so, h_path("hook/interposers.def"));
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	char out[4096] = "";
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exports differ from interposers.def:\n%s", out);
}
END_TEST

Suite *harden_suite(void)
{
	Suite *s = suite_create("harden");
	TCase *hook = tcase_create("hook");
	tcase_set_timeout(hook, 150);
	tcase_add_test(hook, test_opens_in_a_signal_handler_while_the_program_opens_never_deadlock);
	tcase_add_test(hook, test_opens_in_threads_handlers_and_forked_children_never_deadlock);
	tcase_add_test(hook, test_the_hook_exports_exactly_its_interposers);
	suite_add_tcase(s, hook);
	TCase *fds = tcase_create("closed std fds");
	tcase_set_timeout(fds, 90);
	tcase_add_test(fds, test_stdin_closed);
	tcase_add_test(fds, test_stdout_closed);
	tcase_add_test(fds, test_stderr_closed);
	tcase_add_test(fds, test_all_three_closed);
	tcase_add_test(fds, test_stderr_closed_and_the_program_fails);
	tcase_add_test(fds, test_what_a_run_starts_inherits_no_descriptor_of_forkmons);
	tcase_add_test(fds, test_stderr_closed_and_errors_of_forkmon_end_it);
	tcase_add_test(fds, test_the_client_runs_a_command_with_closed_descriptors_as_it_is);
	suite_add_tcase(s, fds);
	TCase *input = tcase_create("bad input");
	tcase_set_timeout(input, 90);
	tcase_add_test(input, test_a_name_with_a_newline_and_a_bad_byte_is_escaped_in_every_line);
	tcase_add_test(input, test_each_bad_input_gets_one_line_naming_it_and_its_status);
	tcase_add_test(input, test_a_hook_that_cannot_be_read_is_named_and_forkmon_fails_with_1);
	tcase_add_test(input, test_bare_mode_with_a_foreign_monitor_runs_the_program_without_it);
	suite_add_tcase(s, input);
	return s;
}
