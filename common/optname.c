/*
 * common/optname.c — naming the option a getopt_long error was about (see optname.h).
 * Runs in the forkmon command (the CLI of `forkmon run` and `forkmon helper`).
 */
#include "optname.h"

#include <stdio.h>
#include <string.h>

/* The long option whose name is the n bytes at name (abbreviations as getopt_long takes
 * them: a unique prefix), or NULL. */
static const struct option *optname_long(const struct option *longs, const char *name, size_t n)
{
	const struct option *found = NULL;
	for (const struct option *o = longs; o && o->name; o++) {
		if (strncmp(o->name, name, n) != 0)
			continue;
		if (strlen(o->name) == n)
			return o;
		if (found)
			return NULL; /* ambiguous */
		found = o;
	}
	return found;
}

void optname_fault(int c, char **argv, int before, const struct option *longs, char *msg, size_t len)
{
	const char *el = argv[before];
	/* a long option is a whole element, and getopt_long has stepped past it */
	if (optind > before && el && strncmp(el, "--", 2) == 0 && el[2]) {
		const char *eq = strchr(el, '=');
		size_t n = eq ? (size_t)(eq - el - 2) : strlen(el + 2);
		const struct option *o = optname_long(longs, el + 2, n);
		if (c == ':')
			snprintf(msg, len, "option '--%.*s' needs a value", (int)n, el + 2);
		else if (o && eq && o->has_arg == no_argument)
			snprintf(msg, len, "option '--%s' takes no value", o->name);
		else
			snprintf(msg, len, "unknown option '--%.*s'", (int)n, el + 2);
		return;
	}
	if (c == ':')
		snprintf(msg, len, "option '-%c' needs a value", optopt);
	else if (optopt > ' ' && optopt < 127)
		snprintf(msg, len, "unknown option '-%c'", optopt);
	else
		snprintf(msg, len, "unknown option '%s'", el ? el : "");
}
