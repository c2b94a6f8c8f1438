/*
 * tests/progs/rawfork.c — a program whose child is forked without the fork handlers
 * (the raw system call, as some runtimes make their processes): reads the file named by
 * argv[1] twice (fopen, a watched read and a reread), then forks so; the child reads the file named by
 * argv[2] and exits; the parent waits and prints the first line of each and the child's
 * exit status. The child shares nothing with its parent but a copy of its memory, the
 * hook's state included: it must not tell its reads as its parent's.
 */
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int first_line(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int ok = fgets(out, (int)n, f) != NULL;
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	char a[128] = "", b[128] = "";
	/* read twice: the second is a read told, not asked (with an events file) */
	if (argc < 3 || first_line(argv[1], a, sizeof a) < 0 || first_line(argv[1], a, sizeof a) < 0)
		return 2;
	fflush(NULL);
	long pid = syscall(SYS_fork);
	if (pid < 0)
		return 3;
	if (pid == 0)
		_exit(first_line(argv[2], b, sizeof b) == 0 ? 7 : 8);
	int st = 0;
	while (waitpid((pid_t)pid, &st, 0) < 0)
		;
	printf("data %s child %d\n", a, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
