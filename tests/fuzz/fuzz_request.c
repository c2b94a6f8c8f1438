/*
 * tests/fuzz/fuzz_request.c — what a helper client sends (HELPER_RUN), decoded as the
 * helper (helper/request.c) and then its session in serve mode (helper/serve.c) decode
 * it: through peer_recv() over a real SOCK_SEQPACKET pair with descriptors attached,
 * wire_run_parse(), the argv, the command's environment, and the RESUME the session
 * builds from it, which the hook's peer_recv() must accept.
 *
 * Input: byte 0 says how (bit 0: the rest is the whole datagram, header included; else
 * a correct header is put before it; bits 1-3: descriptors attached), the rest is the
 * datagram.
 */
#include "fuzz.h"
#include "peer.h"
#include "wire.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int sp[2] = {-1, -1};
static char rbuf[FM_MSG_MAX];

static void fuzz_request_init(void)
{
	if (sp[0] >= 0)
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		abort();
	int big = 2 * FM_MSG_MAX;
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
}

/* The session's RESUME for this request (as serve_resume() builds it), received the way
 * the hook receives it. */
static void fuzz_request_resume(const struct wire_run *r)
{
	size_t len = offsetof(struct fm_resume, data) + r->envlen;
	if (len > FM_MSG_MAX - 1)
		return;
	struct fm_resume *m = calloc(1, len);
	FUZZ_CHECK(m != NULL);
	fm_init(&m->h, FM_RESUME, (uint32_t)len);
	m->flags = FM_RESUME_CLIENT;
	m->envc = r->envc;
	memcpy(m->data, r->env, r->envlen);
	FUZZ_CHECK(peer_send(sp[0], m, NULL, 0, MSG_DONTWAIT) == 0);
	ssize_t n = peer_recv(sp[1], rbuf, sizeof rbuf, NULL, NULL, MSG_DONTWAIT);
	FUZZ_CHECK(n == (ssize_t)len);
	free(m);
}

static void fuzz_request_decode(const char *msg, size_t n)
{
	struct wire_run r;
	char why[256];
	if (wire_run_parse(msg, n, &r, why, sizeof why) < 0) {
		FUZZ_CHECK(strncmp(why, "malformed request", 17) == 0 || strstr(why, "too") != NULL);
		return;
	}
	FUZZ_CHECK(r.argc >= 1 && r.argc <= FM_HELPER_MAX_ARGS);
	FUZZ_CHECK(r.args >= msg && r.env >= r.args && r.env + r.envlen <= msg + n);
	char **argv = calloc(r.argc + 1, sizeof *argv);
	FUZZ_CHECK(argv != NULL);
	wire_run_argv(&r, argv);
	for (uint32_t i = 0; i < r.argc; i++)
		FUZZ_CHECK(argv[i] >= msg && argv[i] + strlen(argv[i]) < msg + n);
	FUZZ_CHECK(argv[r.argc] == NULL);
	free(argv);
	/* serve mode: the session takes a copy of the environment, then builds the command's */
	char *env = malloc(r.envlen + 1);
	FUZZ_CHECK(env != NULL);
	memcpy(env, r.env, r.envlen);
	env[r.envlen] = '\0';
	static char pre[] = "LD_PRELOAD=/x/forkmonhook.so", sock[] = "FORKMON_SOCKET=@x", home[] = "HOME=/";
	char *own[] = {home, pre, sock, NULL};
	char **e = wire_run_env(env, r.envlen, r.envc, own);
	FUZZ_CHECK(e != NULL);
	int preloads = 0, k = 0;
	for (; e[k]; k++) {
		FUZZ_CHECK((e[k] >= env && e[k] <= env + r.envlen) || e[k] == pre || e[k] == sock);
		preloads += strncmp(e[k], "LD_PRELOAD=", 11) == 0;
	}
	FUZZ_CHECK(preloads == 1 && (uint32_t)k <= r.envc + 2);
	free(e);
	free(env);
	fuzz_request_resume(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_request_init();
	if (size < 1 || size > FM_MSG_MAX - 64)
		return 0;
	int before = fuzz_open_fds();
	int raw = data[0] & 1, nfds = (data[0] >> 1) & 7;
	size_t hl = raw ? 0 : sizeof(struct fm_header), len = size - 1 + hl;
	char *msg = malloc(len ? len : 1);
	FUZZ_CHECK(msg != NULL);
	if (!raw)
		fm_init((struct fm_header *)msg, FM_HELPER_RUN, (uint32_t)len);
	memcpy(msg + hl, data + 1, size - 1);
	int fds[8];
	for (int i = 0; i < nfds; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* a datagram as the helper's socket gets it (a zero-length one is end-of-file) */
	if (len > 0) {
		struct iovec iov = {.iov_base = msg, .iov_len = len};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		union {
			struct cmsghdr c;
			char b[CMSG_SPACE(8 * sizeof(int))];
		} cb;
		if (nfds) {
			memset(&cb, 0, sizeof cb);
			mh.msg_control = &cb;
			mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
			memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
		}
		FUZZ_CHECK(sendmsg(sp[0], &mh, MSG_DONTWAIT) == (ssize_t)len);
		int got[PEER_MAX_FDS], ngot = 0;
		ssize_t n = peer_recv(sp[1], rbuf, sizeof rbuf, got, &ngot, MSG_DONTWAIT);
		FUZZ_CHECK(n == PEER_BAD || n == PEER_VERSION || n > 0);
		if (n <= 0)
			FUZZ_CHECK(ngot == 0);
		else {
			FUZZ_CHECK((size_t)n == len && ngot == nfds);
			fuzz_request_decode(rbuf, (size_t)n);
		}
		for (int i = 0; i < ngot; i++)
			close(got[i]);
	}
	/* the session decodes what the helper hands over: the same bytes, from a buffer */
	if (len >= offsetof(struct fm_helper_run, data) && ((struct fm_header *)msg)->len == len &&
	    ((struct fm_header *)msg)->type == FM_HELPER_RUN &&
	    (len == offsetof(struct fm_helper_run, data) || msg[len - 1] == '\0'))
		fuzz_request_decode(msg, len);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	free(msg);
	FUZZ_CHECK(fuzz_open_fds() == before);
	return 0;
}
