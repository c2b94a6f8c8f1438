/*
 * tests/system/test_live_programs.c — the programs matrix: Lua 5.1, 5.4, LuaJIT, Python
 * packages (with and without the bytecode cache), Perl, gawk, tcc -run, a fortified C
 * program; three saves each, a resume from the file's checkpoint or an earlier one,
 * never a restart.
 *
 * System suite (live-programs). Shared helpers: live.h.
 */
#include "live.h"
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Each interpreter or program, three saves of the file it reads (in place, temporary
 * file renamed over, sed -i): a resume each (from that file's checkpoint or an earlier
 * one: never a restart), the output shows the content, start-up is not repeated. The
 * file holds the token V<k> for version k. With `grow` (a comment prefix), every version
 * is longer than the one before and all three saves rewrite the whole file.
 */
static void matrix_edits_grow(struct h_session *s, const char *file, const char *content_fmt,
			      const char *want_fmt, const char *done, const char *startup, const char *grow)
{
	int runs = h_count(s, done); /* done: what every copy prints last */
	char resumed[4096];
	snprintf(resumed, sizeof resumed, "[forkmon] file '%s' changed, resuming from", h_file(s, file));
	for (int k = 1; k <= 3; k++) {
		char c[512], want[256];
		int n = snprintf(c, sizeof c, content_fmt, k);
		if (grow)
			snprintf(c + n, sizeof c - (size_t)n, "%s %.*s\n", grow, k, "xxxxxxxxxx");
		if (k == 1 || (grow && k == 3)) {
			h_write(s, file, c);
		} else if (k == 2) {
			h_write_rename(s, file, c);
		} else {
			char expr[64];
			snprintf(expr, sizeof expr, "s/V%d/V%d/", k - 1, k);
			lv_run_ok(s, "sed", "-i", expr, file, NULL);
		}
		lv_expect_exactly(s, resumed, k);
		lv_expect(s, done, runs + k);
		/* done begins the line want ends: a program may write the line in pieces
		 * (Python's print() writes its end "\n" by a write of its own, unbuffered) */
		snprintf(want, sizeof want, want_fmt, k);
		lv_expect_exactly(s, want, 1);
	}
	if (startup)
		ck_assert_int_eq(h_count(s, startup), 1);
	lv_expect_none(s, "restarting");
}

static void matrix_edits(struct h_session *s, const char *file, const char *content_fmt,
			 const char *want_fmt, const char *done, const char *startup)
{
	matrix_edits_grow(s, file, content_fmt, want_fmt, done, startup, NULL);
}

static const char lua_matrix_main[] = "print('lua startup')\n"
				      "local v = dofile('mod.lua')\n"
				      "print('value ' .. v)\n";

static void lua_matrix(const char *lua)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.lua", lua_matrix_main);
	h_write(&s, "mod.lua", "return 'V0'\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.lua$", "--", (char *)lua, "main.lua", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "value V0", 1);
	matrix_edits(&s, "mod.lua", "return 'V%d'\n", "value V%d\n", "value ", "lua startup");
	lv_end_session(&s, SIGTERM, 0);
}

START_TEST(test_lua51_resumes_from_dofile)
{
	lua_matrix("lua5.1");
}
END_TEST

START_TEST(test_lua54_resumes_from_dofile)
{
	lua_matrix("lua5.4");
}
END_TEST

START_TEST(test_luajit_resumes_from_dofile)
{
	lua_matrix("luajit");
}
END_TEST

