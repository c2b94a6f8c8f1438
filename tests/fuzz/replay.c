/*
 * tests/fuzz/replay.c — a fuzz target without libFuzzer: feeds every file of the
 * directories named on the command line to LLVMFuzzerTestOneInput, in name order, and
 * exits 0 when every input passed (a broken property aborts). Built with gcc for each
 * tests/fuzz/fuzz_NAME.c as build/fuzz/replay/NAME; run by the fuzz_replay suite.
 */
#include "fuzz.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static int replay_one(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "forkmon: cannot read %s\n", path);
		return -1;
	}
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);
	size_t r;
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			uint8_t *b = realloc(buf, cap *= 2);
			if (!b)
				free(buf);
			buf = b;
		}
	}
	fclose(f);
	if (!buf)
		return -1;
	/* exactly n bytes, as libFuzzer gives them: a read past the end is caught */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, n);
	free(buf);
	fprintf(stderr, "replay %s\n", path);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

static int replay_name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	int done = 0, bad = 0;
	for (int i = 1; i < argc; i++) {
		struct dirent **ents;
		int n = scandir(argv[i], &ents, NULL, replay_name_cmp);
		if (n < 0)
			continue; /* no regressions yet: no directory */
		for (int k = 0; k < n; k++) {
			char path[4096];
			struct stat st;
			snprintf(path, sizeof path, "%s/%s", argv[i], ents[k]->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
				bad |= replay_one(path) < 0, done++;
			free(ents[k]);
		}
		free(ents);
	}
	printf("%d inputs replayed\n", done);
	return bad ? 1 : 0;
}
