/*
 * tests/system/test_helper_exec.c — what forkmon execs is what a shell would run (issue
 * 11: every call equals a direct run), and a run's start checkpoint grant ends with it.
 * Runs in the test runner; the helper is the test's own child, tagged, ended by pid.
 *
 * A script without a `#!` line: execve refuses it (ENOEXEC), and a shell, or execvp,
 * runs it with /bin/sh. Through forkmon-client (the helper's session, the client's own
 * direct run) and `forkmon run` it ran nowhere ("Exec format error").
 *
 * A cold call's start checkpoint is granted before its run starts; a run that never
 * takes it (a static binary: no hook; a command whose exec fails) left the grant
 * pending for good, one more per call: `forkmon helper status` counts them per session.
 */
#include "harness.h"
#include "helperd.h"
#include "suites.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT 30.0

/* Runs argv in the session's directory with env, its stdout and stderr into out (len
 * bytes); returns its wait status. */
static int hxe_call(struct hx *h, char *const argv[], char *const env[], char *out, size_t len)
{
	static int seq;
	char name[64];
	snprintf(name, sizeof name, "out%d.txt", seq++);
	int fd = open(h_file(&h->s, name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	h_start_io(&h->s, argv, env, -1, fd);
	close(fd);
	ck_assert_msg(h_wait_exit(&h->s, WAIT), "%s did not end", argv[0]);
	FILE *f = fopen(h_file(&h->s, name), "r");
	ck_assert(f != NULL);
	size_t got = fread(out, 1, len - 1, f);
	out[got] = '\0';
	fclose(f);
	return h->s.status;
}

/* argv through forkmon-client and the test's helper. */
static int hxe_client(struct hx *h, char *const argv[], char *out, size_t len)
{
	char client[4096];
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	char *cargv[16] = {client};
	int n = 1;
	for (int i = 0; argv[i] && n < 15; i++)
		cargv[n++] = argv[i];
	cargv[n] = NULL;
	char *env[] = {h->sockvar, NULL};
	return hxe_call(h, cargv, env, out, len);
}

static void hxe_script(struct hx *h, const char *name, const char *text)
{
	h_write(&h->s, name, text);
	ck_assert_int_eq(chmod(h_file(&h->s, name), 0755), 0);
}

static const char noshebang[] = "echo \"no shebang $1\"; exit 5\n";

START_TEST(test_a_script_without_shebang_runs_as_from_a_shell)
{
	struct hx h;
	hx_begin(&h);
	hxe_script(&h, "script", noshebang);
	char direct[4096], out[4096];
	char *sh[] = {"/bin/sh", "-c", "./script", NULL};
	int st = hxe_call(&h, sh, NULL, direct, sizeof direct);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 5 && !strcmp(direct, "no shebang \n"), "sh: 0x%x %s", st,
		      direct);
	/* cold (the session spawns it), then warm (from its checkpoints) */
	char *argv[] = {"./script", NULL};
	for (int i = 0; i < 2; i++) {
		st = hxe_client(&h, argv, out, sizeof out);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 5, "call %d: status 0x%x: %s", i + 1, st, out);
		ck_assert_msg(!strcmp(out, direct), "call %d printed '%s', a direct run '%s'", i + 1, out, direct);
	}
	/* the client's own direct run: a socket in a directory others may enter is refused */
	ck_assert_int_eq(mkdir(h_file(&h.s, "open"), 0755), 0);
	char sockvar[4200], client[4096];
	snprintf(sockvar, sizeof sockvar, "FORKMON_HELPER_SOCKET=%s/open/h.sock", h.s.dir);
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	char *dargv[] = {client, "./script", "x", NULL};
	char *denv[] = {sockvar, NULL};
	st = hxe_call(&h, dargv, denv, out, sizeof out);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 5, "direct: status 0x%x: %s", st, out);
	ck_assert_msg(strstr(out, "running the command directly") && strstr(out, "no shebang x\n") &&
			      !strstr(out, "format"),
		      "direct: %s", out);
	hx_end(&h);
}
END_TEST

/* The SigBlk line of what argv printed, or "" */
static void hxe_sigblk(const char *out, char *line, size_t len)
{
	const char *p = strstr(out, "SigBlk:");
	size_t n = p ? strcspn(p, "\n") : 0;
	snprintf(line, len, "%.*s", (int)n, p ? p : "");
}

/* A command the client runs itself (here: its socket's directory is not private) gets
 * the signal mask the client was given, signal 34 too (the C library may keep it for
 * itself, and leave it out of the mask it reports). */