static void python_package(char *bytecode_env)
{
	struct h_session s;
	h_init(&s);
	lv_make_dir(&s, "pkg");
	lv_make_dir(&s, "pkg/sub");
	h_write(&s, "app.py", "print('boot', flush=True)\n"
			      "import pkg.sub.leaf\n"
			      "print('value %s' % pkg.sub.leaf.VALUE, flush=True)\n");
	h_write(&s, "pkg/__init__.py", "print('pkg init', flush=True)\n");
	h_write(&s, "pkg/sub/__init__.py", "from . import helper\n");
	h_write(&s, "pkg/sub/helper.py", "X = 'helper'\n");
	h_write(&s, "pkg/sub/leaf.py", "from .helper import X\nVALUE = X + ' V0'\n");
	char *env[] = {bytecode_env, NULL};
	/* the default filter: files under the current directory */
	char *argv[] = {lv_forkmon(), "run", "--", "/usr/bin/python3", "app.py", NULL};
	h_start(&s, argv, env);
	lv_expect(&s, "value helper V0", 1);
	/* Python checks its cache against the source's size and mtime (in whole seconds):
	 * each version differs in size, as an edit must for Python itself to notice it */
	matrix_edits_grow(&s, "pkg/sub/leaf.py", "from .helper import X\nVALUE = X + ' V%d'\n",
			  "value helper V%d\n", "value helper", "boot", "#");
	ck_assert_int_eq(h_count(&s, "pkg init"), 1);
	lv_end_session(&s, SIGTERM, 0);
}

START_TEST(test_python_package_resumes_from_a_nested_import)
{
	python_package("PYTHONDONTWRITEBYTECODE=1");
}
END_TEST

/* Python's default: it writes __pycache__/NAME.cpython-*.pyc and reads those next time. */
START_TEST(test_python_package_writing_its_bytecode_cache_resumes_from_a_nested_import)
{
	python_package("PYTHONDONTWRITEBYTECODE=");
}
END_TEST

START_TEST(test_perl_resumes_from_require_and_from_open)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.pl", "$| = 1;\n"
			       "print \"perl start\\n\";\n"
			       "require './lib.pl';\n"
			       "print 'lib ', value(), \"\\n\";\n"
			       "open(my $fh, '<', 'data.txt') or die;\n"
			       "my $d = <$fh>;\n"
			       "chomp $d;\n"
			       "print \"data $d\\n\";\n");
	h_write(&s, "lib.pl", "sub value { 'V0' }\n1;\n");
	h_write(&s, "data.txt", "V0\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.pl$;%.txt$", "--", "perl", "main.pl", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "data V0", 1);
	matrix_edits(&s, "data.txt", "V%d\n", "data V%d\n", "data ", "perl start");
	ck_assert_int_eq(h_count(&s, "lib V0"), 1); /* resumed after the require */
	matrix_edits(&s, "lib.pl", "sub value { 'V%d' }\n1;\n", "lib V%d\n", "data ", "perl start");
	lv_expect_exactly(&s, "data V3", 4); /* each resume from the require reads data.txt again */
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/*
 * The same relative name in three directories, read after chdir() by name and by
 * handle (fchdir): each read is of its own directory's file (the hook keeps the working
 * directory's name between calls, and a chdir makes it stale). An edit of each file
 * resumes from that file's read.
 */
