/*
 * tests/system/test_helper_start.c — the start checkpoint of a helper session (issue
 * 11's trivial round trip): a command that reads no watched file, a C program built
 * here, is served warm from a checkpoint the hook took before any of its code ran, and
 * prints what a direct run prints: argv, main()'s environment array and environ, its
 * exit status. A rebuilt program runs its new code. Runs in the test runner; the helper
 * is the test's own child, tagged, ended by pid.
 *
 * "Warm" is proven without timing: the program prints the 16 bytes the kernel gave it at
 * exec (AT_RANDOM); a fresh exec gets new ones, a copy of the checkpoint the first run's.
 */
#include "harness.h"
#include "helperd.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT 30.0

static const char prog_c[] = "#include <stdio.h>\n"
			     "#include <string.h>\n"
			     "#include <sys/auxv.h>\n"
			     "extern char **environ;\n"
			     "int main(int argc, char **argv, char **envp) {\n"
			     "	const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);\n"
			     "	printf(\"rand \");\n"
			     "	for (int i = 0; i < 16; i++) printf(\"%02x\", r[i]);\n"
			     "	printf(\"\\nVERSION argc %d\\n\", argc);\n"
			     "	for (int i = 0; i < argc; i++) printf(\"arg [%s]\\n\", argv[i]);\n"
			     "	for (char **e = envp; *e; e++)\n"
			     "		if (strncmp(*e, \"FORKMON_\", 8) || !strncmp(*e, \"FORKMON_X\", 9))\n"
			     "			printf(\"envp [%s]\\n\", *e);\n"
			     "	printf(\"envp is environ: %d\\n\", envp == environ);\n"
			     "	return 7;\n"
			     "}\n";

struct hs {
	struct h_session s;
	char sock[4096], sockvar[4200], log[4096], logvar[4200];
	pid_t helper;
};

/* Builds ./prog from prog.c with VERSION replaced by version. */
static void hs_build(struct hs *h, const char *version)
{
	char src[sizeof prog_c + 64], *v = strstr(prog_c, "VERSION");
	snprintf(src, sizeof src, "%.*s%s%s", (int)(v - prog_c), prog_c, version, v + strlen("VERSION"));
	h_write(&h->s, "prog.c", src);
	char out[4096], in[4096];
	snprintf(out, sizeof out, "%s", h_file(&h->s, "prog"));
	snprintf(in, sizeof in, "%s", h_file(&h->s, "prog.c"));
	char *argv[] = {"cc", "-O0", "-o", out, in, NULL};
	int st = h_run(&h->s, argv);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "cc failed: 0x%x", st);
}

/* Runs `[CLIENT] ./prog one 'two three'` through /bin/sh, FOO set (and the variables of
 * vars, exported), into file name with its status appended. */
static void hs_call_with(struct hs *h, int through_client, const char *name, const char *vars)
{
	char script[16384], foo[] = "FOO=bar baz";
	snprintf(script, sizeof script, "%s%s ./prog one 'two three' >%s 2>&1; echo \"status $?\" >>%s", vars,
		 through_client ? h_path("build/forkmon-client") : "", name, name);
	char *env[] = {h->sockvar, h->logvar, foo, NULL};
	char *argv[] = {"/bin/sh", "-c", script, NULL};
	h_start(&h->s, argv, env);
	ck_assert_msg(h_wait_exit(&h->s, WAIT), "the call did not end: %s", script);
}

static void hs_call(struct hs *h, int through_client, const char *name)
{
	hs_call_with(h, through_client, name, "");
}

/* What file name holds: its "rand" line into rnd, the rest into rest. */
static void hs_read(struct hs *h, const char *name, char *rnd, size_t rndlen, char *rest, size_t restlen)
{
	FILE *f = fopen(h_file(&h->s, name), "r");
	ck_assert_msg(f != NULL, "no %s", name);
	char line[4096];
	rnd[0] = rest[0] = '\0';
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, "rand ", 5))
			snprintf(rnd, rndlen, "%s", line + 5);
		else
			strncat(rest, line, restlen - strlen(rest) - 1);
	}
	fclose(f);
}

