/*
 * tests/fuzz/fuzz_conn.c — hook→monitor messages handled by the monitor's own code
 * (monitor/conn.c, through files.c, policy.c, ckpt.c), in a session set up in this
 * process without a program: the watcher thread, the policy, the debounce and the
 * session socket are real, the run is none (no process is ever started: the debounce's
 * quiet window is an hour). Each input connects to the session socket like a process
 * of the program, sends its messages, lets the loop take them and hangs up; the monitor
 * must survive any of them and keep no descriptor of a connection that ended.
 *
 * Input: records of [flags][length][bytes]: flags bit 0 puts a correct magic, version
 * and length in the header. One file exists to be watched: FUZZ_CONN_DIR/mod.lua
 * (the filter is '%.lua$').
 */
#include "debounce.h"
#include "filter.h"
#include "fuzz.h"
#include "inotify.h"
#include "out.h"
#include "policy.h"
#include "session.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define FUZZ_CONN_DIR "/tmp/forkmon-fuzz-conn"

static struct monitor_opts o;
static struct sockaddr_un addr;
static socklen_t addrlen;

static void fuzz_conn_cleanup(void)
{
	unlink(FUZZ_CONN_DIR "/mod.lua");
	rmdir(FUZZ_CONN_DIR);
}

static void fuzz_conn_init(void)
{
	static char *argv[] = {"/bin/true", NULL};
	char err[256];
	mkdir(FUZZ_CONN_DIR, 0700);
	FILE *f = fopen(FUZZ_CONN_DIR "/mod.lua", "w");
	FUZZ_CHECK(f != NULL);
	fputs("return 1\n", f);
	fclose(f);
	atexit(fuzz_conn_cleanup);
	out_init(1);
	o.filter = filter_new();
	o.ignore = filter_new();
	FUZZ_CHECK(o.filter && o.ignore && filter_add(o.filter, "%.lua$", err, sizeof err) == 0);
	o.quiet = 1;
	o.delay_ns = 3600 * (int64_t)1000000000;
	o.grace_ns = 1000000000;
	o.max_checkpoints = 4;
	o.argv = argv;
	o.serve_fd = o.listen_fd = -1;
	S.o = &o;
	S.self = getpid();
	S.pgid = getpgrp();
	S.loop = loop_new();
	S.wfd = watcher_start();
	FUZZ_CHECK(S.loop && S.wfd >= 0);
	S.pol = policy_new();
	struct debounce_cfg dc = {.quiet_ns = o.delay_ns, .empty_grace_ns = o.delay_ns, .stale_ns = o.delay_ns};
	S.deb = debounce_new(&dc);
	run_init();
	fm_init(&S.cfg.h, FM_HELLO_OK, sizeof S.cfg);
	S.cfg.flags = FM_CFG_ALL_CANDIDATES;
	addr.sun_family = AF_UNIX;
	int l = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "forkmon-fuzz-conn-%d", (int)getpid());
	addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)l);
	S.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	FUZZ_CHECK(S.lfd >= 0 && bind(S.lfd, (struct sockaddr *)&addr, addrlen) == 0 && listen(S.lfd, 16) == 0);
	conn_listen();
}

/* Lets the loop take what is waiting (a few turns: accept, then the messages). */
static void fuzz_conn_turns(void)
{
	for (int i = 0; i < 4; i++) {
		loop_turn(S.loop, 0);
		conn_turn_end();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!S.o)
		fuzz_conn_init();
	if (size > 65536)
		return 0;
	int before = fuzz_open_fds();
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(s >= 0 && connect(s, (struct sockaddr *)&addr, addrlen) == 0);
	char *m = malloc(FM_MSG_MAX);
	FUZZ_CHECK(m != NULL);
	for (size_t at = 0; at + 3 <= size;) {
		int flags = data[at];
		size_t len = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;
		at += 3;
		if (len > size - at)
			len = size - at;
		memcpy(m, data + at, len);
		at += len;
		if ((flags & 1) && len >= sizeof(struct fm_header)) {
			struct fm_header *h = (void *)m;
			h->magic = FM_MAGIC;
			h->version = FM_VERSION;
			h->len = (uint32_t)len;
		}
		if (len == 0 || send(s, m, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			break; /* (an empty datagram would read as end-of-file) */
		fuzz_conn_turns();
		while (recv(s, m, FM_MSG_MAX, MSG_DONTWAIT) > 0)
			; /* the monitor's answers */
	}
	free(m);
	close(s);
	fuzz_conn_turns();
	/* every connection ended: none of its descriptors is kept */
	FUZZ_CHECK(fuzz_open_fds() == before);
	return 0;
}
