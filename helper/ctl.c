/*
 * helper/ctl.c — `forkmon helper status` and `forkmon helper stop`, as Spring's
 * `spring status` / `spring stop`: both ends. In the helper process (ctl_serve, from
 * request.c) the report of its sessions — each one's command, warm depth (the copies of
 * the command it keeps: checkpoints and a run), processes and memory (PSS, from /proc) —
 * or the stop; in the `forkmon helper status|stop` process (ctl_main) the request and
 * what it prints. A stop answers once the helper has ended everything of its own: the
 * helper closes that connection last, so the caller knows it is gone.
 */
#include "daemon.h"
#include "escape.h"
#include "helper.h"
#include "loop.h"
#include "out.h"
#include "peer.h"
#include "serve.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* A process of the machine, as /proc/PID/stat has it. */
struct ctl_proc {
	pid_t pid, ppid;
	int forkmon; /* one of forkmon's own (the session's monitor, its guard) */
};

/* Every process: an array to free(), its length in *n. */
static struct ctl_proc *ctl_procs(int *n)
{
	DIR *d = opendir("/proc");
	struct ctl_proc *v = NULL;
	int cap = 0;
	*n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[300], buf[512];
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid <= 0)
			continue;
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
		FILE *f = fopen(path, "re");
		size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
		if (f)
			fclose(f);
		buf[len] = '\0';
		char *close_paren = strrchr(buf, ')');
		int ppid;
		if (!close_paren || sscanf(close_paren + 1, " %*c %d", &ppid) != 1)
			continue;
		if (*n == cap) {
			struct ctl_proc *m = realloc(v, (size_t)(cap = cap ? cap * 2 : 256) * sizeof *v);
			if (!m)
				break;
			v = m;
		}
		v[(*n)++] = (struct ctl_proc){pid, (pid_t)ppid, strstr(buf, "(forkmon)") != NULL};
	}
	if (d)
		closedir(d);
	return v;
}

/* Whether process i descends from root (or is it). */
static int ctl_under(const struct ctl_proc *v, int n, int i, pid_t root)
{
	for (int depth = 0; depth < 64 && i >= 0; depth++) {
		if (v[i].pid == root)
			return 1;
		pid_t up = v[i].ppid;
		i = -1;
		for (int k = 0; k < n && up > 1; k++)
			if (v[k].pid == up)
				i = k;
	}
	return 0;
}

/* Its proportional memory in kB (what it alone costs, shared pages split). */
static long ctl_pss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
	FILE *f = fopen(path, "re");
	long kb = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "Pss: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* One session's line into out (cap bytes): returns its length. */
static size_t ctl_session_line(const struct session *s, const struct ctl_proc *v, int n, char *out, size_t cap)
{
	int procs = 0, copies = 0;
	long kb = 0;
	int spare = s->stats ? __atomic_load_n(&s->stats->spare_pid, __ATOMIC_RELAXED) : 0;
	for (int i = 0; i < n; i++)
		if (ctl_under(v, n, i, s->pid)) {
			procs++;
			copies += !v[i].forkmon && v[i].pid != spare; /* the spare is no depth */
			kb += ctl_pss_kb(v[i].pid);
		}
	char esc[4 * 1024 + 1];
	const char *p = s->key, *end = s->key + s->keylen;
	escape_line(p, strlen(p), esc, sizeof esc);
	size_t len = (size_t)snprintf(out, cap, "session %d in %s:", (int)s->pid, esc);
	p += strlen(p) + 1;
	int envc = 0;
	for (int a = 0; p < end; a++, p += strlen(p) + 1) {
		if (a >= s->argc) {
			envc++;
			continue;
		}
		escape_line(p, strlen(p), esc, sizeof esc);
		if (len < cap)
			len += (size_t)snprintf(out + len, cap - len, " %s", esc);
	}
	int grants = s->stats ? __atomic_load_n(&s->stats->grants_pending, __ATOMIC_RELAXED) : 0;
	char spare_note[64] = "";
	if (spare > 0)
		snprintf(spare_note, sizeof spare_note, ", the next call's copy ready (pid %d)", spare);
	if (len < cap)
		len += (size_t)snprintf(out + len, cap - len,
					"\n  warm depth %d, %d processes, %ld kB (PSS), used %.1f s ago, %d environment "
					"variables, %d checkpoint grant%s pending%s%s%s\n",
					copies, procs, kb, (double)(clock_ns() - s->used) / 1e9, envc, grants,
					grants == 1 ? "" : "s", spare_note, s->ending ? ", ending" : "",
					s->nq ? ", requests queued" : "");
	return len < cap ? len : cap - 1;
}