START_TEST(test_a_program_is_served_from_its_start)
{
	struct hs h;
	h_init(&h.s);
	hx_paths(&h.s, h.sock, sizeof h.sock, h.sockvar, sizeof h.sockvar, h.log, sizeof h.log, h.logvar,
		 sizeof h.logvar);
	hs_build(&h, "v1");
	h.helper = hx_start(&h.s, h.sock, h.log, NULL, NULL);
	static char direct_rnd[64], direct[16384], rnd[8][64], out[8][16384];
	hs_call(&h, 0, "direct.txt");
	hs_read(&h, "direct.txt", direct_rnd, sizeof direct_rnd, direct, sizeof direct);
	ck_assert_msg(strstr(direct, "v1 argc 3\narg [./prog]\narg [one]\narg [two three]\n") &&
			      strstr(direct, "envp [FOO=bar baz]\n") && strstr(direct, "envp is environ: 1\nstatus 7\n"),
		      "direct run:\n%s", direct);
	/* the first call starts the command (its start checkpoint is taken); then, once a
	 * copy of it has served (two calls with the first run's AT_RANDOM), warm */
	int n = 0, warm = 0;
	for (; n < 8 && warm < 2; n++) {
		char name[32];
		snprintf(name, sizeof name, "call%d.txt", n);
		hs_call(&h, 1, name);
		hs_read(&h, name, rnd[n], sizeof rnd[n], out[n], sizeof out[n]);
		if (n > 0 && !strcmp(rnd[n], rnd[n - 1]))
			warm++;
	}
	ck_assert_msg(warm == 2, "never served from its start checkpoint (%d calls)", n);
	for (int i = n - 3; i < n; i++)
		ck_assert_str_eq(rnd[i], rnd[n - 1]);
	ck_assert_msg(strcmp(rnd[n - 1], direct_rnd) != 0, "a direct run had the same AT_RANDOM");
	for (int i = n - 2; i < n; i++)
		ck_assert_msg(!strcmp(out[i], direct), "a warm call printed\n%s\nand a direct run\n%s", out[i], direct);
	/* more variables than its run had (forkmon's own are no part of the session's key):
	 * main()'s array has them all, as a direct run's has */
	const char *more = "export FORKMON_XA=1 FORKMON_XB=2 FORKMON_XC=3 FORKMON_XD=4 FORKMON_XE=5 FORKMON_XF=6 "
			   "FORKMON_XG=7 FORKMON_XH=8 FORKMON_XI=9 FORKMON_XJ=10 FORKMON_XK=11 FORKMON_XL=12; ";
	hs_call_with(&h, 1, "more.txt", more);
	static char mrnd[64], mout[16384];
	hs_read(&h, "more.txt", mrnd, sizeof mrnd, mout, sizeof mout);
	ck_assert_msg(strstr(mout, "envp [FORKMON_XA=1]\n") && strstr(mout, "envp [FORKMON_XL=12]\n") &&
			      strstr(mout, "envp is environ: 1\nstatus 7\n"),
		      "a call with more variables printed\n%s", mout);
	/* rebuilt: the next call runs the new program, never the checkpoint's */
	hs_build(&h, "v2");
	hs_call(&h, 1, "after.txt");
	static char arnd[64], after[16384];
	hs_read(&h, "after.txt", arnd, sizeof arnd, after, sizeof after);
	ck_assert_msg(strstr(after, "v2 argc 3\n") && strstr(after, "status 7\n"), "after the rebuild:\n%s", after);
	ck_assert_msg(strcmp(arnd, rnd[n - 1]) != 0, "the old checkpoint served the rebuilt program");
	hx_stop(h.helper, h.sock);
	ck_assert_msg(h_none_left(&h.s, 20), "%d processes left:\n%s", h_left(&h.s), h_describe(&h.s));
	h_cleanup(&h.s);
}
END_TEST

Suite *helper_start_suite(void)
{
	Suite *s = suite_create("helper-start");
	TCase *tc = tcase_create("start");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_a_program_is_served_from_its_start);
	suite_add_tcase(s, tc);
	return s;
}
