/*
 * helper/wire.h — a client's HELPER_RUN request as bytes: checked and taken apart. Pure
 * (no descriptors, no globals): the helper (request.c) checks what a client sent before
 * it picks a session, and the session (serve.c) takes the same bytes apart again when
 * the helper hands them over. tests/fuzz/fuzz_request.c feeds it arbitrary bytes.
 */
#ifndef FORKMON_HELPER_WIRE_H
#define FORKMON_HELPER_WIRE_H

#include "forkmon_proto.h"

#include <stddef.h>
#include <stdint.h>

/* A HELPER_RUN taken apart: pointers into the message, which must outlive it. */
struct wire_run {
	uint32_t argc, envc;
	int32_t pid;      /* the client's, as it said */
	const char *args; /* argc NUL-terminated strings */
	const char *env;  /* then envc of them, envlen bytes in all */
	size_t envlen;
};

/* Checks the n bytes of msg (as peer_recv() returned them) are a HELPER_RUN whose
 * counts and lengths agree with the bytes received. Returns 0, or -1 with why filled. */
int wire_run_parse(const void *msg, size_t n, struct wire_run *r, char *why, size_t whylen);

/* The request's argv into argv (r->argc + 1 slots, NULL-ended). */
void wire_run_argv(const struct wire_run *r, char **argv);

/* The command's environment: the client's (envc strings in env, envlen bytes) less
 * LD_PRELOAD and FORKMON_SOCKET, which come from own (NULL-ended). An array to free(),
 * pointing into env and own; NULL when out of memory. */
char **wire_run_env(const char *env, size_t envlen, uint32_t envc, char *const *own);

#endif
