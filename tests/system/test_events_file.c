/*
 * tests/system/test_events_file.c — inputs that used to hang or mislead forkmon, with
 * real programs: a pattern whose cost explodes on a long name (the program still runs,
 * SIGTERM is answered at once, one line says so); the events file as a FIFO nobody
 * reads (no hang: the program runs, the events come once a reader does), a FIFO whose
 * reader never reads then goes away (the session goes on), /dev/full (one line); and a
 * file name that is not UTF-8, watched and changed, every event's fields parsed back by
 * python3's json with the name recovered byte for byte.
 *
 * System suite (events_file). Shared helpers: live.h.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PY "/usr/bin/python3"

/* ------------------------------------------------------------- costly patterns */

/* 'a-a-a-a-a-a-a-a-%d' on a run of 40 'a's: ~20 s of Lua per name before, the monitor
 * deaf to signals meanwhile. Now each name costs the budget (~0.3 s) at most. */
START_TEST(test_costly_pattern_lets_the_program_run_and_sigterm_through)
{
	struct h_session s;
	char a40[48], a41[48];
	h_init(&s);
	memset(a40, 'a', 40);
	a40[40] = '\0';
	memset(a41, 'a', 41);
	a41[41] = '\0';
	h_write(&s, a40, "forty\n");
	h_write(&s, a41, "forty-one\n");
	h_write(&s, "x.txt", "ex\n");
	char *argv[] = {lv_forkmon(), "run", "-f", "/a-a-a-a-a-a-a-a-%d", "-f", "%.txt$", "--", "cat", a40, a41, "x.txt",
			NULL};
	double t0 = h_clock();
	h_start(&s, argv, NULL);
	lv_expect(&s, "ex\n", 1);
	double ran = h_clock() - t0;
	ck_assert_msg(ran < LV_WAIT, "the program took %.1f s to run", ran);
	lv_assert_count(&s, "forty\n", 1);
	lv_assert_count(&s, "forty-one\n", 1);
	/* one line, for both names: the pattern, the first name, the verdict */
	char want[256];
	snprintf(want, sizeof want, "forkmon: pattern '/a-a-a-a-a-a-a-a-%%d' took too long on '%s/%s' (over ", s.dir,
		 a40);
	/* said when the monitor reads the name, which the program may not wait for (a
	 * checkpoint taken unasked): maybe after the program's own output */
	lv_expect(&s, "; treated as not matching\n", 1);
	lv_assert_count(&s, want, 1);
	lv_assert_count(&s, "took too long", 1);
	lv_assert_count(&s, "; treated as not matching\n", 1);
	lv_expect(&s, "[forkmon] watch '", 1);
	lv_assert_count(&s, "[forkmon] watch '", 1); /* x.txt only */
	double t1 = h_clock();
	lv_stop_session(&s, SIGTERM, 0);
	ck_assert_msg(h_clock() - t1 < 5.0, "SIGTERM answered after %.1f s", h_clock() - t1);
	h_cleanup(&s);
}
END_TEST

