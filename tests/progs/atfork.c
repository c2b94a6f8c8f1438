/*
 * tests/progs/atfork.c — a program with fork handlers (pthread_atfork), as libraries
 * have them to reseed a generator or forget a cached pid in a child: reads the file
 * named by argv[1] (fopen, a watched read), then prints its first line, its own pid
 * and how many times its child handler ran in this process. A copy resumed at that
 * read is a child of one fork of the program there: its handler ran once, its pid is
 * its own; the first run's ran never.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int in_child;

static void atfork_child(void)
{
	in_child++;
}

int main(int argc, char **argv)
{
	if (argc < 2 || pthread_atfork(NULL, NULL, atfork_child) != 0)
		return 2;
	FILE *f = fopen(argv[1], "r");
	char line[128] = "";
	if (!f || !fgets(line, sizeof line, f))
		return 1;
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	printf("data %s child handler %d times\n", line, in_child);
	return 0;
}
