/*
 * helper/wire.c — HELPER_RUN checked and taken apart (see wire.h). Runs in the helper
 * (request.c) and in its sessions (serve.c).
 *
 * Nothing a client sends is trusted: every count is bounded (forkmon_proto.h's limits)
 * and must match the strings actually received, each of which must end inside the
 * message, and nothing may follow the last one. What is built from a request is sized by
 * the bytes it holds, never by a count it claims.
 */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Steps over count NUL-terminated strings from *p: 0, or -1 when one runs past end. */
static int wire_skip(const char **p, const char *end, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		const char *nul = *p < end ? memchr(*p, '\0', (size_t)(end - *p)) : NULL;
		if (!nul)
			return -1;
		*p = nul + 1;
	}
	return 0;
}

int wire_run_parse(const void *msg, size_t n, struct wire_run *r, char *why, size_t whylen)
{
	const struct fm_helper_run *m = msg;
	size_t fixed = offsetof(struct fm_helper_run, data);
	if (n < fixed || m->h.type != FM_HELPER_RUN || m->h.len != n || n > FM_MSG_MAX) {
		snprintf(why, whylen, "malformed request (type %d, %zu bytes)", n >= sizeof m->h ? m->h.type : -1, n);
		return -1;
	}
	if (m->argc == 0 || m->argc > FM_HELPER_MAX_ARGS) {
		snprintf(why, whylen, "malformed request (%u arguments: 1 to %d)", m->argc, FM_HELPER_MAX_ARGS);
		return -1;
	}
	if (m->envc > FM_HELPER_MAX_ENV) {
		snprintf(why, whylen, "malformed request (%u environment strings: at most %d)", m->envc,
			 FM_HELPER_MAX_ENV);
		return -1;
	}
	const char *p = m->data, *end = (const char *)msg + n;
	r->argc = m->argc;
	r->envc = m->envc;
	r->pid = m->pid;
	r->args = p;
	if (wire_skip(&p, end, m->argc) < 0) {
		snprintf(why, whylen, "malformed request (fewer than %u arguments)", m->argc);
		return -1;
	}
	r->env = p;
	if (wire_skip(&p, end, m->envc) < 0 || p != end) {
		snprintf(why, whylen, "malformed request (not %u environment strings)", m->envc);
		return -1;
	}
	r->envlen = (size_t)(end - r->env);
	return 0;
}

void wire_run_argv(const struct wire_run *r, char **argv)
{
	const char *p = r->args;
	for (uint32_t i = 0; i < r->argc; i++, p += strlen(p) + 1)
		argv[i] = (char *)p;
	argv[r->argc] = NULL;
}

static int wire_is_ours(const char *e)
{
	return !strncmp(e, "LD_PRELOAD=", 11) || !strncmp(e, "FORKMON_SOCKET=", 15);
}

char **wire_run_env(const char *env, size_t envlen, uint32_t envc, char *const *own)
{
	/* room for the strings that are there (at most envc), and ours */
	const char *p = env, *end = env + envlen;
	size_t have = 0, k = 0;
	while (have < envc && wire_skip(&p, end, 1) == 0)
		have++;
	for (char *const *e = own; *e; e++)
		have += wire_is_ours(*e);
	char **out = calloc(have + 1, sizeof *out);
	if (!out)
		return NULL;
	p = env;
	for (uint32_t i = 0; i < envc && p < end && k < have; i++) {
		const char *s = p;
		if (wire_skip(&p, end, 1) < 0)
			break;
		if (!wire_is_ours(s))
			out[k++] = (char *)s;
	}
	for (char *const *e = own; *e && k < have; e++)
		if (wire_is_ours(*e))
			out[k++] = *e;
	out[k] = NULL;
	return out;
}
