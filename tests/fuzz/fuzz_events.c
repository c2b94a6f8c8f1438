/*
 * tests/fuzz/fuzz_events.c — the events file (-E, monitor/out.c): events written for
 * fuzzed file names and command words, then read back with jansson, as a tool reading
 * the file would. Every event is one line of JSON with its "event" and "time", and every
 * name comes back exactly as it was.
 *
 * Names that are not UTF-8 come back too: the writer keeps their bytes in "<key>_hex"
 * (monitor/events.h), and a reader takes them with events_get_text().
 *
 * Input: NUL-separated names: the first is a watched path, all of them the paths of one
 * change and the words of the command.
 */
#include "events.h"
#include "fuzz.h"
#include "out.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>

static int evfd = -1, rdfd = -1;

static void fuzz_events_init(void)
{
	if (evfd >= 0)
		return;
	char path[] = "/tmp/forkmon-fuzz-events-XXXXXX";
	int t = mkstemp(path);
	FUZZ_CHECK(t >= 0);
	out_init(1);
	FUZZ_CHECK(out_events_open(path) == 0);
	/* out.c keeps its descriptor: find it (the newest one open on path) */
	char link[64], target[4096];
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n > 0 && fd != t && (target[n] = '\0', strcmp(target, path) == 0))
			evfd = fd;
	}
	rdfd = t;
	unlink(path); /* nothing left behind */
	FUZZ_CHECK(evfd >= 0);
}

/* The lines written since the last call, parsed, into lines[] (up to max). */
static int fuzz_events_read(json_t **lines, int max)
{
	off_t end = lseek(evfd, 0, SEEK_CUR);
	char *buf = malloc((size_t)end + 1);
	FUZZ_CHECK(buf != NULL && pread(rdfd, buf, (size_t)end, 0) == end);
	buf[end] = '\0';
	int k = 0;
	for (char *p = buf; p < buf + end;) {
		char *nl = memchr(p, '\n', (size_t)(buf + end - p));
		FUZZ_CHECK(nl != NULL && k < max); /* every event ends its line */
		json_error_t e;
		lines[k] = json_loadb(p, (size_t)(nl - p), 0, &e);
		if (!lines[k])
			fprintf(stderr, "unreadable event: %.*s (%s)\n", (int)(nl - p), p, e.text);
		FUZZ_CHECK(lines[k] != NULL && json_is_object(lines[k]));
		FUZZ_CHECK(json_is_string(json_object_get(lines[k], "event")));
		FUZZ_CHECK(json_is_number(json_object_get(lines[k], "time")));
		k++;
		p = nl + 1;
	}
	free(buf);
	FUZZ_CHECK(ftruncate(evfd, 0) == 0 && lseek(evfd, 0, SEEK_SET) == 0);
	return k;
}

/* o[key] (item i of a list when i >= 0) reads back as exactly want. */
static void fuzz_events_same(const json_t *o, const char *key, int i, const char *want)
{
	size_t n = 0;
	char *got = events_get_text(o, key, i, &n);
	if (!got || n != strlen(want) || memcmp(got, want, n))
		fprintf(stderr, "wrote '%s' as %s[%d], read back '%s'\n", want, key, i, got ? got : "(nothing)");
	FUZZ_CHECK(got && n == strlen(want) && memcmp(got, want, n) == 0);
	free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	fuzz_events_init();
	char *in = malloc(size + 1);
	FUZZ_CHECK(in != NULL);
	memcpy(in, data, size);
	in[size] = '\0';
	const char *names[64] = {in};
	int nn = 0;
	for (char *p = in; p <= in + size && nn < 64; p += strlen(p) + 1)
		names[nn++] = p;
	/* as monitor/conn.c, run.c and monitor.c write them */
	json_t *w = json_pack("{s:I, s:i}", "seq", (json_int_t)7, "pid", 42);
	FUZZ_CHECK(events_set_text(w, "path", names[0], strlen(names[0])) == 0);
	out_event("watch", w);
	json_t *c = json_object(), *st = json_pack("{s:i, s:i}", "pid", 1, "monitor", 2);
	FUZZ_CHECK(events_set_texts(c, "paths", names, (size_t)nn) == 0);
	FUZZ_CHECK(events_set_texts(st, "command", names, (size_t)nn) == 0);
	out_event("change", c);
	out_event("start", st);
	json_t *ev[3];
	FUZZ_CHECK(fuzz_events_read(ev, 3) == 3);
	/* every field of every event, whatever the bytes of the names */
	fuzz_events_same(ev[0], "path", -1, names[0]);
	FUZZ_CHECK(json_integer_value(json_object_get(ev[0], "seq")) == 7);
	FUZZ_CHECK(json_integer_value(json_object_get(ev[0], "pid")) == 42);
	FUZZ_CHECK(json_integer_value(json_object_get(ev[2], "monitor")) == 2);
	const char *keys[] = {"paths", "command"};
	for (int k = 0; k < 2; k++) {
		const json_t *a = json_object_get(ev[k + 1], keys[k]);
		FUZZ_CHECK(json_is_array(a) && json_array_size(a) == (size_t)nn);
		for (int i = 0; i < nn; i++)
			fuzz_events_same(ev[k + 1], keys[k], i, names[i]);
	}
	for (int k = 0; k < 3; k++)
		json_decref(ev[k]);
	free(in);
	return 0;
}
