/*
 * monitor/hints.c — HELLO_OK's hints from the session's filter (see hints.h). Runs in
 * the monitor.
 */
#include "hints.h"

#include <stdio.h>
#include <string.h>

int hints_make(const struct filter *f, struct fm_hint *out, int max)
{
	int n = filter_count(f);
	if (n > max)
		return -1;
	for (int i = 0; i < n; i++) {
		struct filter_hint h;
		filter_hint(f, i, &h);
		if (!h.prefix[0] && !h.suffix[0] && !h.need[0])
			return -1;
		snprintf(out[i].prefix, FM_HINT_LEN, "%s", h.prefix);
		snprintf(out[i].suffix, FM_HINT_LEN, "%s", h.suffix);
		/* an unanchored pattern's literal ('src/', '%.lua', 'nomatch'): without it every
		 * path the program opened was the monitor's to judge, some 100 us each */
		out[i].need[0] = '\0';
		if (!strstr(h.prefix, h.need) && !strstr(h.suffix, h.need))
			snprintf(out[i].need, FM_HINT_LEN, "%s", h.need);
	}
	return n;
}
