/*
 * common/slice.h — the scheduler slice of forkmon's own hops on the path of a save.
 *
 * A save reaches the new copy's output through several wake-ups: the watcher thread, the
 * monitor, the checkpoint, the intermediate process of its double fork. Linux's EEVDF
 * scheduler (6.6 on) lets a task that is running keep the processor for its slice
 * (about 1.4 ms here) before one it woke runs, so behind background work each hop could
 * wait that long: under three `nice -n 19` busy loops a save took 5-6 ms. A task may ask
 * for a shorter slice (`sched_attr.sched_runtime` of SCHED_OTHER, Linux 6.12 on; no
 * privilege needed): its deadline comes sooner and its wake-up preempts at once. Its
 * share of the processor is unchanged (that is its nice value's).
 *
 * So forkmon's processes and its checkpoints ask for SLICE_SHORT_NS; the user's program
 * runs with the kernel's default: the monitor's child before its exec and every resumed
 * copy go back to it (slice_default). On an older kernel the call fails and nothing
 * changes. Header-only, libc only: the hook uses it too.
 */
#ifndef FORKMON_SLICE_H
#define FORKMON_SLICE_H

#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SLICE_SHORT_NS 100000 /* the kernel's smallest */

struct slice_attr { /* struct sched_attr (linux/sched/types.h), version 1 */
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

/* This thread's slice: ns, or 0 for the kernel's default. Only a SCHED_OTHER or
 * SCHED_BATCH thread's, its nice value and the rest kept as they are. */
static inline void slice_set(uint64_t ns)
{
	struct slice_attr a;
	memset(&a, 0, sizeof a);
	if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) < 0 || (a.policy != SCHED_OTHER && a.policy != SCHED_BATCH))
		return;
	a.size = sizeof a;
	a.runtime = ns;
	(void)syscall(SYS_sched_setattr, 0, &a, 0);
}

static inline void slice_short(void)
{
	slice_set(SLICE_SHORT_NS);
}

static inline void slice_default(void)
{
	slice_set(0);
}

#endif
