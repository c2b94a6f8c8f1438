/*
 * common/optname.h — what getopt_long's errors were about, named as the user wrote it.
 * libc only; called by the forkmon command's option parsers (monitor/main.c,
 * helper/helper.c) with opterr = 0 and a leading ':' in the short options.
 *
 * getopt leaves optind on the element it is still reading, so argv[optind - 1] is not
 * the culprit in "-xq" (it may be the subcommand); optopt alone cannot tell "-d" from
 * "--delay"; hence this.
 */
#ifndef FORKMON_OPTNAME_H
#define FORKMON_OPTNAME_H

#include <getopt.h>
#include <stddef.h>

/* After getopt_long returned c ('?' or ':'), optind having been `before` just before the
 * call: one line into msg (no newline, no prefix): "unknown option '-x'", "option '-d'
 * needs a value", "option '--quiet' takes no value". */
void optname_fault(int c, char **argv, int before, const struct option *longs, char *msg, size_t len);

#endif
