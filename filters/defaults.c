/* filters/defaults.c — the default ignore patterns (see defaults.h). Runs in the monitor
 * and the helper. */
#include "defaults.h"

#include <stdlib.h>
#include <string.h>

/* Matched against absolute paths, so a directory is "/NAME/" anywhere in the path and a
 * file is "/NAME$". Kept in README.md ("Default ignores") and forkmon.1. */
#define DEFAULT_VCS \
	/* version control: Git, Mercurial, Subversion, Bazaar, Darcs, Fossil, Pijul, CVS */ \
	"/%.git/;/%.hg/;/%.svn/;/%.bzr/;/_darcs/;/%.fossil%-settings/;/%.fslckout$;/_FOSSIL_$;" \
	"/%.pijul/;/CVS/;"
/* Python's bytecode: a read of it counts as a read of its source (hook/candidate.c) */
#define DEFAULT_BYTECODE "/__pycache__/;%.py[co]$;"
/* tools' own caches that are not such a stand-in: pytest, mypy */
#define DEFAULT_CACHES "/%.pytest_cache/;/%.mypy_cache/;"
#define DEFAULT_EDITORS \
	/* vim: swap files (.NAME.swp, .swo, ... and the .swpx probe), the 4913 write probe */ \
	"/%.[^/]*%.sw.$;/%.[^/]*%.sw.x$;/4913$;" \
	/* backups (NAME~), Emacs locks (.#NAME) and auto-saves (#NAME#), Kate swap files */ \
	"~$;/%.#[^/]*$;/#[^/]*#$;/%.[^/]*%.kate%-swp$;" \
	/* macOS Finder metadata */ \
	"/%.DS_Store$"

static const char default_ignores[] = DEFAULT_VCS DEFAULT_BYTECODE DEFAULT_CACHES DEFAULT_EDITORS;
static const char helper_ignores[] = DEFAULT_VCS DEFAULT_BYTECODE DEFAULT_EDITORS;

const char *filter_default_ignores(void)
{
	return default_ignores;
}

const char *filter_helper_ignores(void)
{
	return helper_ignores;
}

int filter_default_ignores_wanted(void)
{
	const char *v = getenv("FORKMON_NO_DEFAULT_IGNORES");
	return !(v && *v && strcmp(v, "0") != 0);
}
