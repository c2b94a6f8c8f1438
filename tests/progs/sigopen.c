/*
 * tests/progs/sigopen.c — a program that opens files from a signal handler, from several
 * threads and in forked children, all at once: the hook inside it must never deadlock
 * (its lock taken again by a handler on the same thread, or held by a thread that a
 * fork() left behind in the child).
 *
 *   sigopen signal  WATCHED OTHER N   SIGALRM every 50 us (setitimer); the handler opens
 *                                      WATCHED read-only and OTHER read-write; the main
 *                                      loop does the same N times
 *   sigopen threads WATCHED OTHER N   the same, plus 3 threads opening both in loops and
 *                                      the main thread forking a child every 10 rounds
 *                                      (the child opens both, then _exits)
 * Prints "sigopen start", then "sigopen done N handled H children C" and exits 0.
 * Only async-signal-safe calls in the handler (open, close).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *watched, *other;
static volatile sig_atomic_t handled, stop;

/* What every party does: a watched read (the hook asks or tells the monitor, under its
 * lock) and a read-write open of another file (the hook notes it, under its lock). */
static void sigopen_both(void)
{
	int a = open(watched, O_RDONLY);
	if (a >= 0)
		close(a);
	int b = open(other, O_RDWR);
	if (b >= 0)
		close(b);
}

static void sigopen_on_alarm(int sig)
{
	int saved = errno;
	sigopen_both();
	handled++;
	errno = saved;
}

static void *sigopen_worker(void *arg)
{
	while (!stop)
		sigopen_both();
	return NULL;
}

/* A child forked while the other threads are in the hook: it must be able to open too. */
static int sigopen_fork_child(void)
{
	pid_t c = fork();
	if (c < 0)
		return 0;
	if (c == 0) {
		sigopen_both();
		sigopen_both();
		_exit(0);
	}
	int st;
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[1], "signal") && strcmp(argv[1], "threads"))) {
		fprintf(stderr, "usage: sigopen signal|threads WATCHED OTHER N\n");
		return 2;
	}
	watched = argv[2];
	other = argv[3];
	long n = atol(argv[4]);
	int threads = strcmp(argv[1], "threads") == 0;
	printf("sigopen start\n");
	fflush(stdout);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = sigopen_on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 50}, {0, 50}};
	setitimer(ITIMER_REAL, &it, NULL);
	pthread_t t[3];
	int nt = 0, children = 0;
	for (int i = 0; threads && i < 3; i++)
		if (pthread_create(&t[nt], NULL, sigopen_worker, NULL) == 0)
			nt++;
	for (long i = 0; i < n; i++) {
		sigopen_both();
		if (threads && i % 10 == 0)
			children += sigopen_fork_child();
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	stop = 1;
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	printf("sigopen done %ld handled %d children %d\n", n, (int)handled, children);
	return 0;
}
