/*
 * tests/system/test_live_terminal.c — forkmon on a pseudo-terminal, the way an
 * interactive shell runs a job: the program reads the terminal before and after resumes,
 * Ctrl-C ends the session with 130, Ctrl-Z and fg leave no copy stopped, closing the
 * terminal leaves nothing behind.
 *
 * System suite (live-terminal). Shared helpers: live.h.
 */
#include "live.h"
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/*
 * forkmon on a pseudo-terminal, started the way an interactive shell starts a job: a
 * "shell" process leads the terminal's session and ignores the job-control signals;
 * the job (forkmon) gets a process group of its own, made the terminal's foreground
 * group. Ctrl-Z stops the job: the shell takes the terminal back and tells the test;
 * on `fg` it gives the terminal to the job again and sends SIGCONT to its group. When
 * the job ends, the shell tells the test how. What the terminal shows goes to the
 * session's output file (a copier process reads the master side).
 */
struct term {
	struct h_session s;
	int master;
	pid_t shell, copier;
	int events; /* shell → test: struct term_event */
	int cmds;   /* test → shell: 'f' (fg) */
};

struct term_event {
	int stopped; /* 1: the job stopped; 0: it ended */
	int status;  /* its wait status */
};

static void term_shell(struct term *t, const char *slave_name, int ev, int cmd, char *const argv[],
		       char *const env[])
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* a terminal starts its shell with every signal at its default, whatever ignored
	 * them in the test's own ancestry (nohup: SIGHUP) */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	if (setsid() < 0)
		_exit(120);
	int sl = open(slave_name, O_RDWR);
	if (sl < 0 || ioctl(sl, TIOCSCTTY, 0) < 0)
		_exit(121);
	close(t->master);
	int ignore[] = {SIGTTOU, SIGTTIN, SIGTSTP, SIGINT, SIGQUIT};
	for (unsigned i = 0; i < sizeof ignore / sizeof *ignore; i++)
		signal(ignore[i], SIG_IGN);
	pid_t job = fork();
	if (job < 0)
		_exit(122);
	if (job == 0) {
		setpgid(0, 0);
		tcsetpgrp(sl, getpid());
		for (unsigned i = 0; i < sizeof ignore / sizeof *ignore; i++)
			signal(ignore[i], SIG_DFL);
		prctl(PR_SET_PDEATHSIG, 0);
		dup2(sl, 0);
		dup2(sl, 1);
		dup2(sl, 2);
		close(sl);
		close(ev);
		close(cmd);
		if (chdir(t->s.dir) < 0)
			_exit(126);
		char tagvar[128];
		snprintf(tagvar, sizeof tagvar, "FORKMON_TEST_TAG=%s", t->s.tag);
		putenv(tagvar);
		unsetenv("LD_PRELOAD");
		unsetenv("FORKMON_SOCKET");
		for (int i = 0; env && env[i]; i++)
			putenv(env[i]);
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(job, job);
	tcsetpgrp(sl, job);
	for (;;) {
		int st;
		pid_t r = waitpid(job, &st, WUNTRACED);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			_exit(123);
		}
		struct term_event e = {WIFSTOPPED(st), st};
		if (e.stopped)
			tcsetpgrp(sl, getpgrp()); /* the shell has the terminal back */
		if (write(ev, &e, sizeof e) != (ssize_t)sizeof e || !e.stopped)
			_exit(0);
		char c;
		if (read(cmd, &c, 1) != 1) {
			kill(-job, SIGKILL);
			_exit(124);
		}
		tcsetpgrp(sl, job); /* fg */
		kill(-job, SIGCONT);
	}
}

/* Starts argv as the terminal's foreground job; t->s is initialised (h_init) and its
 * files written. */
