/*
 * tests/system/test_helper_contract.c — issue 11's contract for `forkmon helper`: a warm
 * call gives what a direct run gives. Real programs (/usr/bin/python3, perl), pipes and
 * `$(...)`, a client killed by pid with its command ignoring SIGTERM. Runs in the test
 * runner; the helper is the test's own child, tagged (FORKMON_TEST_TAG), ended by pid.
 *
 * "Warm" is proven without timing: the programs burn 0.3 s of CPU in their start-up and
 * print their own CPU time at the end; a copy resumed after the start-up never ran it.
 * Python's variables that change its behaviour (PYTHONUNBUFFERED...) are unset by the
 * shell that runs the client, as a user's shell would not have them (but see PYCLEAN).
 */
#include "harness.h"
#include "helperd.h"
#include "suites.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT 30.0
/* PYTHONDONTWRITEBYTECODE stays: a run that writes .pyc files gives no checkpoint past
 * the write, and the copies resumed before it do not take deeper ones (left open) */
#define PYCLEAN "unset PYTHONUNBUFFERED PYTHONHASHSEED PYTHONSTARTUP PYTHONPATH; export PYTHONDONTWRITEBYTECODE=1; "

/* startup.py is read first, then 0.3 s of work, then mod.py (its checkpoint skips it) */
static const char pyprog[] = "import sys, time, random\n"
			     "import startup\n"
			     "while time.process_time() < 0.3: pass\n"
			     "import mod\n"
			     "print(mod.x, repr(random.random()), 'warm' if time.process_time() < 0.3 else 'cold')\n";

struct hc {
	struct h_session s;
	char sock[4096], sockvar[4200], log[4096], logvar[4200];
	pid_t helper;
};

static void hc_init(struct hc *h)
{
	h_init(&h->s);
	hx_paths(&h->s, h->sock, sizeof h->sock, h->sockvar, sizeof h->sockvar, h->log, sizeof h->log, h->logvar,
		 sizeof h->logvar);
	h_write(&h->s, "prog.py", pyprog);
	h_write(&h->s, "startup.py", "S = 1\n");
	h_write(&h->s, "mod.py", "x = 'M1'\n");
}

/* The helper as the client would start it, but as the test's child, before any call. */
static void hc_helper(struct hc *h)
{
	h->helper = hx_start(&h->s, h->sock, h->log, NULL, NULL);
}

/* Starts `/bin/sh -c script` (CLIENT in it: the client's path) with extra variables. */
static pid_t hc_start(struct hc *h, const char *script, const char *extra, int out)
{
	char client[4096], full[8192];
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	snprintf(full, sizeof full, "CLIENT=%s; %s", client, script);
	char *env[] = {h->sockvar, h->logvar, (char *)extra, NULL};
	if (!extra)
		env[2] = NULL;
	char *argv[] = {"/bin/sh", "-c", full, NULL};
	h_start_io(&h->s, argv, env, -1, out);
	return h->s.pid;
}

/* Runs script to its end (within WAIT: a call that hangs fails here); its status. */
static int hc_call(struct hc *h, const char *script, const char *extra)
{
	hc_start(h, script, extra, -1);
	ck_assert_msg(h_wait_exit(&h->s, WAIT), "the call did not end: %s\noutput:\n%s", script, h_output(&h->s));
	return h->s.status;
}

/* Does a process of this test other than the helper's clients hold "pipe:[ino]"? */
static int hc_holders(struct hc *h, unsigned long ino, char *who, size_t wholen)
{
	pid_t pids[256];
	int n = h_procs(&h->s, pids, 256), found = 0;
	char want[64];
	snprintf(want, sizeof want, "pipe:[%lu]", ino);
	who[0] = '\0';
	for (int i = 0; i < n && i < 256; i++) {
		for (int fd = 0; fd < 1024; fd++) {
			char p[64], link[128];
			snprintf(p, sizeof p, "/proc/%d/fd/%d", (int)pids[i], fd);
			ssize_t k = readlink(p, link, sizeof link - 1);
			if (k <= 0)
				continue;
			link[k] = '\0';
			if (!strcmp(link, want)) {
				found++;
				size_t l = strlen(who);
				snprintf(who + l, wholen - l, "pid %d fd %d; ", (int)pids[i], fd);
			}
		}
	}
	return found;
}

