/*
 * bench/openloop.c — the program under test for the open() rows of `make bench`.
 *
 *   openloop MODE N PATH        open+close PATH N times (MODE: open, open64, fopen), or
 *                               stat it N times (MODE: stat)
 *   openloop many N DIR         open+close DIR/f<i>.txt once each, i < N (first opens)
 *
 * Prints "ns_per_call X" measured around the loop only (CLOCK_MONOTONIC), so process
 * start-up and forkmon's own start-up are not counted. Built without
 * _FILE_OFFSET_BITS and without _FORTIFY_SOURCE so that `open` calls the `open`
 * symbol and `open64` the `open64` one (checked by bench/run with nm).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: openloop open|open64|fopen|stat|many N PATH\n");
		return 2;
	}
	const char *mode = argv[1], *path = argv[3];
	long n = atol(argv[2]);
	double t0 = 0, t1 = 0;
	if (strcmp(mode, "many") == 0) {
		char **names = malloc((size_t)n * sizeof *names);
		for (long i = 0; i < n; i++) {
			names[i] = malloc(strlen(path) + 32);
			sprintf(names[i], "%s/f%ld.txt", path, i);
		}
		t0 = now();
		for (long i = 0; i < n; i++) {
			int fd = open(names[i], O_RDONLY);
			if (fd < 0) {
				perror(names[i]);
				return 1;
			}
			close(fd);
		}
		t1 = now();
	} else if (strcmp(mode, "open") == 0) {
		t0 = now();
		for (long i = 0; i < n; i++) {
			int fd = open(path, O_RDONLY);
			if (fd < 0) {
				perror(path);
				return 1;
			}
			close(fd);
		}
		t1 = now();
	} else if (strcmp(mode, "open64") == 0) {
		t0 = now();
		for (long i = 0; i < n; i++) {
			int fd = open64(path, O_RDONLY);
			if (fd < 0) {
				perror(path);
				return 1;
			}
			close(fd);
		}
		t1 = now();
	} else if (strcmp(mode, "fopen") == 0) {
		t0 = now();
		for (long i = 0; i < n; i++) {
			FILE *f = fopen(path, "r");
			if (!f) {
				perror(path);
				return 1;
			}
			fclose(f);
		}
		t1 = now();
	} else if (strcmp(mode, "stat") == 0) {
		struct stat st;
		t0 = now();
		for (long i = 0; i < n; i++)
			if (stat(path, &st) < 0) {
				perror(path);
				return 1;
			}
		t1 = now();
	} else {
		fprintf(stderr, "openloop: unknown mode %s\n", mode);
		return 2;
	}
	printf("ns_per_call %.1f\n", (t1 - t0) / (double)n);
	return 0;
}