START_TEST(test_a_relative_name_read_after_chdir_and_fchdir_is_the_new_directorys)
{
	struct h_session s;
	h_init(&s);
	lv_run_ok(&s, "mkdir", "sub", "sub2", NULL);
	h_write(&s, "main.pl", "$| = 1;\n"
			       "sub get { open(my $f, '<', 'data.txt') or die \"data.txt: $!\"; my $v = <$f>; chomp $v; $v }\n"
			       "print 'top ', get(), \"\\n\";\n"
			       "chdir('sub') or die \"chdir: $!\";\n"
			       "print 'sub ', get(), \"\\n\";\n"
			       "opendir(my $d, '../sub2') or die \"opendir: $!\";\n"
			       "chdir($d) or die \"fchdir: $!\";\n"
			       "print 'sub2 ', get(), \"\\n\";\n");
	h_write(&s, "data.txt", "T0\n");
	h_write(&s, "sub/data.txt", "S0\n");
	h_write(&s, "sub2/data.txt", "U0\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", "perl", "main.pl", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "sub2 U0", 1);
	lv_assert_count(&s, "sub S0", 1);
	h_write(&s, "sub2/data.txt", "U1\n");
	lv_expect(&s, "sub2 U1", 1);
	h_write(&s, "sub/data.txt", "S1\n");
	lv_expect(&s, "sub S1", 1);
	lv_expect(&s, "sub2 U1", 2);
	ck_assert_int_eq(h_count(&s, "top T0"), 1); /* each resume came after the first read */
	h_write(&s, "data.txt", "T1\n");
	lv_expect(&s, "top T1", 1);
	lv_expect(&s, "sub2 U1", 3);
	lv_assert_count(&s, "sub S0", 1);
	lv_expect_none(&s, "restarting");
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/*
 * The checkpoints and the copies are forkmon's, never the program's: a program that
 * waits for its children and counts SIGCHLD sees none, in its first run and in a copy
 * resumed from its read.
 */
START_TEST(test_a_program_never_sees_a_checkpoint_as_its_child)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.pl", "$| = 1;\n"
			       "my $n = 0;\n"
			       "$SIG{CHLD} = sub { $n++ };\n"
			       "open(my $f, '<', 'data.txt') or die; my $v = <$f>; chomp $v; close $f;\n"
			       "my $w = wait();\n"
			       "select(undef, undef, undef, 0.2);\n"
			       "print \"data $v wait $w chld $n\\n\";\n");
	h_write(&s, "data.txt", "V0\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", "perl", "main.pl", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "data V0 wait -1 chld 0", 1);
	h_write(&s, "data.txt", "V1\n");
	lv_expect(&s, "data V1 wait -1 chld 0", 1);
	h_write_rename(&s, "data.txt", "V2\n");
	lv_expect(&s, "data V2 wait -1 chld 0", 1);
	lv_expect_none(&s, "restarting");
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/*
 * A copy resumed at a read is a child of one fork of the program there: the program's
 * fork handlers (pthread_atfork: a library reseeding its generator, forgetting a
 * cached pid) ran once in it, in every copy; in the first run, never.
 */
START_TEST(test_every_copy_ran_the_programs_fork_handlers_once)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "data.txt", "V0\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", lv_prog("atfork"), "data.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "data V0 child handler 0 times", 1);
	h_write(&s, "data.txt", "V1\n");
	lv_expect(&s, "data V1 child handler 1 times", 1);
	h_write_rename(&s, "data.txt", "V2\n");
	lv_expect(&s, "data V2 child handler 1 times", 1);
	h_write(&s, "data.txt", "V3\n");
	lv_expect(&s, "data V3 child handler 1 times", 1);
	lv_expect_none(&s, "restarting");
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/*
 * A child forked by the raw system call runs no fork handler, so nothing tells the hook
 * in it that it is a new process; its memory is a copy of its parent's, the hook's
 * connection and ring included. Its reads are not told as its parent's (the ring has one
 * writer): the file only it reads is never watched, and the parent resumes as before.
 */