/* Ends the helper, every session and checkpoint with it; nothing of the test stays. */
static void hc_end(struct hc *h)
{
	hx_stop(h->helper, h->sock);
	ck_assert_msg(h_none_left(&h->s, 20), "%d processes left:\n%s", h_left(&h->s), h_describe(&h->s));
	h_cleanup(&h->s);
}

/* Calls the Python program until a call is served warm (the first calls may write .pyc
 * files, which keeps their checkpoints from serving). */
static void hc_until_warm(struct hc *h, const char *script)
{
	for (int i = 0; i < 8 && !h_count(&h->s, " warm"); i++)
		hc_call(h, script, NULL);
	ck_assert_msg(h_count(&h->s, " warm") >= 1, "never served warm:\n%s", h_output(&h->s));
}

START_TEST(test_dollar_paren_and_pipes_end_with_the_call)
{
	struct hc h;
	hc_init(&h);
	hc_helper(&h);
	hc_until_warm(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py");
	int warm0 = h_count(&h.s, " warm");
	/* $(...): the shell reads to the end of the pipe; a checkpoint or session holding
	 * it would make this wait for the session's idle timeout */
	for (int i = 0; i < 3; i++) {
		double t0 = h_clock();
		int st = hc_call(&h, PYCLEAN "x=$($CLIENT /usr/bin/python3 prog.py); echo \"got $x\"", NULL);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
		ck_assert_msg(h_clock() - t0 < 10, "$(...) took %.1f s", h_clock() - t0);
	}
	ck_assert_int_eq(h_count(&h.s, "got M1"), 3);
	for (int i = 0; i < 3; i++)
		hc_call(&h, PYCLEAN "$CLIENT /usr/bin/python3 prog.py | cat", NULL);
	ck_assert_msg(h_count(&h.s, " warm") >= warm0 + 5, "not warm:\n%s", h_output(&h.s));
	/* a pipe of the test's own as the client's stdout: it reaches its end with the call,
	 * and afterwards no process of the helper holds it */
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	struct stat pst;
	ck_assert_int_eq(fstat(p[0], &pst), 0);
	hc_start(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py", NULL, p[1]);
	close(p[1]);
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	while ((n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n; /* blocks until every writer is gone: the test's deadline */
	buf[got] = '\0';
	close(p[0]);
	ck_assert_msg(strstr(buf, "M1 ") && strstr(buf, " warm"), "output: %s", buf);
	ck_assert(h_wait_exit(&h.s, WAIT));
	char who[4096];
	ck_assert_msg(hc_holders(&h, (unsigned long)pst.st_ino, who, sizeof who) == 0, "held by %s", who);
	hc_end(&h);
}
END_TEST

/* Four warm calls of random.random(): four values, as four direct runs give. */
START_TEST(test_warm_python_draws_new_random_numbers)
{
	struct hc h;
	hc_init(&h);
	hc_helper(&h);
	hc_until_warm(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py");
	for (int i = 0; i < 4; i++)
		hc_call(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py", NULL);
	/* the warm lines' random values, all different */
	char vals[8][64];
	int nv = 0;
	const char *o = h_output(&h.s);
	for (const char *l = o; *l && nv < 8;) {
		const char *e = strchr(l, '\n');
		if (!e)
			break;
		char line[256];
		snprintf(line, sizeof line, "%.*s", (int)(e - l), l);
		char v[64], how[16];
		if (sscanf(line, "M1 %63s %15s", v, how) == 2 && !strcmp(how, "warm"))
			snprintf(vals[nv++], sizeof vals[0], "%s", v);
		l = e + 1;
	}
	ck_assert_msg(nv >= 4, "%d warm calls:\n%s", nv, o);
	for (int i = 0; i < nv; i++)
		for (int j = i + 1; j < nv; j++)
			ck_assert_msg(strcmp(vals[i], vals[j]) != 0, "two warm calls drew %s:\n%s", vals[i], o);
	hc_end(&h);
}
END_TEST

/* A warm Python call freezes what it inherited (hook/clean.c): the cycles the call itself
 * makes are still collected, by gc.collect() and at exit, their __del__ run, as in a
 * direct run. */
START_TEST(test_warm_python_collects_the_cycles_it_makes)
{
	struct hc h;
	hc_init(&h);
	h_write(&h.s, "prog.py",
		"import sys, time, gc\n"
		"import startup\n"
		"while time.process_time() < 0.3: pass\n"
		"import mod\n"
		"class D:\n"
		"    def __init__(self, w): self.w = w; self.me = self\n"
		"    def __del__(self): print(self.w)\n"
		"D('collected'); print('found', gc.collect() > 0)\n"
		"D('at exit')\n"
		"print(mod.x, 'warm' if time.process_time() < 0.3 else 'cold')\n");
	hc_helper(&h);
	hc_until_warm(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py");
	for (int i = 0; i < 3; i++) {
		int st = hc_call(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py", NULL);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "call %d: status 0x%x", i, st);
	}
	/* every warm call printed the whole block, in a direct run's order */
	int warm = h_count(&h.s, "M1 warm\n");
	ck_assert_msg(warm >= 3, "%d warm calls:\n%s", warm, h_output(&h.s));
	ck_assert_msg(h_count(&h.s, "collected\nfound True\nM1 warm\nat exit\n") == warm, "output:\n%s",
		      h_output(&h.s));
	hc_end(&h);
}
END_TEST

/*
 * A tool's cache is the command's input under the helper (filters/defaults.h): a new
 * .pytest_cache/ file is seen by the next call, as a direct run sees it; and the
 * command's own rewrite of it with the same bytes (as mypy rewrites its plugins
 * snapshot every run) keeps the checkpoints after its read: the calls stay warm.
 */
START_TEST(test_a_tools_cache_is_an_input_and_a_same_bytes_rewrite_no_change)
{
	struct hc h;
	hc_init(&h);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", h_file(&h.s, ".pytest_cache"));
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	h_write(&h.s, ".pytest_cache/lastfailed", "A\n");
	h_write(&h.s, "prog.py", "import sys, time, os\n"
				 "data = open('.pytest_cache/lastfailed').read().strip()\n"
				 "while time.process_time() < 0.3: pass\n"
				 "import mod\n"
				 "with open('.pytest_cache/lastfailed.tmp', 'w') as f: f.write(data + '\\n')\n"
				 "os.replace('.pytest_cache/lastfailed.tmp', '.pytest_cache/lastfailed')\n"
				 "print('got', data, mod.x, 'warm' if time.process_time() < 0.3 else 'cold')\n");
	hc_helper(&h);
	hc_until_warm(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py");
	int warm0 = h_count(&h.s, "got A M1 warm");
	for (int i = 0; i < 3; i++)
		hc_call(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py", NULL);
	ck_assert_msg(h_count(&h.s, "got A M1 warm") == warm0 + 3, "the calls after the rewrites:\n%s",
		      h_output(&h.s));
	/* someone else's change of the cache: the next calls read it, and stay warm */
	int a = h_count(&h.s, "got A");
	h_write_rename(&h.s, ".pytest_cache/lastfailed", "B\n");
	for (int i = 0; i < 3; i++)
		hc_call(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py", NULL);
	ck_assert_msg(h_count(&h.s, "got A") == a && h_count(&h.s, "got B M1") == 3 && h_count(&h.s, "got B M1 warm") >= 1,
		      "after the change:\n%s", h_output(&h.s));
	/* an editor's save of the same bytes (a new file renamed over it): still warm */
	int bw = h_count(&h.s, "got B M1 warm");
	h_write_rename(&h.s, ".pytest_cache/lastfailed", "B\n");
	for (int i = 0; i < 2; i++)
		hc_call(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py", NULL);
	ck_assert_msg(h_count(&h.s, "got B M1 warm") == bw + 2, "after a save of the same bytes:\n%s", h_output(&h.s));
	hc_end(&h);
}
END_TEST

/* A file the command stat()ed by name is different: its times were seen, so a rewrite
 * with the same bytes is a change, as for a direct run, which sees the new mtime (make
 * goes by them). */
START_TEST(test_a_same_bytes_rewrite_of_a_file_stated_is_a_change)
{
	struct hc h;
	hc_init(&h);
	h_write(&h.s, "stamp.txt", "S\n");
	h_write(&h.s, "prog.py", "import os, time\n"
				 "seen = os.stat('stamp.txt').st_mtime_ns\n"
				 "while time.process_time() < 0.3: pass\n"
				 "import mod\n"
				 "print('stamp', seen == os.stat('stamp.txt').st_mtime_ns)\n");
	hc_helper(&h);
	for (int i = 0; i < 3; i++)
		hc_call(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py", NULL);
	for (int i = 0; i < 2; i++) {
		h_sleep_ms(20); /* a user's later save: the file clock has moved on */
		h_write_rename(&h.s, "stamp.txt", "S\n");
		hc_call(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py", NULL);
	}
	ck_assert_msg(h_count(&h.s, "stamp True") == 5 && h_count(&h.s, "False") == 0, "output:\n%s", h_output(&h.s));
	hc_end(&h);
}
END_TEST

/* A program that reads its stdin before its imports: each call gets its own line, as
 * a direct run does (a checkpoint after the read would replay the first call's). */
START_TEST(test_stdin_read_before_a_checkpoint_is_the_callers)
{
	struct hc h;
	hc_init(&h);
	h_write(&h.s, "prog.py", "import sys\nline = sys.stdin.readline().strip()\nimport mod\nprint('read', line, mod.x)\n");
	hc_helper(&h);
	const char *words[] = {"one", "two", "three", "four"};
	for (int i = 0; i < 4; i++) {
		char script[256];
		snprintf(script, sizeof script, PYCLEAN "echo %s | $CLIENT /usr/bin/python3 prog.py", words[i]);
		hc_call(&h, script, NULL);
		char want[64];
		snprintf(want, sizeof want, "read %s M1", words[i]);
		ck_assert_msg(h_count(&h.s, want) == 1, "call %d:\n%s", i, h_output(&h.s));
	}
	hc_end(&h);
}
END_TEST

/* Warm perl: its own environment handling (it frees and reallocates environ) works. */
START_TEST(test_warm_perl_runs_to_its_end)
{
	struct hc h;
	hc_init(&h);
	h_write(&h.s, "prog.pl", "do './startup.pl';\n"
				 "1 while (times)[0] < 0.3;\n"
				 "my $v = do './mod.pl';\n"
				 "$ENV{ADDED} = 'x' x 100; delete $ENV{HOME};\n"
				 "print \"perl $v \", ((times)[0] < 0.3 ? 'warm' : 'cold'), \"\\n\";\n");
	h_write(&h.s, "startup.pl", "1;\n");
	h_write(&h.s, "mod.pl", "'P1';\n");
	hc_helper(&h);
	for (int i = 0; i < 4; i++) {
		int st = hc_call(&h, "exec $CLIENT perl prog.pl", NULL);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "call %d: status 0x%x:\n%s", i, st, h_output(&h.s));
	}
	ck_assert_msg(h_count(&h.s, "perl P1 warm") >= 2, "output:\n%s", h_output(&h.s));
	hc_end(&h);
}
END_TEST

/* A save right before a call: the call runs the saved module, every time. */
START_TEST(test_a_call_right_after_a_save_runs_the_saved_module)
{
	struct hc h;
	hc_init(&h);
	hc_helper(&h);
	hc_until_warm(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py");
	for (int i = 2; i < 8; i++) {
		char content[64], want[64];
		snprintf(content, sizeof content, "x = 'M%d'\n", i);
		if (i % 2)
			h_write(&h.s, "mod.py", content); /* in place */
		else
			h_write_rename(&h.s, "mod.py", content);
		hc_call(&h, PYCLEAN "exec $CLIENT /usr/bin/python3 prog.py", NULL);
		snprintf(want, sizeof want, "M%d ", i);
		ck_assert_msg(h_count(&h.s, want) == 1, "save %d not seen:\n%s", i, h_output(&h.s));
	}
	/* the start-up is still skipped: the checkpoint before mod.py's read serves */
	ck_assert_msg(h_count(&h.s, " warm") >= 4, "output:\n%s", h_output(&h.s));
	hc_end(&h);
}
END_TEST

/* A client killed (by pid) while its command, which ignores SIGTERM, runs: the command
 * ends within the grace period; a request queued behind it whose client died too is
 * never run; the next call is served. */
START_TEST(test_a_dead_client_ends_its_command_and_its_queued_request)
{
	struct hc h;
	hc_init(&h);
	h_write(&h.s, "stay.pl", "$SIG{TERM} = 'IGNORE'; $| = 1;\n"
				 "my $v = do './mod.pl';\n"
				 "chomp(my $who = <STDIN>);\n" /* after the checkpoints: the caller's */
				 "if (-e 'block') { print \"waiting $who\\n\"; sleep 100; }\n"
				 "print \"done $who\\n\";\n");
	h_write(&h.s, "mod.pl", "'P1';\n");
	h_write(&h.s, "block", "");
	h_write(&h.s, "in.a", "a\n");
	h_write(&h.s, "in.b", "b\n");
	h_write(&h.s, "in.c", "c\n");
	hc_helper(&h);
	/* exec: the pid the test kills is the client's */
	pid_t a = hc_start(&h, "exec $CLIENT perl stay.pl < in.a", NULL, -1);
	ck_assert_msg(h_wait_for(&h.s, "waiting a", 1, WAIT), "output:\n%s", h_output(&h.s));
	pid_t b = hc_start(&h, "exec $CLIENT perl stay.pl < in.b", NULL, -1);
	h_sleep_ms(500); /* b's request reaches the session and waits behind a's */
	ck_assert_int_eq(kill(b, SIGKILL), 0);
	ck_assert_int_eq(waitpid(b, NULL, 0), b);
	unlink(h_file(&h.s, "block"));
	double t0 = h_clock();
	ck_assert_int_eq(kill(a, SIGKILL), 0);
	ck_assert_int_eq(waitpid(a, NULL, 0), a);
	int st = hc_call(&h, "exec $CLIENT perl stay.pl < in.c", NULL);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	ck_assert_msg(h_clock() - t0 < 15, "the next call waited %.1f s", h_clock() - t0);
	ck_assert_msg(h_count(&h.s, "done c") == 1 && h_count(&h.s, " b") == 0 && h_count(&h.s, "done a") == 0,
		      "output:\n%s", h_output(&h.s));
	hc_end(&h);
}
END_TEST

/* The state letter of process pid (/proc/PID/stat), or '?'. */
static char hc_state(pid_t pid)
{
	char p[64], buf[512];
	snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
	int fd = open(p, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	char *r = strrchr(buf, ')');
	return r && r[1] == ' ' ? r[2] : '?';
}

/* Ctrl-Z on the client (SIGTSTP to it): the command stops with it; SIGCONT: both go on. */
START_TEST(test_ctrl_z_stops_the_command_and_cont_resumes_it)
{
	struct hc h;
	hc_init(&h);
	h_write(&h.s, "z.pl", "$| = 1;\nmy $v = do './mod.pl';\nprint \"pid $$\\n\";\n"
			      "use Time::HiRes qw(time sleep);\nmy $t = time + 1; sleep 0.05 while time < $t;\nprint \"end\\n\";\n");
	h_write(&h.s, "mod.pl", "'P1';\n");
	hc_helper(&h);
	pid_t c = hc_start(&h, "exec $CLIENT perl z.pl", NULL, -1);
	ck_assert_msg(h_wait_for(&h.s, "pid ", 1, WAIT), "output:\n%s", h_output(&h.s));
	int cmd = 0;
	const char *o = strstr(h_output(&h.s), "pid ");
	ck_assert(o && sscanf(o, "pid %d", &cmd) == 1 && cmd > 0);
	ck_assert_int_eq(kill(c, SIGTSTP), 0);
	double end = h_clock() + WAIT;
	while (hc_state((pid_t)cmd) != 'T' || hc_state(c) != 'T') {
		ck_assert_msg(h_clock() < end, "command %c, client %c", hc_state((pid_t)cmd), hc_state(c));
		h_sleep_ms(10); /* polling */
	}
	h_sleep_ms(1500); /* longer than the command's own second: stopped, it prints nothing */
	ck_assert_int_eq(h_count(&h.s, "end"), 0);
	ck_assert_int_eq(kill(c, SIGCONT), 0);
	ck_assert(h_wait_exit(&h.s, WAIT));
	ck_assert_msg(WIFEXITED(h.s.status) && WEXITSTATUS(h.s.status) == 0, "status 0x%x", h.s.status);
	ck_assert_int_eq(h_count(&h.s, "end"), 1);
	hc_end(&h);
}
END_TEST

/* One call on a fresh pseudo-terminal (its stdin and stdout): the program switches it
 * to cbreak mode, reads one key the test types (no newline), answers. 1 when the answer
 * came within the deadline. */
static int hc_key_call(struct hc *h)
{
	char client[4096];
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	char *env[] = {h->sockvar, h->logvar, "PYTHONDONTWRITEBYTECODE=1", NULL};
	char *argv[] = {client, "/usr/bin/python3", "key.py", NULL};
	return hx_key_call(&h->s, env, argv, "key x M1");
}

/* less-style raw input: a checkpoint taken after tcsetattr would hand the next call a
 * terminal never switched (the key would wait for Enter); each call answers the key. */
START_TEST(test_a_program_that_sets_the_terminal_mode_gets_each_key)
{
	struct hc h;
	hc_init(&h);
	h_write(&h.s, "key.py", "import os, sys, termios, tty\n"
				"old = termios.tcgetattr(0)\n"
				"tty.setcbreak(0)\n"
				"import mod\n"
				"os.write(1, b'ready\\n')\n"
				"c = os.read(0, 1).decode()\n"
				"termios.tcsetattr(0, termios.TCSADRAIN, old)\n"
				"print('key', c, mod.x)\n");
	hc_helper(&h);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(hc_key_call(&h), "call %d never answered the key:\n%s", i, h_output(&h.s));
	hc_end(&h);
}
END_TEST

Suite *helper_contract_suite(void)
{
	Suite *s = suite_create("helper-contract");
	TCase *tc = tcase_create("warm call as a direct run");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_dollar_paren_and_pipes_end_with_the_call);
	tcase_add_test(tc, test_warm_python_draws_new_random_numbers);
	tcase_add_test(tc, test_warm_python_collects_the_cycles_it_makes);
	tcase_add_test(tc, test_a_tools_cache_is_an_input_and_a_same_bytes_rewrite_no_change);
	tcase_add_test(tc, test_a_same_bytes_rewrite_of_a_file_stated_is_a_change);
	tcase_add_test(tc, test_stdin_read_before_a_checkpoint_is_the_callers);
	tcase_add_test(tc, test_warm_perl_runs_to_its_end);
	tcase_add_test(tc, test_a_call_right_after_a_save_runs_the_saved_module);
	tcase_add_test(tc, test_a_dead_client_ends_its_command_and_its_queued_request);
	tcase_add_test(tc, test_ctrl_z_stops_the_command_and_cont_resumes_it);
	tcase_add_test(tc, test_a_program_that_sets_the_terminal_mode_gets_each_key);
	suite_add_tcase(s, tc);
	return s;
}