START_TEST(test_a_command_run_directly_keeps_the_clients_signal_mask)
{
	struct hx h;
	hx_begin(&h);
	ck_assert_int_eq(mkdir(h_file(&h.s, "open"), 0755), 0);
	char sockvar[4200], client[4096], out[4096], direct[256], through[256];
	snprintf(sockvar, sizeof sockvar, "FORKMON_HELPER_SOCKET=%s/open/h.sock", h.s.dir);
	snprintf(client, sizeof client, "%s", h_path("build/forkmon-client"));
	static char block[] = "use POSIX; sigprocmask(SIG_BLOCK, POSIX::SigSet->new(10, 34)) or die; exec @ARGV";
	char *dargv[] = {"perl", "-e", block, "/bin/grep", "SigBlk", "/proc/self/status", NULL};
	char *cargv[] = {"perl", "-e", block, client, "/bin/grep", "SigBlk", "/proc/self/status", NULL};
	char *env[] = {sockvar, NULL};
	int st = hxe_call(&h, dargv, env, out, sizeof out);
	hxe_sigblk(out, direct, sizeof direct);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(direct, "200000200"), "direct: 0x%x %s", st, out);
	st = hxe_call(&h, cargv, env, out, sizeof out);
	hxe_sigblk(out, through, sizeof through);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "running the command directly"),
		      "client: 0x%x %s", st, out);
	ck_assert_msg(!strcmp(through, direct), "the command's mask '%s', directly '%s'", through, direct);
	hx_end(&h);
}
END_TEST

START_TEST(test_forkmon_run_runs_a_script_without_shebang)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "script", noshebang);
	ck_assert_int_eq(chmod(h_file(&s, "script"), 0755), 0);
	char fm[4096];
	snprintf(fm, sizeof fm, "%s", h_path("build/forkmon"));
	char *argv[] = {fm, "run", "-q", "--", "./script", "arg", NULL};
	h_start(&s, argv, NULL);
	ck_assert_msg(h_wait_for(&s, "no shebang arg\n", 1, WAIT), "output:\n%s", h_output(&s));
	h_stop(&s, SIGTERM, 0); /* it waits for changes of what it read */
	ck_assert_msg(!strstr(h_output(&s), "format"), "output:\n%s", h_output(&s));
	ck_assert_msg(h_none_left(&s, 20), "%d processes left:\n%s", h_left(&s), h_describe(&s));
	h_cleanup(&s);
}
END_TEST

/* `forkmon helper status`, into out. */
static void hxe_status(struct hx *h, char *out, size_t len)
{
	char fm[4096];
	snprintf(fm, sizeof fm, "%s", h_path("build/forkmon"));
	char *argv[] = {fm, "helper", "status", "-s", h->sock, NULL};
	int st = hxe_call(h, argv, NULL, out, len);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status: 0x%x: %s", st, out);
}

/* Runs that never take their start checkpoint: a static binary (no hook), a script whose
 * interpreter is missing (its exec fails in the session and in the client). Each cold
 * call left one grant pending, and the session accepted on every turn of its loop. */
START_TEST(test_grants_of_runs_that_never_take_them_end_with_them)
{
	struct hx h;
	hx_begin(&h);
	h_write(&h.s, "st.c", "#include <stdio.h>\nint main(void) { puts(\"static\"); return 0; }\n");
	char *cc[] = {"cc", "-static", "-o", "st", "st.c", NULL};
	int st = h_run(&h.s, cc);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "cc -static: 0x%x", st);
	hxe_script(&h, "bad", "#!/nonexistent/forkmon-interpreter\n");
	char out[8192];
	char *prog[] = {"./st", NULL}, *bad[] = {"./bad", NULL};
	for (int i = 0; i < 20; i++) {
		st = hxe_client(&h, prog, out, sizeof out);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && !strcmp(out, "static\n"), "call %d: 0x%x %s",
			      i + 1, st, out);
	}
	for (int i = 0; i < 5; i++) {
		st = hxe_client(&h, bad, out, sizeof out);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 127, "bad call %d: 0x%x %s", i + 1, st, out);
	}
	hxe_status(&h, out, sizeof out);
	ck_assert_msg(strstr(out, ": ./st\n") && strstr(out, ": ./bad\n"), "%s", out);
	int zero = 0;
	for (const char *p = out; (p = strstr(p, " 0 checkpoint grants pending")); p++)
		zero++;
	ck_assert_msg(zero == 2, "both sessions: 0 grants pending:\n%s", out);
	hx_end(&h);
}
END_TEST

Suite *helper_exec_suite(void)
{
	Suite *s = suite_create("helper-exec");
	TCase *t = tcase_create("exec");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_a_script_without_shebang_runs_as_from_a_shell);
	tcase_add_test(t, test_a_command_run_directly_keeps_the_clients_signal_mask);
	tcase_add_test(t, test_forkmon_run_runs_a_script_without_shebang);
	tcase_add_test(t, test_grants_of_runs_that_never_take_them_end_with_them);
	suite_add_tcase(s, t);
	return s;
}
