/*
 * tests/progs/misbehave.c — a program that misbehaves as its (watched) file says.
 *
 *   misbehave MODEFILE
 * Prints "misbehave start", reads the first line of MODEFILE, prints "mode LINE", then:
 *   exit N        exits with status N
 *   segv          dies of SIGSEGV (no core file)
 *   ignore-term   ignores SIGTERM, prints "ignoring SIGTERM pid P" and waits forever
 *   anything else returns 0
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: misbehave MODEFILE\n");
		return 2;
	}
	printf("misbehave start\n");
	char mode[256] = "";
	FILE *f = fopen(argv[1], "r");
	if (!f || !fgets(mode, sizeof mode, f)) {
		perror(argv[1]);
		return 1;
	}
	fclose(f);
	mode[strcspn(mode, "\n")] = '\0';
	printf("mode %s\n", mode);
	fflush(stdout);
	if (strncmp(mode, "exit ", 5) == 0)
		exit(atoi(mode + 5));
	if (strncmp(mode, "segv", 4) == 0) {
		struct rlimit no = {0, 0};
		setrlimit(RLIMIT_CORE, &no);
		raise(SIGSEGV);
	}
	if (strncmp(mode, "ignore-term", 11) == 0) {
		signal(SIGTERM, SIG_IGN);
		printf("ignoring SIGTERM pid %d\n", (int)getpid());
		fflush(stdout);
		for (;;)
			pause();
	}
	return 0;
}
