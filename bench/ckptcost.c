/*
 * bench/ckptcost.c — the cost of one checkpoint, seen from inside the program.
 *
 *   ckptcost MB N DIR     touches MB megabytes of heap, then times fork()+_exit+wait
 *                         (20 times), then opens DIR/c<i>.ck (i < N), timing each
 *                         open+close by itself.
 *
 * Under `forkmon run --every -f '%.ck$'` every one of those opens takes a checkpoint,
 * so (median open time with the hook) - (without) is the cost of a checkpoint at that
 * size. Prints "fork_us X" and "open_us_median X open_us_p90 Y".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	size_t mb = (size_t)atol(argv[1]);
	int n = atoi(argv[2]);
	char *mem = malloc(mb << 20 | 1);
	for (size_t i = 0; i < mb << 20; i += 4096)
		mem[i] = (char)i;
	double f[20];
	for (int k = 0; k < 20; k++) {
		double t0 = now_us();
		pid_t p = fork();
		if (p == 0)
			_exit(0);
		waitpid(p, NULL, 0);
		f[k] = now_us() - t0;
	}
	qsort(f, 20, sizeof *f, cmp);
	double *t = calloc((size_t)n, sizeof *t);
	for (int i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/c%d.ck", argv[3], i);
		double t0 = now_us();
		int fd = open(path, O_RDONLY);
		if (fd < 0) {
			perror(path);
			return 1;
		}
		close(fd);
		t[i] = now_us() - t0;
	}
	/* the first one is the connection to the monitor: leave it out */
	qsort(t + 1, (size_t)n - 1, sizeof *t, cmp);
	printf("fork_us %.1f\nopen_us_median %.1f open_us_p90 %.1f\n", f[10], t[1 + (n - 1) / 2],
	       t[1 + (n - 1) * 9 / 10]);
	printf("done\n");
	fflush(stdout);
	return 0;
}
