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

/* The length of s when it is absolute and normal already (no empty, "." or ".."
 * component, no trailing slash), else 0. The hook joins every candidate name, and most
 * are normal: a scan from slash to slash (strchr) instead of a copy a component at a
 * time, which was the largest part of the hook's own time per open. */
static size_t path_normal_len(const char *s)
{
	if (s[0] != '/')
		return 0;
	size_t i = 0;
	for (;;) { /* s[i] == '/' */
		const char *c = s + i + 1;
		if (c[0] == '\0')
			return i == 0 ? 1 : 0;
		if (c[0] == '/' || (c[0] == '.' && (c[1] == '/' || c[1] == '\0' ||
						  (c[1] == '.' && (c[2] == '/' || c[2] == '\0')))))
			return 0;
		const char *next = strchr(c, '/');
		if (!next)
			return (size_t)(c - s) + strlen(c);
		i = (size_t)(next - s);
	}
}

int path_join(const char *base, const char *rel, char *out, size_t outlen)
{
	size_t n = 1;
	if (rel[0] == '/' && (n = path_normal_len(rel)) > 0 && n < outlen) {
		memcpy(out, rel, n + 1);
		return (int)n;
	}
	n = 1;
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

int path_append(char *out, size_t outlen, size_t n, const char *rel)
{
	if (n == 0 || n >= outlen || out[0] != '/')
		return -1;
	if (path_push(out, outlen, &n, rel) < 0)
		return -1;
	return (int)n;
}
