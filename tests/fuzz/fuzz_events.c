/*
 * tests/fuzz/fuzz_events.c — the events file (-E, monitor/out.c): events written for
 * fuzzed file names and command words, then read back with jansson, as a tool reading
 * the file would. Every event is one line of JSON with its "event" and "time", and every
 * name comes back exactly as it was.
 *
 * Names that are not UTF-8: jansson refuses them, and today their field is lost (issue
 * 13 item 4; the escape for such bytes is being added). FUZZ_EVENTS_LOSSLESS says whether
 * they must come back too: set it to 1 and make fuzz_events_string() /
 * fuzz_events_name() the writer's and a reader's side of that escape once it is in (and
 * the "watch" event below written as monitor/conn.c will write it then).
 *
 * Input: NUL-separated names: the first is a watched path, all of them the paths of one
 * change and the words of the command.
 */
#include "fuzz.h"
#include "out.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_EVENTS_LOSSLESS 0

/* The writer's JSON value for a name (what monitor/ passes to out_event). */
static json_t *fuzz_events_string(const char *s)
{
	return json_string(s);
}

/* A reader's name from that value (a static buffer), or NULL. */
static const char *fuzz_events_name(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Would the name come back? (Lossless: always; today: when it is UTF-8.) */
static int fuzz_events_kept(const char *s)
{
	if (FUZZ_EVENTS_LOSSLESS)
		return 1;
	json_t *v = json_string(s);
	json_decref(v);
	return v != NULL;
}

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

static void fuzz_events_same(const json_t *v, const char *want)
{
	if (!fuzz_events_kept(want))
		return;
	const char *got = fuzz_events_name(v);
	if (!got || strcmp(got, want))
		fprintf(stderr, "wrote '%s', read back '%s'\n", want, got ? got : "(nothing)");
	FUZZ_CHECK(got && strcmp(got, want) == 0);
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
	out_event("watch", json_pack("{s:s, s:I, s:i}", "path", names[0], "seq", (json_int_t)7, "pid", 42));
	json_t *paths = json_array(), *argv = json_array();
	for (int i = 0; i < nn; i++) {
		json_array_append_new(paths, fuzz_events_string(names[i]));
		json_array_append_new(argv, fuzz_events_string(names[i]));
	}
	out_event("change", json_pack("{s:o}", "paths", paths));
	out_event("start", json_pack("{s:o, s:i, s:i}", "command", argv, "pid", 1, "monitor", 2));
	json_t *ev[3];
	FUZZ_CHECK(fuzz_events_read(ev, 3) == 3);
	fuzz_events_same(json_object_get(ev[0], "path"), names[0]);
	if (fuzz_events_kept(names[0])) /* today a path jansson refuses takes every field with it */
		FUZZ_CHECK(json_integer_value(json_object_get(ev[0], "seq")) == 7);
	const char *keys[] = {"paths", "command"};
	for (int k = 0; k < 2; k++) {
		const json_t *a = json_object_get(ev[k + 1], keys[k]);
		FUZZ_CHECK(json_is_array(a));
		size_t j = 0;
		for (int i = 0; i < nn; i++)
			if (fuzz_events_kept(names[i]))
				fuzz_events_same(json_array_get(a, j++), names[i]);
		FUZZ_CHECK(json_array_size(a) == j);
	}
	for (int k = 0; k < 3; k++)
		json_decref(ev[k]);
	free(in);
	return 0;
}
