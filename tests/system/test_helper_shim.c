/*
 * tests/system/test_helper_shim.c — issue 11 item 12: a command whose wrapper script ran
 * short-lived subprocesses before `exec`ing the real program (pyenv's `python3` shim) is
 * still served warm once they have exited, and gives what a direct run gives; a
 * subprocess that printed to the client's stdout, read its stdin or changed its
 * terminal's modes (stty on a pseudo-terminal) keeps every call cold (a warm copy would
 * skip it). Runs in the test runner; the helper is the test's own
 * child, tagged (FORKMON_TEST_TAG), ended by pid.
 *
 * "Warm" is proven without timing, as in test_helper_contract.c: the program burns 0.2 s
 * of CPU in its start-up and says on stderr whether it ran it; stdout is compared with
 * a direct run's, byte for byte.
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
#define PYCLEAN "unset PYTHONUNBUFFERED PYTHONHASHSEED PYTHONSTARTUP PYTHONPATH; export PYTHONDONTWRITEBYTECODE=1; "

/* startup.py first, 0.2 s of work, then mod.py (the checkpoint before it skips the work) */
static const char shim_prog[] = "import os, sys, time\n"
				"import startup\n"
				"while time.process_time() < 0.2: pass\n"
				"import mod\n"
				"print(mod.x, sys.argv[1:], os.environ.get('WRAPPED'))\n"
				"print('warm' if time.process_time() < 0.2 else 'cold', file=sys.stderr)\n";

/* $(...) and a pipe of short subprocesses, a builtin's write to /dev/null, then exec */
static const char shim_wrap[] = "#!/bin/bash\n"
				"v=$(echo hello | tr a-z A-Z)\n"
				"n=$(printf 'a\\nb\\n' | wc -l)\n"
				"echo noise >/dev/null\n"
				"export WRAPPED=\"$v-$n\"\n"
				"exec /usr/bin/python3 prog.py \"$@\"\n";

struct hs {
	struct h_session s;
	char sock[4096], sockvar[4200], log[4096], logvar[4200];
	pid_t helper;
};

static void hs_init(struct hs *h)
{
	h_init(&h->s);
	hx_paths(&h->s, h->sock, sizeof h->sock, h->sockvar, sizeof h->sockvar, h->log, sizeof h->log, h->logvar,
		 sizeof h->logvar);
	h_write(&h->s, "prog.py", shim_prog);
	h_write(&h->s, "startup.py", "S = 1\n");
	h_write(&h->s, "mod.py", "x = 'M1'\n");
	h_write(&h->s, "wrap.sh", shim_wrap);
	ck_assert_int_eq(chmod(h_file(&h->s, "wrap.sh"), 0755), 0);
}

/* The helper as the client would start it, but as the test's child. */
static void hs_helper(struct hs *h)
{
	h->helper = hx_start(&h->s, h->sock, h->log, NULL, NULL);
}

/* Runs `/bin/sh -c script` (CLIENT: the client's path) to its end; its status. */
static int hs_call(struct hs *h, const char *script)
{
	char client[4096], full[8192];
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	snprintf(full, sizeof full, "CLIENT=%s; %s", client, script);
	char *env[] = {h->sockvar, h->logvar, NULL};
	char *argv[] = {"/bin/sh", "-c", full, NULL};
	h_start_io(&h->s, argv, env, -1, -1);
	ck_assert_msg(h_wait_exit(&h->s, WAIT), "the call did not end: %s\noutput:\n%s", script, h_output(&h->s));
	return h->s.status;
}

/* The content of the session's file name (static buffer). */
static const char *hs_read(struct hs *h, const char *name)
{
	static char buf[8192];
	buf[0] = '\0';
	FILE *f = fopen(h_file(&h->s, name), "re");
	if (f) {
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static void hs_end(struct hs *h)
{
	hx_stop(h->helper, h->sock);
	ck_assert_msg(h_none_left(&h->s, 20), "%d processes left:\n%s", h_left(&h->s), h_describe(&h->s));
	h_cleanup(&h->s);
}

/*
 * cmd (a command line, run from the session's directory) directly once and then through
 * the client until a call says "warm" on stderr (at most 6 calls: the first is cold);
 * every call's stdout is the direct run's. The number of calls it took.
 */
static int hs_until_warm(struct hs *h, const char *cmd)
{
	char script[4096];
	snprintf(script, sizeof script, PYCLEAN "%s >direct.out 2>direct.err", cmd);
	int st = hs_call(h, script);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "direct run: status 0x%x: %s", st, hs_read(h, "direct.err"));
	char direct[8192];
	snprintf(direct, sizeof direct, "%s", hs_read(h, "direct.out"));
	ck_assert_msg(strstr(direct, "M1 "), "direct run printed: %s", direct);
	for (int i = 1; i <= 6; i++) {
		snprintf(script, sizeof script, PYCLEAN "exec $CLIENT %s >call.out 2>call.err", cmd);
		st = hs_call(h, script);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "call %d: status 0x%x: %s", i, st, hs_read(h, "call.err"));
		ck_assert_msg(!strcmp(hs_read(h, "call.out"), direct), "call %d printed:\n%s\ndirect:\n%s", i,
			      hs_read(h, "call.out"), direct);
		if (strstr(hs_read(h, "call.err"), "warm"))
			return i;
	}
	ck_abort_msg("never served warm: %s\nhelper log:\n%s", cmd, hs_read(h, "helper.log"));
	return 0;
}

