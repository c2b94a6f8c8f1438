/*
 * common/escape.c — bytes made safe for one terminal line (see escape.h). Runs in the
 * monitor (status and error lines: monitor/out.c) and in forkmon-client (its error lines).
 */
#include "escape.h"

#include <string.h>

/* The length of the well-formed UTF-8 sequence at p (n bytes left) that is not a C1
 * control (U+0080-U+009F, which some terminals obey), or 0. */
static size_t escape_utf8_len(const unsigned char *p, size_t n)
{
	size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
	if (p[0] < 0xc2 || p[0] > 0xf4 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || /* overlong, surrogates */
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f) || /* overlong, > U+10FFFF */
	    (p[0] == 0xc2 && p[1] < 0xa0))                                   /* C1 controls */
		return 0;
	return len;
}

size_t escape_line(const char *in, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t k = 0;
	if (!cap)
		return 0;
	for (size_t i = 0; i < n;) {
		char e[4];
		const unsigned char *copy = p + i;
		size_t len = 1;
		if (p[i] == '\\' || p[i] == '\n' || p[i] == '\t' || p[i] == '\r') {
			e[0] = '\\';
			e[1] = p[i] == '\n' ? 'n' : p[i] == '\t' ? 't' : p[i] == '\r' ? 'r' : '\\';
			copy = (const unsigned char *)e;
			len = 2;
		} else if (p[i] < 0x20 || p[i] == 0x7f || (p[i] >= 0x80 && !(len = escape_utf8_len(p + i, n - i)))) {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[p[i] >> 4];
			e[3] = hex[p[i] & 15];
			copy = (const unsigned char *)e;
			len = 4;
		}
		if (k + len >= cap)
			break; /* never half an escape or half a character */
		memcpy(out + k, copy, len);
		k += len;
		i += copy == p + i ? len : 1;
	}
	out[k] = '\0';
	return k;
}