/* The report: a HELPER_TEXT to free(). */
static struct fm_helper_text *ctl_report(void)
{
	int n;
	struct ctl_proc *v = ctl_procs(&n);
	size_t cap = FM_MSG_MAX - offsetof(struct fm_helper_text, text);
	struct fm_helper_text *m = malloc(FM_MSG_MAX);
	if (!m) {
		free(v);
		return NULL;
	}
	size_t len = (size_t)snprintf(m->text, cap, "helper %d: %d session%s (at most %d)\n", (int)getpid(), helperd.n,
				      helperd.n == 1 ? "" : "s", helperd.max_sessions);
	for (int i = 0; i < helperd.n && len < cap - 1; i++)
		len += ctl_session_line(&helperd.s[i], v, n, m->text + len, cap - len);
	free(v);
	fm_init(&m->h, FM_HELPER_TEXT, (uint32_t)(offsetof(struct fm_helper_text, text) + len + 1));
	return m;
}

void ctl_serve(int conn, int op)
{
	if (op == FM_CTL_STATUS) {
		struct fm_helper_text *m = ctl_report();
		if (m)
			peer_send(conn, m, NULL, 0, MSG_DONTWAIT);
		free(m);
	} else if (op == FM_CTL_STOP && helperd.stop_conn < 0) {
		helper_log("stop requested");
		helperd.stop_conn = conn;
		loop_stop(helperd.loop, 0);
	} else {
		peer_refuse(conn, "unknown control request");
	}
}

static int ctl_usage(const char *what, const char *arg)
{
	out_error(what, arg);
	fprintf(stderr, "%s\n", HELPER_USAGE);
	return 2;
}

/* Connects to the helper on sock: the socket, or -1. Replies wait at most 30 s. */
static int ctl_connect(const char *sock)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof a.sun_path)
		return -1;
	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
		struct timeval tv = {30, 0};
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		return s;
	}
	if (s >= 0)
		close(s);
	return -1;
}

int ctl_main(int argc, char **argv)
{
	const char *sock_opt = NULL, *op = argv[0];
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) && i + 1 < argc)
			sock_opt = argv[++i];
		else if (!strncmp(argv[i], "--socket=", 9))
			sock_opt = argv[i] + 9;
		else
			return ctl_usage(!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket") ? "option '%s' needs a value"
												   : "unexpected argument '%s'",
					 argv[i]);
	}
	char sock[PATH_MAX];
	helper_socket_path(sock_opt, sock, sizeof sock);
	int s = ctl_connect(sock);
	if (s < 0) {
		out_error("no helper answers on '%s'", sock);
		return 3;
	}
	struct fm_helper_ctl m = {.op = !strcmp(op, "stop") ? FM_CTL_STOP : FM_CTL_STATUS};
	fm_init(&m.h, FM_HELPER_CTL, sizeof m);
	static char buf[FM_MSG_MAX];
	ssize_t n = peer_send(s, &m, NULL, 0, 0) < 0 ? PEER_ERROR : peer_recv(s, buf, sizeof buf, NULL, NULL, 0);
	const struct fm_header *h = (const void *)buf;
	if (n == PEER_VERSION) {
		char v[16];
		snprintf(v, sizeof v, "%d", h->version);
		out_error("the helper is of another version (%s); forkmon-client restarts it", v);
		return 1;
	}
	if (m.op == FM_CTL_STATUS && n > 0 && h->type == FM_HELPER_TEXT) {
		fputs(((const struct fm_helper_text *)buf)->text, stdout);
		return 0;
	}
	if (m.op == FM_CTL_STOP && (n == PEER_EOF || n > 0)) {
		while (n > 0) /* until the helper closes its end, last of all */
			n = peer_recv(s, buf, sizeof buf, NULL, NULL, 0);
		if (n == PEER_EOF)
			return 0;
	}
	out_error("the helper did not answer (%s)", peer_why(n));
	return 1;
}
