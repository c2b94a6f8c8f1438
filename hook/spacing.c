/*
 * hook/spacing.c — the checkpoint spacing rule (see spacing.h). Pure, libc only: runs
 * inside the user's program (called by hook/ckpt.c) and in the unit tests.
 */
#include "spacing.h"

#include <stdint.h>
#include <string.h>

static int64_t spacing_gap(const struct spacing_cfg *cfg, int64_t cost)
{
	int64_t gap = cost * (int64_t)cfg->gap_factor;
	return gap > cfg->min_gap_ns ? gap : cfg->min_gap_ns;
}

int64_t spacing_cost(const struct spacing_cfg *cfg, const struct spacing *s)
{
	if (!cfg->faults_now)
		return s->last_cost_ns;
	long faults = cfg->faults_now() - s->faults_at_end;
	int64_t each = s->fault_ns > 0 ? s->fault_ns : SPACING_FAULT_NS;
	return s->last_cost_ns + (faults > 0 ? (int64_t)faults * each : 0);
}

/* Would a resume from the last checkpoint show nothing a resume from here would not,
 * for less than that checkpoint cost? (spacing.h) */
static int spacing_quiet_since(const struct spacing_cfg *cfg, const struct spacing *s, int64_t now)
{
	if (!cfg->effects_now || now - s->last_end_ns >= s->last_cost_ns || s->effects_at_end < 0)
		return 0;
	return cfg->effects_now() == s->effects_at_end;
}

int spacing_wanted(const struct spacing_cfg *cfg, struct spacing *s, int64_t now, int in_project,
		   int consume)
{
	if (consume)
		s->quiet_until_ns = 0;
	if (!cfg->run || s->count >= (int)cfg->max_checkpoints)
		return 0;
	if (cfg->every)
		return 1;
	/* The first read (often the program's own main file) is always worth one, and it
	 * counts as one of the project's when it is one of the project's files. */
	if (s->count == 0) {
		s->free_used += consume && in_project;
		return 1;
	}
	if (in_project && s->free_used < (int)cfg->free_checkpoints) {
		if (!consume)
			return 1; /* the widest answer: the quiet test below costs a system call */
		s->free_used++;
		return !spacing_quiet_since(cfg, s, now);
	}
	/* the cheap bound first: the faults are counted only when it allows one */
	int64_t worked = now - s->last_end_ns;
	if (worked < spacing_gap(cfg, s->last_cost_ns))
		return 0;
	if (!cfg->faults_now)
		return 1;
	if (now < s->faults_next_ns)
		return 0;
	int64_t gap = spacing_gap(cfg, spacing_cost(cfg, s));
	if (worked >= gap)
		return 1;
	s->faults_next_ns = s->last_end_ns + gap; /* a bound, not a decision: asking may set it */
	return 0;
}

/* Before when is spacing_wanted(cfg, s, now, in_project, 0) sure to be 0, for s as it
 * is? 0: it may be 1 now. */
static int64_t spacing_quiet_until(const struct spacing_cfg *cfg, const struct spacing *s, int in_project)
{
	if (!cfg->run || s->count >= (int)cfg->max_checkpoints)
		return INT64_MAX;
	if (cfg->every || s->count == 0 || (in_project && s->free_used < (int)cfg->free_checkpoints))
		return 0;
	int64_t until = s->last_end_ns + spacing_gap(cfg, s->last_cost_ns); /* the cheap bound */
	if (cfg->faults_now && s->faults_next_ns > until)
		until = s->faults_next_ns; /* the faults' bound, set by the question itself */
	return until;
}

int spacing_may_want(const struct spacing_cfg *cfg, struct spacing *s, int64_t now, int in_project)
{
	if (s->quiet_until_ns && now < s->quiet_until_ns)
		return 0;
	int r = spacing_wanted(cfg, s, now, in_project, 0);
	s->quiet_until_ns = r ? 0 : spacing_quiet_until(cfg, s, in_project);
	return r;
}

void spacing_reconfigured(struct spacing *s)
{
	s->quiet_until_ns = 0;
}

void spacing_forked(struct spacing *s, int64_t now, int64_t cost_ns, long faults)
{
	s->quiet_until_ns = 0;
	s->count++;
	s->last_cost_ns = cost_ns;
	s->last_end_ns = now;
	s->faults_at_end = faults;
	s->faults_next_ns = 0;
}

void spacing_resumed(struct spacing *s, int64_t now)
{
	s->quiet_until_ns = 0;
	s->count++;
	s->last_end_ns = now;
	s->faults_next_ns = 0;
}

void spacing_faults_from(struct spacing *s, long faults)
{
	s->quiet_until_ns = 0;
	s->faults_at_end = faults;
	s->faults_next_ns = 0;
}

void spacing_effects_from(struct spacing *s, long effects)
{
	s->quiet_until_ns = 0;
	s->effects_at_end = effects;
}

void spacing_fault_sample(struct spacing *s, int64_t sample_ns)
{
	if (sample_ns < 100 || sample_ns > 100000)
		return;
	s->quiet_until_ns = 0;
	s->fault_ns = s->fault_ns > 0 ? (3 * s->fault_ns + sample_ns) / 4 : sample_ns;
	s->faults_next_ns = 0; /* a cheaper fault may allow one sooner */
}

int spacing_in_project(const char *project, const char *path)
{
	size_t pl = strlen(project);
	return pl && strncmp(path, project, pl) == 0 && (path[pl] == '/' || project[pl - 1] == '/');
}
