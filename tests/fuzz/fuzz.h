/*
 * tests/fuzz/fuzz.h — what the fuzz targets (tests/fuzz/fuzz_NAME.c) share. Each target
 * defines LLVMFuzzerTestOneInput and is built twice (Makefile, "fuzz"): with clang and
 * libFuzzer for `make fuzz`, and with gcc and tests/fuzz/replay.c for `make check`, which
 * feeds it every file of tests/fuzz/corpus/NAME and tests/fuzz/regress/NAME.
 *
 * A broken property aborts (FUZZ_CHECK): libFuzzer keeps the input as a crash, the
 * replay exits non-zero and says which property and which input.
 */
#ifndef FORKMON_FUZZ_H
#define FORKMON_FUZZ_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                          \
		}                                                                         \
	} while (0)

/* How many descriptors below 256 are open: what a target checks it did not leak. */
static inline int fuzz_open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 256; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

#endif
