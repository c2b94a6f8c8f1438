/* common/path.c — lexical path normalisation (see path.h). No allocation, no syscalls. */
#include "path.h"

#include <string.h>

const char *path_last(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

int path_is_dirlike(const char *p)
{
	const char *l = path_last(p);
	return *p == '\0' || *l == '\0' || strcmp(l, ".") == 0 || strcmp(l, "..") == 0;
}

/* Appends the components of s to out (which holds an absolute path of length *n). */
static int path_push(char *out, size_t outlen, size_t *n, const char *s)
{
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = s;
		while (*e && *e != '/')
			e++;
		size_t len = (size_t)(e - s);
		if (len == 1 && s[0] == '.') {
			/* nothing */
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (*n > 0 && out[*n - 1] != '/')
				(*n)--;
			if (*n > 1)
				(*n)--; /* drop the slash too, but keep the root */
			else
				*n = 1;
		} else {
			if (*n > 1) {
				if (*n + 1 >= outlen)
					return -1;
				out[(*n)++] = '/';
			}
			if (*n + len >= outlen)
				return -1;
			memcpy(out + *n, s, len);
			*n += len;
		}
		s = e;
	}
	out[*n] = '\0';
	return 0;
}

int path_join(const char *base, const char *rel, char *out, size_t outlen)
{
	size_t n = 1;
	if (outlen < 2)
		return -1;
	out[0] = '/';
	out[1] = '\0';
	if (rel[0] != '/') {
		if (!base || base[0] != '/')
			return -1;
		if (path_push(out, outlen, &n, base) < 0)
			return -1;
	}
	if (path_push(out, outlen, &n, rel) < 0)
		return -1;
	return (int)n;
}
