/*
 * tests/progs/threads.c — a program with a second thread that holds a mutex while it
 * opens a file (the situation where a checkpoint of a multi-threaded process would
 * deadlock: the copy has only the forking thread, and the lock is never released).
 *
 *   threads FIRST SECOND THIRD
 * Prints "threads start" (stdio-buffered), reads FIRST (single-threaded), prints
 * "run pid P" and starts a worker that locks the mutex, tells main, reads SECOND and
 * unlocks. Main meanwhile reads THIRD (the worker holds the lock), then takes the lock
 * itself. The worker then ticks forever: "tick N pid P" every 20 ms under the lock.
 */
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static sem_t locked;
static const char *second;

static void show(const char *what, const char *path)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	printf("%s: %s\n", what, n >= 0 ? buf : "(unreadable)");
	fflush(stdout);
}

static void *worker(void *arg)
{
	pthread_mutex_lock(&mu);
	sem_post(&locked);
	show("second", second);
	struct timespec ts = {0, 50000000}; /* hold it a while: main reads meanwhile */
	nanosleep(&ts, NULL);
	pthread_mutex_unlock(&mu);
	for (int n = 1;; n++) {
		pthread_mutex_lock(&mu);
		printf("tick %d pid %d\n", n, (int)getpid());
		fflush(stdout);
		pthread_mutex_unlock(&mu);
		struct timespec t = {0, 20000000};
		nanosleep(&t, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: threads FIRST SECOND THIRD\n");
		return 2;
	}
	printf("threads start\n");
	show("first", argv[1]);
	printf("run pid %d\n", (int)getpid());
	fflush(stdout);
	second = argv[2];
	sem_init(&locked, 0, 0);
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	sem_wait(&locked);
	show("third", argv[3]);
	pthread_mutex_lock(&mu);
	printf("main has the lock\n");
	fflush(stdout);
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
	return 0;
}