START_TEST(test_a_wrapper_with_subprocesses_is_served_warm)
{
	struct hs h;
	hs_init(&h);
	hs_helper(&h);
	int n = hs_until_warm(&h, "./wrap.sh arg1");
	ck_assert_msg(n <= 2, "warm only at call %d", n);
	ck_assert_str_eq(hs_read(&h, "call.out"), "M1 ['arg1'] HELLO-2\n");
	hs_end(&h);
}
END_TEST

/* What a wrapper's subprocess gave the client's stdout, or took from its stdin, a warm
 * copy would skip: every call runs it (and still gives what a direct run gives). */
START_TEST(test_a_subprocess_that_used_the_clients_streams_keeps_calls_cold)
{
	struct hs h;
	hs_init(&h);
	h_write(&h.s, "loud.sh", "#!/bin/bash\n/bin/echo before\nexec /usr/bin/python3 prog.py\n");
	h_write(&h.s, "reads.sh", "#!/bin/bash\nline=$(head -n 1)\nexec /usr/bin/python3 prog.py \"$line\"\n");
	ck_assert_int_eq(chmod(h_file(&h.s, "loud.sh"), 0755), 0);
	ck_assert_int_eq(chmod(h_file(&h.s, "reads.sh"), 0755), 0);
	hs_helper(&h);
	for (int i = 0; i < 3; i++) {
		hs_call(&h, PYCLEAN "exec $CLIENT ./loud.sh >call.out 2>call.err");
		ck_assert_str_eq(hs_read(&h, "call.out"), "before\nM1 [] None\n");
		ck_assert_msg(strstr(hs_read(&h, "call.err"), "cold"), "call %d: %s", i, hs_read(&h, "call.err"));
	}
	const char *words[] = {"one", "two", "three"};
	for (int i = 0; i < 3; i++) {
		char script[512], want[64];
		snprintf(script, sizeof script, PYCLEAN "echo %s | $CLIENT ./reads.sh >call.out 2>call.err", words[i]);
		hs_call(&h, script);
		snprintf(want, sizeof want, "M1 ['%s'] None\n", words[i]);
		ck_assert_str_eq(hs_read(&h, "call.out"), want);
	}
	hs_end(&h);
}
END_TEST

/* One call of ./cbreak.sh on a fresh pseudo-terminal (its stdin, stdout and stderr):
 * the wrapper's `stty` (a subprocess) puts it in cbreak mode, the program reads one
 * key the test types, no newline. 1 when the answer came within the deadline. */
static int hs_key_call(struct hs *h)
{
	char client[4096];
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	char *env[] = {h->sockvar, h->logvar, "PYTHONDONTWRITEBYTECODE=1", NULL};
	char *argv[] = {client, "./cbreak.sh", NULL};
	return hx_key_call(&h->s, env, argv, "key x M1");
}

/* A wrapper whose subprocess changed the terminal's modes (stty, no byte read or
 * written): a checkpoint after it would hand the next call a terminal never switched. */
START_TEST(test_a_wrapper_that_sets_the_terminal_mode_gets_each_key)
{
	struct hs h;
	hs_init(&h);
	h_write(&h.s, "cbreak.sh", "#!/bin/bash\nstty -icanon min 1\nexec /usr/bin/python3 key.py\n");
	ck_assert_int_eq(chmod(h_file(&h.s, "cbreak.sh"), 0755), 0);
	h_write(&h.s, "key.py", "import os, time\n"
				"import startup\n"
				"while time.process_time() < 0.2: pass\n"
				"import mod\n"
				"os.write(1, b'ready\\n')\n"
				"c = os.read(0, 1).decode()\n"
				"print('key', c, mod.x)\n");
	hs_helper(&h);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(hs_key_call(&h), "call %d never answered the key:\n%s", i, h_output(&h.s));
	hs_end(&h);
}
END_TEST

/* Is `python3` on PATH pyenv's shim? Its path in shim (else 0). */
static int hs_pyenv_shim(char *shim, size_t len)
{
	FILE *p = popen("command -v python3", "r");
	if (!p)
		return 0;
	int ok = fgets(shim, (int)len, p) != NULL;
	pclose(p);
	if (!ok)
		return 0;
	shim[strcspn(shim, "\n")] = '\0';
	FILE *f = fopen(shim, "re");
	if (!f)
		return 0;
	char head[4096];
	size_t n = fread(head, 1, sizeof head - 1, f);
	fclose(f);
	head[n] = '\0';
	return !strncmp(head, "#!", 2) && strstr(head, "pyenv") != NULL;
}

START_TEST(test_the_pyenv_shim_is_served_warm)
{
	char shim[4096];
	if (!hs_pyenv_shim(shim, sizeof shim)) {
		fprintf(stderr, "helper-shim: skipped: python3 on PATH is not pyenv's shim\n");
		return;
	}
	struct hs h;
	hs_init(&h);
	hs_helper(&h);
	hs_until_warm(&h, "python3 prog.py arg1");
	ck_assert_msg(strstr(hs_read(&h, "call.out"), "M1 ['arg1'] None"), "%s", hs_read(&h, "call.out"));
	hs_end(&h);
}
END_TEST

Suite *helper_shim_suite(void)
{
	Suite *s = suite_create("helper-shim");
	TCase *tc = tcase_create("wrappers that exec the program");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_a_wrapper_with_subprocesses_is_served_warm);
	tcase_add_test(tc, test_a_subprocess_that_used_the_clients_streams_keeps_calls_cold);
	tcase_add_test(tc, test_a_wrapper_that_sets_the_terminal_mode_gets_each_key);
	tcase_add_test(tc, test_the_pyenv_shim_is_served_warm);
	suite_add_tcase(s, tc);
	return s;
}