static void term_start(struct term *t, char *const argv[], char *const env[])
{
	t->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(t->master, 0);
	ck_assert_int_eq(grantpt(t->master), 0);
	ck_assert_int_eq(unlockpt(t->master), 0);
	char name[256];
	ck_assert_int_eq(ptsname_r(t->master, name, sizeof name), 0);
	struct winsize ws = {.ws_row = 24, .ws_col = 200};
	ioctl(t->master, TIOCSWINSZ, &ws);
	/* the copier before any other descriptor: it must hold only the master */
	t->copier = h_copier(&t->s, t->master);
	int ev[2], cmd[2];
	ck_assert_int_eq(pipe2(ev, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(cmd, O_CLOEXEC), 0);
	t->shell = fork();
	ck_assert_int_ge(t->shell, 0);
	if (t->shell == 0) {
		close(ev[0]);
		close(cmd[1]);
		term_shell(t, name, ev[1], cmd[0], argv, env);
	}
	close(ev[1]);
	close(cmd[0]);
	t->events = ev[0];
	t->cmds = cmd[1];
}

static void term_type(struct term *t, const char *text)
{
	size_t n = strlen(text);
	ck_assert_int_eq(write(t->master, text, n), (ssize_t)n);
}

static struct term_event term_next_event(struct term *t)
{
	struct pollfd p = {.fd = t->events, .events = POLLIN};
	int r;
	while ((r = poll(&p, 1, (int)(LV_WAIT * 1000))) < 0 && errno == EINTR)
		;
	ck_assert_msg(r == 1, "the job neither stopped nor ended; terminal showed:\n%s", lv_out_tail(&t->s));
	struct term_event e;
	ck_assert_int_eq(read(t->events, &e, sizeof e), (ssize_t)sizeof e);
	return e;
}

static void term_fg(struct term *t)
{
	ck_assert_int_eq(write(t->cmds, "f", 1), 1);
}

/* Processes of the session in a stopped state (T: job control, t: traced); their
 * pids go to which. */
static int stopped_count(struct h_session *s, char *which, size_t len)
{
	pid_t pids[4096];
	int n = h_procs(s, pids, 4096), k = 0;
	which[0] = '\0';
	for (int i = 0; i < n && i < 4096; i++) {
		struct lv_pstat ps;
		if (lv_pstat_read(pids[i], &ps) == 0 && (ps.state == 'T' || ps.state == 't')) {
			k++;
			size_t l = strlen(which);
			snprintf(which + l, len - l, " %d", (int)pids[i]);
		}
	}
	return k;
}

/* Polls until no process of the session is stopped; 1 when none is. */
static int none_stopped(struct h_session *s, char *which, size_t len)
{
	double end = h_clock() + LV_WAIT;
	while (stopped_count(s, which, len) > 0) {
		if (h_clock() > end)
			return 0;
		h_sleep_ms(5); /* polling interval */
	}
	return 1;
}

/* Ends a terminal session by typing Ctrl-C: status 130 (SIGINT), nothing left. */
static void term_ctrl_c(struct term *t)
{
	term_type(t, "\x03");
	struct term_event e = term_next_event(t);
	ck_assert_msg(!e.stopped && WIFSIGNALED(e.status) && WTERMSIG(e.status) == SIGINT,
		      "Ctrl-C should end forkmon by SIGINT (status 130), got 0x%x; terminal showed:\n%s",
		      e.status, lv_out_tail(&t->s));
	ck_assert_msg(h_none_left(&t->s, 10), "%d processes of the session are left", h_left(&t->s));
	int st;
	ck_assert_int_eq(waitpid(t->shell, &st, 0), t->shell);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the shell: 0x%x", st);
	/* every holder of the terminal is gone: the copier sees EIO and ends */
	ck_assert_int_eq(waitpid(t->copier, &st, 0), t->copier);
	close(t->master);
	close(t->events);
	close(t->cmds);
	h_cleanup(&t->s);
}

static const char term_program[] = "print('startup')\n"
				   "local v = dofile('mod.lua')\n"
				   "print('version ' .. v)\n"
				   "while true do\n"
				   "  io.write('prompt' .. v .. '> ') io.flush()\n"
				   "  local line = io.read('l')\n"
				   "  if not line then print('eof') break end\n"
				   "  print('read [' .. line .. '] with ' .. v)\n"
				   "end\n";

static char *term_argv[] = {NULL, "run", "-f", "%.lua$", "--", "lua5.4", "main.lua", NULL};

static void term_edit(struct term *t, int v)
{
	char c[64];
	snprintf(c, sizeof c, "return %d\n", v);
	h_write(&t->s, "mod.lua", c);
}

/* Types a line once the program asks for it, and waits for the program's echo. */
static void term_line(struct term *t, const char *line, int version)
{
	char prompt[64], want[256];
	snprintf(prompt, sizeof prompt, "prompt%d> ", version);
	snprintf(want, sizeof want, "read [%s] with %d", line, version);
	int before = h_count(&t->s, prompt);
	lv_expect(&t->s, prompt, before > 0 ? before : 1);
	char typed[256];
	snprintf(typed, sizeof typed, "%s\n", line);
	term_type(t, typed);
	lv_expect_exactly(&t->s, want, 1);
}

START_TEST(test_program_reads_the_terminal_before_and_after_resumes_and_ctrl_c_ends_with_130)
{
	struct term t;
	h_init(&t.s);
	h_write(&t.s, "main.lua", term_program);
	h_write(&t.s, "mod.lua", "return 1\n");
	term_argv[0] = lv_forkmon();
	term_start(&t, term_argv, NULL);
	lv_expect(&t.s, "version 1", 1);
	term_line(&t, "hello", 1);
	term_line(&t, "world", 1);
	for (int v = 2; v <= 4; v++) {
		term_edit(&t, v);
		char want[64];
		snprintf(want, sizeof want, "version %d", v);
		lv_expect_exactly(&t.s, want, 1);
		term_line(&t, "again", v);
		term_line(&t, "and again", v);
	}
	lv_expect_exactly(&t.s, "changed, resuming from it", 3);
	ck_assert_int_eq(h_count(&t.s, "startup"), 1);
	lv_expect_none(&t.s, "eof");
	term_ctrl_c(&t);
}
END_TEST

/* Ctrl-Z stops the job; `fg` continues it: no copy stays stopped, the program reads the
 * terminal again, and an edit made while the job was stopped resumes it once it runs. */
START_TEST(test_ctrl_z_then_fg_leaves_no_copy_stopped_and_edits_still_resume)
{
	struct term t;
	h_init(&t.s);
	h_write(&t.s, "main.lua", term_program);
	h_write(&t.s, "mod.lua", "return 1\n");
	term_argv[0] = lv_forkmon();
	term_start(&t, term_argv, NULL);
	lv_expect(&t.s, "version 1", 1);
	term_line(&t, "one", 1);
	char which[1024];

	/* Ctrl-Z at the prompt, fg */
	lv_expect(&t.s, "prompt1> ", 2);
	term_type(&t, "\x1a");
	struct term_event e = term_next_event(&t);
	ck_assert_msg(e.stopped, "Ctrl-Z should stop the job, got 0x%x", e.status);
	term_fg(&t);
	ck_assert_msg(none_stopped(&t.s, which, sizeof which), "still stopped after fg:%s", which);
	term_type(&t, "two\n");
	lv_expect_exactly(&t.s, "read [two] with 1", 1);

	/* an edit resumes a copy that reads the terminal */
	term_edit(&t, 2);
	lv_expect_exactly(&t.s, "version 2", 1);
	term_line(&t, "three", 2);

	/* Ctrl-Z, an edit while the job is stopped (as in: suspend, edit, fg), fg */
	lv_expect(&t.s, "prompt2> ", 2);
	term_type(&t, "\x1a");
	e = term_next_event(&t);
	ck_assert_msg(e.stopped, "Ctrl-Z should stop the job, got 0x%x", e.status);
	term_edit(&t, 3);
	term_fg(&t);
	lv_expect_exactly(&t.s, "version 3", 1);
	term_line(&t, "four", 3);
	ck_assert_msg(none_stopped(&t.s, which, sizeof which), "still stopped after fg:%s", which);

	lv_expect_exactly(&t.s, "changed, resuming from it", 2);
	ck_assert_int_eq(h_count(&t.s, "startup"), 1);
	lv_expect_none(&t.s, "eof");
	term_ctrl_c(&t);
}
END_TEST

/* Closing the terminal (the window goes away: the pseudo-terminal's master side is
 * closed) hangs it up: the session ends and nothing of it is left. */
START_TEST(test_closing_the_terminal_ends_the_session_and_leaves_nothing)
{
	struct term t;
	h_init(&t.s);
	h_write(&t.s, "main.lua", term_program);
	h_write(&t.s, "mod.lua", "return 1\n");
	term_argv[0] = lv_forkmon();
	term_start(&t, term_argv, NULL);
	lv_expect(&t.s, "version 1", 1);
	term_line(&t, "one", 1);
	term_edit(&t, 2);
	lv_expect_exactly(&t.s, "version 2", 1);
	term_line(&t, "two", 2);
	int st;
	kill(t.copier, SIGKILL); /* the copier holds the master side too */
	ck_assert_int_eq(waitpid(t.copier, &st, 0), t.copier);
	close(t.master);
	/* forkmon learns of the hangup from its terminal's SIGHUP (sent when the shell, the
	 * session leader, dies of its own) and ends every copy and checkpoint: a leak stays
	 * for ever, so the generous deadline only spares a loaded machine */
	ck_assert_msg(h_none_left(&t.s, 30), "%d processes of the session are left after the hangup:\n%s",
		      h_left(&t.s), h_describe(&t.s));
	ck_assert_int_eq(waitpid(t.shell, &st, 0), t.shell);
	close(t.events);
	close(t.cmds);
	h_cleanup(&t.s);
}
END_TEST

Suite *live_terminal_suite(void)
{
	Suite *s = suite_create("live-terminal");
	TCase *tc = tcase_create("terminal");
	tcase_set_timeout(tc, 300); /* per test; each takes seconds at most when all is well */
	tcase_add_test(tc, test_program_reads_the_terminal_before_and_after_resumes_and_ctrl_c_ends_with_130);
	tcase_add_test(tc, test_ctrl_z_then_fg_leaves_no_copy_stopped_and_edits_still_resume);
	tcase_add_test(tc, test_closing_the_terminal_ends_the_session_and_leaves_nothing);
	suite_add_tcase(s, tc);
	return s;
}
