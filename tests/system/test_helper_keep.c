/*
 * tests/system/test_helper_keep.c — a helper session keeps its checkpoints between
 * calls while nothing they depend on changed: every call after the first is served from
 * the first run's (issue 11: warm calls stay warm), a program built just before its
 * first call included. Runs in the test runner; the helper is the test's own child,
 * tagged, ended by pid.
 *
 * "Served from the first run" is proven without timing: a copy of a checkpoint keeps
 * its run's memory, so it prints what the first run printed where a fresh exec prints
 * something new: the 16 bytes the kernel gives every exec (AT_RANDOM, build/progs/startid:
 * its start checkpoint, the only one), the address of a module object (python3: its
 * checkpoints before its reads of the standard library; ASLR places a new exec's heap
 * elsewhere).
 */
#include "harness.h"
#include "helperd.h"
#include "suites.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT 30.0

/* Runs argv (a path) to its end, its output (stdout and stderr) into out; its status 0. */
static void hk_run_to(struct hx *h, char *const argv[], char *out, size_t len)
{
	char name[64];
	static int seq;
	snprintf(name, sizeof name, "call%d.txt", seq++);
	int fd = open(h_file(&h->s, name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	char *env[] = {h->sockvar, NULL};
	h_start_io(&h->s, argv, env, -1, fd);
	close(fd);
	ck_assert_msg(h_wait_exit(&h->s, WAIT), "the call of %s did not end", argv[0]);
	FILE *f = fopen(h_file(&h->s, name), "r");
	ck_assert(f != NULL);
	size_t got = fread(out, 1, len - 1, f);
	out[got] = '\0';
	fclose(f);
	ck_assert_msg(WIFEXITED(h->s.status) && WEXITSTATUS(h->s.status) == 0, "%s: status 0x%x: %s", argv[0],
		      h->s.status, out);
}

/* One call of argv through forkmon-client, its output (stdout and stderr) into out. */
static void hk_call(struct hx *h, char *const argv[], char *out, size_t len)
{
	char *cargv[16];
	int n = 0;
	cargv[n++] = (char *)h_path("build/forkmon-client");
	for (int i = 0; argv[i] && n < 15; i++)
		cargv[n++] = argv[i];
	cargv[n] = NULL;
	hk_run_to(h, cargv, out, len);
}

/* Calls argv n times: every call after the first prints what the first printed. */
static void hk_calls_stay_warm(struct hx *h, char *const argv[], int n, const char *want)
{
	char first[4096], out[4096];
	hk_call(h, argv, first, sizeof first);
	ck_assert_msg(strstr(first, want) != NULL, "the first call printed: %s", first);
	for (int i = 1; i < n; i++) {
		hk_call(h, argv, out, sizeof out);
		ck_assert_msg(!strcmp(out, first), "call %d of %s was not served from the first run: %s, then %s", i + 1,
			      argv[0], first, out);
	}
}

/* The start checkpoint's copy holds the memory file of its hook's connection (its
 * ring): no file on disk, nothing a rebuild replaces. Once it dropped the checkpoint at
 * every call, and every call ran cold. */
START_TEST(test_the_start_checkpoint_serves_every_later_call)
{
	struct hx h;
	hx_begin(&h);
	char prog[4096];
	snprintf(prog, sizeof prog, "%s", h_path("build/progs/startid"));
	char *argv[] = {prog, NULL};
	hk_calls_stay_warm(&h, argv, 6, "exec ");
	hx_end(&h);
}
END_TEST

/* Until the kernel's file clock (CLOCK_REALTIME_COARSE, which stamps files) has passed
 * path's last change: a run started from now on starts after it, on any clock. */
static void hk_wait_clock_past(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	double end = h_clock() + WAIT;
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME_COARSE, &now);
		if (now.tv_sec > st.st_ctim.tv_sec ||
		    (now.tv_sec == st.st_ctim.tv_sec && now.tv_nsec > st.st_ctim.tv_nsec))
			return;
		ck_assert_msg(h_clock() < end, "the clock never passed the file's change");
		h_sleep_ms(1); /* polling: a tick at most */
	}
}

/* A program (re)built right before its first call: that call runs it from the start,
 * and its start checkpoint, taken after the build, serves the next calls. Once every
 * run started within 20 ms of the build had its start checkpoint refused at the next
 * call (a margin on the file's ctime): a few cold calls in a row. */
START_TEST(test_a_program_built_just_before_stays_warm)
{
	struct hx h;
	hx_begin(&h);
	char prog[4096];
	snprintf(prog, sizeof prog, "%s", h_file(&h.s, "startid"));
	char src[4096];
	snprintf(src, sizeof src, "%s", h_path("build/progs/startid"));
	char *cp[] = {"cp", src, prog, NULL};
	int st = h_run(&h.s, cp);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "cp: 0x%x", st);
	hk_wait_clock_past(prog);
	char *argv[] = {prog, NULL};
	hk_calls_stay_warm(&h, argv, 4, "exec ");
	hx_end(&h);
}
END_TEST

START_TEST(test_python_checkpoints_serve_every_later_call)
{
	struct hx h;
	hx_begin(&h);
	char *argv[] = {"/usr/bin/python3", "-c", "import sys; print('module', hex(id(sys)))", NULL};
	hk_calls_stay_warm(&h, argv, 4, "module 0x");
	hx_end(&h);
}
END_TEST

