/*
 * tests/progs/reader.c — a C program that reads files the ways C programs do.
 *
 *   reader MODE FILE...   MODE: open64 (an explicit open64 call), open (open() with
 *                         flags only known at run time: the fortified __open_2, or
 *                         __open64_2 with 64-bit offsets), fopen, openat.
 * Prints "reader start" (buffered by stdio), then each file's content, then
 * "reader end".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int rdonly = O_RDONLY;

static void dump(int fd)
{
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: reader open64|open|fopen|openat FILE...\n");
		return 2;
	}
	printf("reader start\n");
	for (int i = 2; i < argc; i++) {
		const char *mode = argv[1];
		int fd = -1;
		if (!strcmp(mode, "open64"))
			fd = open64(argv[i], O_RDONLY);
		else if (!strcmp(mode, "open"))
			fd = open(argv[i], rdonly); /* fortified: __open_2 / __open64_2 */
		else if (!strcmp(mode, "openat"))
			fd = openat(AT_FDCWD, argv[i], rdonly);
		else if (!strcmp(mode, "fopen")) {
			FILE *f = fopen(argv[i], "r");
			if (f) {
				int c;
				while ((c = getc(f)) != EOF)
					putchar(c);
				fclose(f);
			}
			continue;
		}
		if (fd < 0) {
			perror(argv[i]);
			return 1;
		}
		dump(fd);
	}
	printf("reader end\n");
	return 0;
}
