/*
 * tests/system/test_completion.c — the shell completions (completions/), in the shells
 * users have: bash with bash-completion, zsh with compinit. Check suite "completion".
 */
#include "harness.h"
#include "suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* What bash completes for the words of line (the last one being completed). */
static const char *bash_complete(const char *line)
{
	static char out[8192];
	char cmd[4096];
	snprintf(cmd, sizeof cmd,
		 "bash --norc --noprofile -c '. /usr/share/bash-completion/bash_completion; . \"%s\"; "
		 "COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); "
		 "COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}; "
		 "f=_forkmon; [ \"${COMP_WORDS[0]}\" = forkmon-client ] && f=_forkmon_client; "
		 "$f \"${COMP_WORDS[0]}\" \"${COMP_WORDS[-1]}\" \"${COMP_WORDS[-2]}\" 2>/dev/null; "
		 "[ ${#COMPREPLY[@]} -eq 0 ] || printf \"%%s\\n\" \"${COMPREPLY[@]}\"' 2>/dev/null",
		 h_path("completions/forkmon.bash"), line);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	ck_assert_int_eq(pclose(p), 0);
	return out;
}

static int has_line(const char *text, const char *word)
{
	size_t l = strlen(word);
	for (const char *p = text; (p = strstr(p, word)); p += l)
		if ((p == text || p[-1] == '\n') && (p[l] == '\n' || p[l] == '\0'))
			return 1;
	return 0;
}

START_TEST(test_bash_completes_subcommands_and_options)
{
	const char *r = bash_complete("forkmon \"\"");
	ck_assert_msg(has_line(r, "run") && has_line(r, "helper") && has_line(r, "--version"), "%s", r);
	r = bash_complete("forkmon run --ev");
	ck_assert_msg(has_line(r, "--every") && has_line(r, "--events") && !has_line(r, "--quiet"), "%s", r);
	r = bash_complete("forkmon helper --");
	ck_assert_msg(has_line(r, "--socket") && has_line(r, "--timeout"), "%s", r);
	r = bash_complete("forkmon-client --");
	ck_assert_msg(has_line(r, "--socket"), "%s", r);
}
END_TEST

START_TEST(test_bash_leaves_patterns_free_and_completes_the_command)
{
	/* a Lua pattern is the user's: nothing is offered (no file names either) */
	const char *r = bash_complete("forkmon run -f \"\"");
	ck_assert_msg(r[0] == '\0', "%s", r);
	/* after the options, the command and then its own arguments */
	r = bash_complete("forkmon run -f x.lua lua5.");
	ck_assert_msg(has_line(r, "lua5.4"), "%s", r);
	r = bash_complete("forkmon run -- lua5.");
	ck_assert_msg(has_line(r, "lua5.4"), "%s", r);
	r = bash_complete("forkmon-client lua5.");
	ck_assert_msg(has_line(r, "lua5.4"), "%s", r);
}
END_TEST

START_TEST(test_zsh_knows_both_commands)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd,
		 "zsh -f -c 'zsh -n \"%s/_forkmon\" && fpath=(\"%s\" $fpath) && autoload -Uz compinit && "
		 "compinit -u -D && print -r -- $_comps[forkmon] $_comps[forkmon-client]'",
		 h_path("completions"), h_path("completions"));
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	char out[256] = "";
	ck_assert_ptr_nonnull(fgets(out, sizeof out, p));
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_str_eq(out, "_forkmon _forkmon\n");
}
END_TEST

Suite *completion_suite(void)
{
	Suite *s = suite_create("completion");
	TCase *tc = tcase_create("completion");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bash_completes_subcommands_and_options);
	tcase_add_test(tc, test_bash_leaves_patterns_free_and_completes_the_command);
	tcase_add_test(tc, test_zsh_knows_both_commands);
	suite_add_tcase(s, tc);
	return s;
}