/*
 * A call's last read is where the next calls start: spacing gives no checkpoint at
 * tail.py, read right after m4.py, but once a call has ended there the next asks for
 * one and the later calls resume from it. Proven by what they skip: between m4 and tail
 * each run reads .git/counter, which the test changes before every call (an ignored
 * file: no input of the command's); a call served from after that read prints what the
 * run that took the checkpoint read there. Nothing is written before the checkpoint, so
 * this holds in the strict rule too (streams.c: no inotify instance to spare).
 */
START_TEST(test_later_calls_start_at_the_last_read)
{
	struct hx h;
	hx_begin(&h);
	h_write(&h.s, "prog.py", "import sys\n"
				 "sys.dont_write_bytecode = True\n"
				 "import m1, m2, m3, m4\n"
				 "seen = open('.git/counter').read().strip()\n"
				 "import tail\n"
				 "print('tail', tail.x, 'counter', seen)\n");
	for (int i = 1; i <= 4; i++) {
		char name[16];
		snprintf(name, sizeof name, "m%d.py", i);
		h_write(&h.s, name, "v = 1\n");
	}
	h_write(&h.s, "tail.py", "x = 'T1'\n");
	ck_assert_int_eq(mkdir(h_file(&h.s, ".git"), 0755), 0);
	char *argv[] = {"/usr/bin/python3", "prog.py", NULL};
	int seen[8];
	char out[4096];
	for (int i = 0; i < 8; i++) {
		char counter[16];
		snprintf(counter, sizeof counter, "%d\n", i + 1);
		h_write(&h.s, ".git/counter", counter);
		hk_call(&h, argv, out, sizeof out);
		ck_assert_msg(sscanf(out, "tail T1 counter %d", &seen[i]) == 1, "call %d printed: %s", i + 1, out);
	}
	/* later calls came from the checkpoint at tail.py's read: the counter it read (a
	 * loaded machine may drop it again, and a call retakes it: some calls, not all) */
	int stale = 0;
	for (int i = 2; i < 8; i++)
		stale += seen[i] != i + 1;
	ck_assert_msg(stale >= 2, "the counter each call printed: %d %d %d %d %d %d %d %d", seen[0], seen[1], seen[2],
		      seen[3], seen[4], seen[5], seen[6], seen[7]);
	hx_end(&h);
}
END_TEST

/*
 * Between calls, the session forks the next call's copy from its deepest checkpoint (a
 * spare, helper/spare.c): `forkmon helper status` names it, and the next call is that
 * process, made before the call came. Its output is a warm call's as ever.
 */
START_TEST(test_the_next_call_is_the_copy_made_before_it)
{
	struct hx h;
	hx_begin(&h);
	h_write(&h.s, "prog.py", "import sys, os\n"
				 "sys.dont_write_bytecode = True\n"
				 "import mod\n"
				 "print('pid', os.getpid(), mod.x)\n");
	h_write(&h.s, "mod.py", "x = 'M1'\n");
	char *argv[] = {"/usr/bin/python3", "prog.py", NULL};
	char fm[4096];
	snprintf(fm, sizeof fm, "%s", h_path("build/forkmon"));
	char *status[] = {fm, "helper", "status", "-s", h.sock, NULL};
	char out[4096], st[8192];
	hk_call(&h, argv, out, sizeof out);
	int served = 0;
	char seen[512] = "";
	for (int i = 0; i < 4; i++) {
		/* the spare is forked after the call ended: until the status names it */
		int spare = 0;
		double end = h_clock() + WAIT;
		while (!spare && h_clock() < end) {
			hk_run_to(&h, status, st, sizeof st);
			const char *p = strstr(st, "the next call's copy ready (pid ");
			if (p)
				spare = atoi(p + strlen("the next call's copy ready (pid "));
			else
				h_sleep_ms(20); /* polling */
		}
		ck_assert_msg(spare > 0, "no spare in the status:\n%s", st);
		hk_call(&h, argv, out, sizeof out);
		int pid = 0;
		ck_assert_msg(sscanf(out, "pid %d M1", &pid) == 1, "call %d printed %s", i + 2, out);
		served += pid == spare;
		size_t l = strlen(seen);
		snprintf(seen + l, sizeof seen - l, " %d/%d", pid, spare);
	}
	/* (a loaded machine may take a later checkpoint meanwhile, whose call forks anew) */
	ck_assert_msg(served >= 2, "calls' pids / the spare named before each:%s", seen);
	hx_end(&h);
}
END_TEST

Suite *helper_keep_suite(void)
{
	Suite *s = suite_create("helper-keep");
	TCase *tc = tcase_create("keep");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_the_start_checkpoint_serves_every_later_call);
	tcase_add_test(tc, test_a_program_built_just_before_stays_warm);
	tcase_add_test(tc, test_python_checkpoints_serve_every_later_call);
	tcase_add_test(tc, test_later_calls_start_at_the_last_read);
	tcase_add_test(tc, test_the_next_call_is_the_copy_made_before_it);
	suite_add_tcase(s, tc);
	return s;
}
