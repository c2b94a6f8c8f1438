/*
 * tests/progs/outbuf.c — output buffered by C stdio before a checkpoint.
 *
 *   outbuf LOG DATA
 * Writes "log before" into LOG (a file it opens for writing) and "pipe before" to
 * stdout, both left in stdio's buffers (stdout is fully buffered when it is a pipe or
 * a file), then reads DATA (a watched file: the checkpoint) and writes its first line
 * to both: "log after: ..." and "pipe after: ...". The buffers are flushed only at exit.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: outbuf LOG DATA\n");
		return 2;
	}
	FILE *log = fopen(argv[1], "w");
	if (!log) {
		perror(argv[1]);
		return 1;
	}
	fprintf(log, "log before\n");
	printf("pipe before\n");
	char line[256] = "";
	FILE *d = fopen(argv[2], "r");
	if (!d || !fgets(line, sizeof line, d)) {
		perror(argv[2]);
		return 1;
	}
	fclose(d);
	line[strcspn(line, "\n")] = '\0';
	fprintf(log, "log after: %s\n", line);
	printf("pipe after: %s\n", line);
	fclose(log);
	return 0;
}