START_TEST(test_a_child_forked_without_fork_handlers_is_not_taken_for_its_parent)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "data.txt", "V0\n");
	h_write(&s, "other.txt", "O0\n");
	/* the events file: the parent's reread is told too, before the fork; one checkpoint
	 * at most: the child's read is one the hook would tell, not one it would ask about */
	char *argv[] = {lv_forkmon(), "run", "-m", "1", "-E", "events.json", "-f", "%.txt$", "--", lv_prog("rawfork"), "data.txt", "other.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "data V0 child 7", 1);
	h_write(&s, "data.txt", "V1\n");
	lv_expect(&s, "data V1 child 7", 1);
	h_write_rename(&s, "data.txt", "V2\n");
	lv_expect(&s, "data V2 child 7", 1);
	ck_assert_int_eq(h_count(&s, "[forkmon] watch '"), 1); /* data.txt only */
	ck_assert_int_eq(h_count(&s, "other.txt"), 0);
	lv_expect_none(&s, "restarting");
	lv_stop_session(&s, SIGTERM, 0);
	/* the events, complete once the monitor ended: the parent's reads, not the child's */
	char ev[1 << 16];
	FILE *f = fopen(h_file(&s, "events.json"), "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(ev, 1, sizeof ev - 1, f);
	fclose(f);
	ev[n] = '\0';
	/* by absolute path (the command line names both files) */
	ck_assert_msg(strstr(ev, "/data.txt\"") != NULL, "no event names data.txt: %s", ev);
	ck_assert_msg(strstr(ev, "/other.txt\"") == NULL, "the child's read was told: %s", ev);
	h_cleanup(&s);
}
END_TEST

START_TEST(test_gawk_resumes_from_its_data_file_and_from_its_program)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "prog.awk", "BEGIN { print \"awk begin\" }\n{ print \"line: \" $0 }\nEND { print \"awk end V0\" }\n");
	h_write(&s, "data.txt", "V0\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "%.awk$;%.txt$", "--", "gawk", "-f", "prog.awk", "data.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "awk end V0", 1);
	matrix_edits(&s, "data.txt", "V%d\n", "line: V%d\n", "awk end", "awk begin");
	lv_expect_exactly(&s, "awk end V0", 4);
	/* the program file: read before BEGIN, so BEGIN runs again (once per resume) */
	matrix_edits(&s, "prog.awk",
		     "BEGIN { print \"awk begin\" }\n{ print \"line: \" $0 }\nEND { print \"awk end V%d\" }\n",
		     "awk end V%d\n", "awk end", NULL);
	lv_expect_exactly(&s, "awk begin", 4);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_tcc_run_resumes_from_an_edited_local_header)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "main.c", "#include <stdio.h>\n#include \"conf.h\"\n"
			      "int main(void) { printf(\"tcc value %s\\n\", VALUE); return 0; }\n");
	h_write(&s, "conf.h", "#define VALUE \"V0\"\n");
	/* the default filter: files under the current directory (not the system headers) */
	char *argv[] = {lv_forkmon(), "run", "--", "tcc", "-run", "main.c", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "tcc value V0", 1);
	matrix_edits(&s, "conf.h", "#define VALUE \"V%d\"\n", "tcc value V%d\n", "tcc value", NULL);
	ck_assert_int_eq(h_count(&s, "[forkmon] watch '"), 2); /* main.c and conf.h only */
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

START_TEST(test_fortified_c_program_resumes_from_its_open)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "data.txt", "V0\n");
	/* -O2 -D_FORTIFY_SOURCE=2 -D_FILE_OFFSET_BITS=64: open() is __open64_2 */
	char *argv[] = {lv_forkmon(), "run", "-f", "%.txt$", "--", lv_prog("reader"), "open", "data.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "reader end", 1);
	matrix_edits(&s, "data.txt", "V%d\n", "\nV%d\nreader end", "reader end", "reader start");
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

Suite *live_programs_suite(void)
{
	Suite *s = suite_create("live-programs");
	TCase *tc = tcase_create("programs");
	tcase_set_timeout(tc, 300); /* per test; each takes seconds at most when all is well */
	tcase_add_test(tc, test_lua51_resumes_from_dofile);
	tcase_add_test(tc, test_lua54_resumes_from_dofile);
	tcase_add_test(tc, test_luajit_resumes_from_dofile);
	tcase_add_test(tc, test_python_package_resumes_from_a_nested_import);
	tcase_add_test(tc, test_python_package_writing_its_bytecode_cache_resumes_from_a_nested_import);
	tcase_add_test(tc, test_perl_resumes_from_require_and_from_open);
	tcase_add_test(tc, test_a_relative_name_read_after_chdir_and_fchdir_is_the_new_directorys);
	tcase_add_test(tc, test_a_program_never_sees_a_checkpoint_as_its_child);
	tcase_add_test(tc, test_every_copy_ran_the_programs_fork_handlers_once);
	tcase_add_test(tc, test_a_child_forked_without_fork_handlers_is_not_taken_for_its_parent);
	tcase_add_test(tc, test_gawk_resumes_from_its_data_file_and_from_its_program);
	tcase_add_test(tc, test_tcc_run_resumes_from_an_edited_local_header);
	tcase_add_test(tc, test_fortified_c_program_resumes_from_its_open);
	suite_add_tcase(s, tc);
	return s;
}
