/*
 * tests/fuzz/fuzz_path.c — lexical path normalisation (common/path.c), as the hook
 * applies it to every path the program opens and the monitor to what it is told.
 *
 * Compared with a plain model written here (a stack of components): path_join() must
 * give the model's result whenever the buffer has room for it and more, and either that
 * or -1 in a buffer of any size, never writing past it; its result is normal (absolute,
 * no "//", no "." or ".." component, no trailing '/') and joining it again changes
 * nothing; path_last() and path_is_dirlike() agree with the components.
 *
 * Input: byte 0 picks the output buffer's size (0-255, or 255: plenty), then base, a
 * NUL, rel (no NUL: rel is the whole rest, and base is NULL).
 */
#include "fuzz.h"
#include "path.h"

#include <string.h>

/* The model: components pushed and popped. Returns the length of out (room: cap). */
static size_t fuzz_path_model(const char *base, const char *rel, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	const char *parts[2] = {rel[0] == '/' ? "" : base, rel};
	for (int k = 0; k < 2; k++)
		for (const char *s = parts[k]; *s;) {
			size_t l = strcspn(s, "/");
			if (l == 2 && s[0] == '.' && s[1] == '.') {
				char *slash = strrchr(out, '/');
				n = slash ? (size_t)(slash - out) : 0;
				out[n] = '\0';
			} else if (l && !(l == 1 && s[0] == '.')) {
				FUZZ_CHECK(n + 1 + l < cap);
				out[n++] = '/';
				memcpy(out + n, s, l);
				n += l;
				out[n] = '\0';
			}
			s += l;
			s += *s == '/';
		}
	if (n == 0) {
		out[0] = '/';
		out[1] = '\0';
		n = 1;
	}
	return n;
}

static void fuzz_path_normal(const char *p, size_t n)
{
	FUZZ_CHECK(strlen(p) == n && p[0] == '/');
	FUZZ_CHECK(!strstr(p, "//") && !strstr(p, "/./") && !strstr(p, "/../"));
	FUZZ_CHECK(n == 1 || p[n - 1] != '/');
	const char *last = path_last(p);
	FUZZ_CHECK(last > p && last[-1] == '/' && !strchr(last, '/'));
	FUZZ_CHECK(strcmp(last, ".") && strcmp(last, ".."));
	FUZZ_CHECK(path_is_dirlike(p) == (n == 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 8192)
		return 0;
	size_t outlen = data[0] == 255 ? 2 * size + 16 : data[0];
	char *in = malloc(size);
	FUZZ_CHECK(in != NULL);
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	const char *nul = memchr(data + 1, '\0', size - 1);
	const char *base = nul ? in : NULL, *rel = nul ? in + (nul - (const char *)data - 1) + 1 : in;
	size_t cap = 2 * size + 16;
	char *model = malloc(cap), *big = malloc(cap), *again = malloc(cap);
	char *out = malloc(outlen ? outlen : 1); /* exactly outlen: ASan sees a byte past it */
	FUZZ_CHECK(model && big && again && out);
	int r = path_join(base, rel, big, cap);
	if (rel[0] != '/' && (!base || base[0] != '/')) {
		FUZZ_CHECK(r == -1); /* relative to nothing absolute */
	} else {
		size_t m = fuzz_path_model(base, rel, model, cap);
		FUZZ_CHECK(r >= 0 && (size_t)r == m && strcmp(big, model) == 0);
		fuzz_path_normal(big, (size_t)r);
		FUZZ_CHECK(path_join(NULL, big, again, cap) == r && strcmp(again, big) == 0);
		FUZZ_CHECK(path_join(big, ".", again, cap) == r && strcmp(again, big) == 0);
		int s = path_join(base, rel, out, outlen);
		FUZZ_CHECK(s == -1 || (s == r && strcmp(out, big) == 0));
		if (s == -1)
			FUZZ_CHECK(outlen <= (size_t)r + 1 || strstr(rel, "..") || (base && strstr(base, "..")));
	}
	/* what the hook asks of names before any normalisation */
	const char *last = path_last(rel);
	FUZZ_CHECK(!strchr(last, '/'));
	if (path_is_dirlike(rel))
		FUZZ_CHECK(!*rel || !*last || !strcmp(last, ".") || !strcmp(last, ".."));
	free(in);
	free(model);
	free(big);
	free(again);
	free(out);
	return 0;
}
