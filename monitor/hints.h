/*
 * monitor/hints.h — what the hook may reject without asking: HELLO_OK's hints made from
 * the session's filter. Runs in the monitor (monitor.c, at start); tests/fuzz/fuzz_hints.c
 * checks them against lua5.4 through the hook's own checks (hook/candidate.c).
 */
#ifndef FORKMON_MONITOR_HINTS_H
#define FORKMON_MONITOR_HINTS_H

#include "filter.h"
#include "forkmon_proto.h"

/*
 * The hints for f, up to max (one per pattern): how many, or -1 when some pattern has
 * none, or there are more than max; then every path is a candidate
 * (FM_CFG_ALL_CANDIDATES). A need that the prefix or suffix holds is left out.
 */
int hints_make(const struct filter *f, struct fm_hint *out, int max);

#endif
