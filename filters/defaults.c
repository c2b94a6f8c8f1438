/* filters/defaults.c — the default ignore patterns (see defaults.h). Runs in the monitor
 * and the helper. */
#include "defaults.h"

#include <stdlib.h>
#include <string.h>

/* Matched against absolute paths, so a directory is "/NAME/" anywhere in the path and a
 * file is "/NAME$". Kept in README.md ("Default ignores") and forkmon.1. */
static const char default_ignores[] =
	/* version control: Git, Mercurial, Subversion, Bazaar, Darcs, Fossil, Pijul, CVS */
	"/%.git/;/%.hg/;/%.svn/;/%.bzr/;/_darcs/;/%.fossil%-settings/;/%.fslckout$;/_FOSSIL_$;"
	"/%.pijul/;/CVS/;"
	/* tools' own caches: Python's bytecode, pytest, mypy */
	"/__pycache__/;%.py[co]$;/%.pytest_cache/;/%.mypy_cache/;"
	/* vim: swap files (.NAME.swp, .swo, ... and the .swpx probe), the 4913 write probe */
	"/%.[^/]*%.sw.$;/%.[^/]*%.sw.x$;/4913$;"
	/* backups (NAME~), Emacs locks (.#NAME) and auto-saves (#NAME#), Kate swap files */
	"~$;/%.#[^/]*$;/#[^/]*#$;/%.[^/]*%.kate%-swp$;"
	/* macOS Finder metadata */
	"/%.DS_Store$";

const char *filter_default_ignores(void)
{
	return default_ignores;
}

int filter_default_ignores_wanted(void)
{
	const char *v = getenv("FORKMON_NO_DEFAULT_IGNORES");
	return !(v && *v && strcmp(v, "0") != 0);
}
