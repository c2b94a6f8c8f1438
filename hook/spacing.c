/*
 * hook/spacing.c — the checkpoint spacing rule (see spacing.h). Pure, libc only: runs
 * inside the user's program (called by hook/ckpt.c) and in the unit tests.
 */
#include "spacing.h"

#include <string.h>

int spacing_wanted(const struct spacing_cfg *cfg, struct spacing *s, int64_t now, int in_project,
		   int consume)
{
	if (!cfg->run || s->count >= (int)cfg->max_checkpoints)
		return 0;
	if (cfg->every)
		return 1;
	/* The first read (often the program's own main file) is always worth one, and it
	 * counts as one of the project's when it is one of the project's files. */
	if (s->count == 0 || (in_project && s->free_used < (int)cfg->free_checkpoints)) {
		s->free_used += consume && in_project;
		return 1;
	}
	int64_t gap = cfg->min_gap_ns;
	int64_t cost = s->last_fork_ns * (int64_t)cfg->gap_factor;
	if (cost > gap)
		gap = cost;
	return now - s->last_end_ns >= gap;
}

void spacing_forked(struct spacing *s, int64_t now, int64_t fork_cost_ns)
{
	s->count++;
	s->last_fork_ns = fork_cost_ns;
	s->last_end_ns = now;
}

void spacing_resumed(struct spacing *s, int64_t now)
{
	s->count++;
	s->last_end_ns = now;
}

int spacing_in_project(const char *project, const char *path)
{
	size_t pl = strlen(project);
	return pl && strncmp(path, project, pl) == 0 && (path[pl] == '/' || project[pl - 1] == '/');
}
