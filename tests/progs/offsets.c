/*
 * tests/progs/offsets.c — a file kept open, read sequentially across a checkpoint.
 *
 *   offsets r|rw BIG DATA
 * Opens BIG twice (an unwatched file; read-only, or for reading and writing with rw):
 * once as a descriptor read with read(), once as a stdio stream (which reads ahead into
 * its buffer). Reads a little of each, then reads
 * DATA (a watched file: the checkpoint), then goes on reading BIG through both and
 * prints what it got: a resumed copy must read the same bytes as the first run.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: offsets r|rw BIG DATA\n");
		return 2;
	}
	int rw = strcmp(argv[1], "rw") == 0;
	argv++;
	int fd = open(argv[1], rw ? O_RDWR : O_RDONLY);
	FILE *f = fopen(argv[1], rw ? "r+" : "r");
	if (fd < 0 || !f) {
		perror(argv[1]);
		return 1;
	}
	char raw[64], line[256];
	ssize_t n = read(fd, raw, 10);
	raw[n > 0 ? n : 0] = '\0';
	raw[strcspn(raw, "\n")] = '\0';
	printf("raw before: %s\n", raw);
	if (fgets(line, sizeof line, f))
		printf("stdio before: %s", line);

	char data[256] = "";
	int d = open(argv[2], O_RDONLY);
	n = d >= 0 ? read(d, data, sizeof data - 1) : -1;
	data[n > 0 ? n : 0] = '\0';
	data[strcspn(data, "\n")] = '\0';
	if (d >= 0)
		close(d);
	printf("data: %s\n", data);

	/* the next bytes, then the rest: size and a checksum */
	n = read(fd, raw, 10);
	raw[n > 0 ? n : 0] = '\0';
	raw[strcspn(raw, "\n")] = '\0';
	printf("raw after: %s\n", raw);
	if (fgets(line, sizeof line, f))
		printf("stdio after: %s", line);
	unsigned long total = 0, sum = 0;
	char buf[1000];
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++, total++)
			sum = sum * 31 + (unsigned char)buf[i];
	printf("raw rest: %lu bytes, sum %lu\n", total, sum);
	unsigned long lines = 0;
	while (fgets(line, sizeof line, f))
		lines++;
	printf("stdio rest: %lu lines, last %s", lines, line);
	return 0;
}
