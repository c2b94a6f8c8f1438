/*
 * tests/progs/slice.c — prints the scheduler slice it runs with (sched_getattr's
 * sched_runtime: the kernel's default unless someone asked for another), before and
 * after reading a file, with the file's content:
 *
 *   slice FILE    prints "start SLICE", then "after SLICE CONTENT"
 *
 * forkmon's own processes ask for a short slice (common/slice.h); the program must not
 * inherit it, in its first run or in a copy resumed at its read.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

static unsigned long long slice(void)
{
	struct attr a;
	memset(&a, 0, sizeof a);
	if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) < 0)
		return 0;
	return (unsigned long long)a.runtime;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: slice FILE\n");
		return 2;
	}
	printf("start %llu\n", slice());
	fflush(stdout);
	char buf[256] = "";
	FILE *f = fopen(argv[1], "r");
	if (!f || !fgets(buf, sizeof buf, f))
		return 1;
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	printf("after %llu %s\n", slice(), buf);
	return 0;
}