/* The same pattern as an ignore pattern: giving up never gets a file watched. */
START_TEST(test_costly_ignore_pattern_leaves_the_file_unwatched)
{
	struct h_session s;
	char a40[48];
	h_init(&s);
	memset(a40, 'a', 40);
	a40[40] = '\0';
	h_write(&s, a40, "forty\n");
	h_write(&s, "x.txt", "ex\n");
	char *argv[] = {lv_forkmon(), "run", "-i", "/a-a-a-a-a-a-a-a-%d", "--", "cat", a40, "x.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "ex\n", 1);
	lv_expect(&s, "[forkmon] watch '", 1);
	lv_assert_count(&s, "forkmon: ignore pattern '/a-a-a-a-a-a-a-a-%d' took too long on '", 1);
	lv_assert_count(&s, "; treated as matching\n", 1);
	lv_assert_count(&s, "[forkmon] watch '", 1);
	lv_assert_count(&s, "x.txt'\n", 1);
	lv_end_session(&s, SIGTERM, 0);
}
END_TEST

/* ------------------------------------------------------------- events file */

/* Reads what fd has now (non-blocking) onto buf (len so far); returns the new length. */
static size_t read_some(int fd, char *buf, size_t len, size_t cap)
{
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	return len;
}

/* Polls fd until buf holds needle (LV_WAIT at most). */
static size_t read_until(int fd, char *buf, size_t len, size_t cap, const char *needle)
{
	double end = h_clock() + LV_WAIT;
	while (!strstr(buf, needle) && h_clock() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		poll(&p, 1, 100);
		len = read_some(fd, buf, len, cap);
	}
	ck_assert_msg(strstr(buf, needle) != NULL, "no %s in the events read:\n%s", needle, buf);
	return len;
}

START_TEST(test_fifo_without_reader_does_not_hang_and_events_wait_for_one)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "x.txt", "one\n");
	ck_assert_int_eq(mkfifo(h_file(&s, "ev.fifo"), 0600), 0);
	char *argv[] = {lv_forkmon(), "run", "-E", "ev.fifo", "--", "cat", "x.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "one\n", 1); /* before: forkmon blocked in open(), the program never ran */
	lv_assert_count(&s, "forkmon: nobody reads the events FIFO 'ev.fifo' yet; events wait until someone does\n", 1);
	lv_expect(&s, "[forkmon] watch '", 1);
	/* a reader comes: what waited arrives, and what follows */
	static char buf[65536];
	size_t len = 0;
	int fd = open(h_file(&s, "ev.fifo"), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	len = read_until(fd, buf, len, sizeof buf, "\"event\":\"checkpoint\"");
	ck_assert_ptr_nonnull(strstr(buf, "{\"event\":\"start\","));
	ck_assert_ptr_nonnull(strstr(buf, "{\"event\":\"watch\","));
	h_write(&s, "x.txt", "two\n");
	lv_expect(&s, "two\n", 1);
	len = read_until(fd, buf, len, sizeof buf, "\"event\":\"resume\"");
	lv_stop_session(&s, SIGTERM, 0);
	len = read_until(fd, buf, len, sizeof buf, "\"event\":\"end\"");
	close(fd);
	lv_assert_count(&s, "forkmon: nobody reads", 1);
	lv_assert_count(&s, "not written", 0);
	h_cleanup(&s);
}
END_TEST

/* 100 files read: ~14 KB of events, more than the (shrunk) pipe holds. The reader never reads,
 * then goes away: the session goes on, and that is said once. */
START_TEST(test_fifo_reader_that_never_reads_then_leaves_does_not_block_the_session)
{
	struct h_session s;
	h_init(&s);
	lv_make_dir(&s, "d");
	for (int i = 0; i < 100; i++) {
		char name[64];
		snprintf(name, sizeof name, "d/file-with-a-longish-name-%04d.txt", i);
		h_write(&s, name, "x\n");
	}
	h_write(&s, "read_all.py",
		"import glob, sys\n"
		"names = sorted(glob.glob('d/*.txt'))\n"
		"n = sum(len(open(f).read()) for f in names)\n"
		"sys.stdout.write('read %d files, %d bytes\\n' % (len(names), n))\n");
	ck_assert_int_eq(mkfifo(h_file(&s, "ev.fifo"), 0600), 0);
	int fd = open(h_file(&s, "ev.fifo"), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	/* the smallest pipe (a page): a hundred events fill it, as thousands would a default one */
	ck_assert_int_ge(fcntl(fd, F_SETPIPE_SZ, 4096), 4096);
	char *argv[] = {lv_forkmon(), "run", "-E", "ev.fifo", "--", PY, "read_all.py", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "read 100 files, 200 bytes\n", 1);
	lv_assert_count(&s, "forkmon: nobody reads", 0);
	/* the pipe is full and nobody reads it: a change is still resumed */
	h_write(&s, "d/file-with-a-longish-name-0099.txt", "yy\n");
	lv_expect(&s, "read 100 files, 201 bytes\n", 1);
	/* the reader leaves: one line, and the session goes on */
	close(fd);
	lv_expect(&s, "forkmon: cannot write events to 'ev.fifo': Broken pipe; no more events are written\n", 1);
	h_write(&s, "d/file-with-a-longish-name-0099.txt", "zzz\n");
	lv_expect(&s, "read 100 files, 202 bytes\n", 1);
	lv_stop_session(&s, SIGTERM, 0);
	lv_assert_count(&s, "cannot write events", 1);
	lv_assert_count(&s, "not written", 0);
	h_cleanup(&s);
}
END_TEST

START_TEST(test_dev_full_is_said_once_and_the_session_goes_on)
{
	struct h_session s;
	h_init(&s);
	h_write(&s, "x.txt", "one\n");
	char *argv[] = {lv_forkmon(), "run", "-E", "/dev/full", "--", "cat", "x.txt", NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "one\n", 1);
	lv_expect(&s, "forkmon: cannot write events to '/dev/full': No space left on device; no more events are written\n",
		  1);
	h_write(&s, "x.txt", "two\n");
	lv_expect(&s, "two\n", 1);
	lv_expect(&s, "resuming from it", 1);
	lv_stop_session(&s, SIGTERM, 0);
	lv_assert_count(&s, "forkmon: cannot write events", 1);
	h_cleanup(&s);
}
END_TEST

/* python3 checks every event of ev.json: each field there, the name back byte for byte. */
static const char check_py[] =
	"import json, os, sys\n"
	"want = bytes.fromhex(sys.argv[1])\n"
	"need = {'start': ['command', 'pid', 'monitor'], 'watch': ['path', 'seq', 'pid'],\n"
	"        'checkpoint': ['path', 'seq', 'pid'], 'change': ['paths'],\n"
	"        'resume': ['path', 'seq', 'changed'], 'exit': ['run_ms', 'replaced'],\n"
	"        'end': ['copies', 'resumes', 'restarts', 'saved_ms']}\n"
	"def raw(e, k, i=None):\n"
	"    h = e.get(k + '_hex')\n"
	"    v = e[k] if i is None else e[k][i]\n"
	"    if h is not None:\n"
	"        h = h if i is None else h[i]\n"
	"        assert i is not None or v.encode() != bytes.fromhex(h), (k, 'hex without need')\n"
	"        return bytes.fromhex(h)\n"
	"    return v.encode()\n"
	"seen = {}\n"
	"for line in open('ev.json', 'rb'):\n"
	"    e = json.loads(line)\n"
	"    ev = e['event']\n"
	"    seen[ev] = seen.get(ev, 0) + 1\n"
	"    for k in need.get(ev, []):\n"
	"        assert k in e, (ev, k, line)\n"
	"    for k in ('path', 'changed'):\n"
	"        if k in e:\n"
	"            assert raw(e, k) == want, (ev, k, raw(e, k))\n"
	"    if ev == 'change':\n"
	"        assert [raw(e, 'paths', i) for i in range(len(e['paths']))] == [want], line\n"
	"    if ev == 'start':\n"
	"        assert raw(e, 'command', 1) == os.path.basename(want), line\n"
	"        assert raw(e, 'command', 0) == b'cat', line\n"
	"print('checked', ' '.join('%s=%d' % kv for kv in sorted(seen.items())))\n";

START_TEST(test_name_not_utf8_keeps_every_field_and_comes_back_exactly)
{
	struct h_session s;
	h_init(&s);
	/* a stray Latin-1 byte, a truncated sequence, a surrogate, a backslash, U+FFFD itself */
	static const char name[] = "caf\xe9-\xe2\x82-\xed\xa0\x80-\\x41-\xef\xbf\xbd.txt";
	h_write(&s, name, "one\n");
	h_write(&s, "check.py", check_py);
	char *argv[] = {lv_forkmon(), "run", "-E", "ev.json", "--", "cat", (char *)name, NULL};
	h_start(&s, argv, NULL);
	lv_expect(&s, "one\n", 1);
	lv_expect(&s, "[forkmon] watch '", 1);
	h_write(&s, name, "two\n");
	lv_expect(&s, "two\n", 1);
	lv_expect(&s, "resuming from it", 1);
	lv_stop_session(&s, SIGTERM, 0);
	/* the name as forkmon names it: absolute, in the session's directory */
	char full[PATH_MAX], hex[2 * PATH_MAX + 1];
	snprintf(full, sizeof full, "%s/%s", s.dir, name);
	for (size_t i = 0; full[i]; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)full[i]);
	char *check[] = {PY, "-c", "import runpy, sys; sys.stdout = sys.stderr = open('check.out', 'w');"
				   " runpy.run_path('check.py', run_name='__main__')", hex, NULL};
	int st = h_run(&s, check);
	const char *out = lv_file_text(&s, "check.out");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python3 refused ev.json (0x%x): %.1500s", st, out);
	ck_assert_msg(strstr(out, "checked ") && strstr(out, "checkpoint=") && strstr(out, "change=") &&
			      strstr(out, "resume=") && strstr(out, "start=1") && strstr(out, "watch=") &&
			      strstr(out, "end=1"),
		      "%s", out);
	h_cleanup(&s);
}
END_TEST

Suite *events_file_suite(void)
{
	Suite *s = suite_create("events_file");
	TCase *tc = tcase_create("events_file");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_costly_pattern_lets_the_program_run_and_sigterm_through);
	tcase_add_test(tc, test_costly_ignore_pattern_leaves_the_file_unwatched);
	tcase_add_test(tc, test_fifo_without_reader_does_not_hang_and_events_wait_for_one);
	tcase_add_test(tc, test_fifo_reader_that_never_reads_then_leaves_does_not_block_the_session);
	tcase_add_test(tc, test_dev_full_is_said_once_and_the_session_goes_on);
	tcase_add_test(tc, test_name_not_utf8_keeps_every_field_and_comes_back_exactly);
	suite_add_tcase(s, tc);
	return s;
}
