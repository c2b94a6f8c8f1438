/*
 * monitor/events.c — events as JSON text, every field kept whatever bytes a name holds
 * (see events.h for the escape). Runs in the monitor; out.c writes what this makes.
 */
#include "events.h"

#include <stdlib.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at s[0..n), or 0 when there is none. */
static size_t events_utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0], cp, need, min;

	if (c == 0)
		return 0; /* a NUL: not text a reader gets back from JSON as it is */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0; /* a continuation byte, 0xc0, 0xc1, 0xf5..0xff */
	}
	if (n < need + 1)
		return 0;
	for (unsigned k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

int events_utf8_ok(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0, l; i < n; i += l)
		if (!(l = events_utf8_len(u + i, n - i)))
			return 0;
	return 1;
}

/* s with U+FFFD for each byte not in a valid sequence: a json string, or NULL. */
static json_t *events_readable(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	char *t = malloc(3 * n + 1);
	size_t k = 0;
	json_t *j;

	if (!t)
		return NULL;
	for (size_t i = 0, l; i < n; i += l) {
		if ((l = events_utf8_len(u + i, n - i))) {
			memcpy(t + k, u + i, l);
			k += l;
		} else {
			memcpy(t + k, "\xef\xbf\xbd", 3);
			k += 3;
			l = 1;
		}
	}
	j = json_stringn(t, k);
	free(t);
	return j;
}

static json_t *events_hex(const char *s, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *h = malloc(2 * n + 1);
	json_t *j;

	if (!h)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		h[2 * i] = digits[(unsigned char)s[i] >> 4];
		h[2 * i + 1] = digits[(unsigned char)s[i] & 15];
	}
	j = json_stringn(h, 2 * n);
	free(h);
	return j;
}

/* o[key suffix] = v (stolen); 0 or -1. */
static int events_put(json_t *o, const char *key, const char *suffix, json_t *v)
{
	size_t kl = strlen(key), sl = strlen(suffix);
	char *k = malloc(kl + sl + 1);
	int rc = -1;

	if (k && v) {
		memcpy(k, key, kl);
		memcpy(k + kl, suffix, sl + 1);
		rc = json_object_set_new(o, k, v);
		v = NULL;
	}
	json_decref(v);
	free(k);
	return rc;
}

int events_set_text(json_t *o, const char *key, const char *s, size_t n)
{
	if (!json_is_object(o) || !s)
		return -1;
	if (events_utf8_ok(s, n))
		return events_put(o, key, "", json_stringn(s, n));
	if (events_put(o, key, "", events_readable(s, n)) < 0)
		return -1;
	return events_put(o, key, "_hex", events_hex(s, n));
}

int events_set_texts(json_t *o, const char *key, const char *const *v, size_t n)
{
	json_t *texts = json_array(), *hex = json_array();
	int raw = 0, rc;

	if (!json_is_object(o) || !texts || !hex)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i]);
		int ok = events_utf8_ok(v[i], l);

		if (json_array_append_new(texts, ok ? json_stringn(v[i], l) : events_readable(v[i], l)) < 0 ||
		    json_array_append_new(hex, events_hex(v[i], l)) < 0)
			goto fail;
		raw |= !ok;
	}
	if (!raw) {
		json_decref(hex);
		hex = NULL;
	}
	rc = events_put(o, key, "", texts); /* steals texts, as it steals hex below */
	if (rc == 0 && hex)
		return events_put(o, key, "_hex", hex);
	json_decref(hex);
	return rc;
fail:
	json_decref(texts);
	json_decref(hex);
	return -1;
}

static int events_nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The string at o[key] (item i when i >= 0), or NULL. */
static const json_t *events_field(const json_t *o, const char *key, const char *suffix, int i)
{
	size_t kl = strlen(key), sl = strlen(suffix);
	char k[256];
	const json_t *v;

	if (kl + sl >= sizeof k)
		return NULL;
	memcpy(k, key, kl);
	memcpy(k + kl, suffix, sl + 1);
	v = json_object_get(o, k);
	if (v && i >= 0)
		v = json_is_array(v) ? json_array_get(v, (size_t)i) : NULL;
	return json_is_string(v) ? v : NULL;
}

char *events_get_text(const json_t *o, const char *key, int i, size_t *n)
{
	const json_t *hex = events_field(o, key, "_hex", i), *text = events_field(o, key, "", i);
	const char *h;
	size_t hl;
	char *b;

	if (!hex) {
		if (!text || !(b = malloc(json_string_length(text) + 1)))
			return NULL;
		*n = json_string_length(text);
		memcpy(b, json_string_value(text), *n + 1);
		return b;
	}
	h = json_string_value(hex);
	hl = json_string_length(hex);
	if (hl % 2 || !(b = malloc(hl / 2 + 1)))
		return NULL;
	for (size_t k = 0; k < hl / 2; k++) {
		int hi = events_nibble(h[2 * k]), lo = events_nibble(h[2 * k + 1]);

		if (hi < 0 || lo < 0) {
			free(b);
			return NULL;
		}
		b[k] = (char)(hi << 4 | lo);
	}
	b[hl / 2] = '\0';
	*n = hl / 2;
	return b;
}

char *events_line(const char *name, double ms, json_t *fields, size_t *len)
{
	json_t *o = json_object();
	char *s = NULL, *line;

	if (o && json_object_set_new(o, "event", json_string(name)) == 0 &&
	    json_object_set_new(o, "time", json_real((double)(long long)(ms * 1000) / 1000)) == 0 &&
	    (!fields || json_object_update(o, fields) == 0))
		s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15));
	json_decref(o);
	json_decref(fields);
	if (!s)
		return NULL;
	*len = strlen(s);
	if (!(line = realloc(s, *len + 2))) {
		free(s);
		return NULL;
	}
	line[(*len)++] = '\n';
	line[*len] = '\0';
	return line;
}
