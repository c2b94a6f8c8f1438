/*
 * monitor/main.c — the forkmon command: options, environment, then the monitor.
 *
 *   forkmon run [options] [--] CMD [ARGS]   a session around CMD
 *   forkmon --bare FD PID EXE PRELOAD -- ARGV  (internal: started by the hook in bare
 *                                             mode, LD_PRELOAD=forkmonhook.so CMD)
 *   forkmon --bare-probe FD                   (internal: the hook's check that this is
 *                                             a monitor, before bare mode starts it)
 * Exit status: the session's end (130 Ctrl-C, 143 SIGTERM); 2 bad usage or pattern;
 * 126/127 the command cannot be run; 1 forkmon itself failed.
 */
#include "defaults.h"
#include "filter.h"
#include "guard.h"
#include "forkmon_proto.h"
#include "helper.h"
#include "monitor.h"
#include "optname.h"
#include "out.h"
#include "sibling.h"
#include "stdfds.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage_line[] =
	"usage: forkmon run [-f PATTERN]... [-i PATTERN]... [-qce] [-d MS] [-E FILE] [--] COMMAND [ARG]...";

static pid_t bare_child; /* bare mode: the program waiting for our go */

static __attribute__((noreturn)) void fail(int status)
{
	if (bare_child > 0) {
		kill(bare_child, SIGKILL);
		waitpid(bare_child, NULL, 0);
	}
	exit(status);
}

static void usage_error(const char *fmt, const char *arg)
{
	char buf[512];
	snprintf(buf, sizeof buf, fmt, arg);
	out_error("%s", buf);
	fprintf(stderr, "%s\n", usage_line);
	fail(2);
}

static void help_main(void)
{
	printf("forkmon %s — resume a console program from the middle when a file it read changes\n\n"
	       "usage: forkmon run [options] [--] COMMAND [ARG]...\n"
	       "       forkmon helper [options]          (for forkmon-client COMMAND [ARG]...)\n"
	       "       forkmon helper status | stop\n"
	       "       forkmon client [-s SOCKET] [--] COMMAND [ARG]...   (= forkmon-client)\n"
	       "       forkmon --help | --version\n"
	       "       LD_PRELOAD=/path/to/forkmonhook.so FORKMON_FILTER='%%.lua$' COMMAND [ARG]...\n\n"
	       "Run 'forkmon run --help' or 'forkmon helper --help' for the options;\n"
	       "'man forkmon' for everything.\n",
	       FORKMON_VERSION);
}

static void help_run(void)
{
	printf("%s\n\n"
	       "Runs COMMAND with forkmon's hook. Before each read-only open of a file whose\n"
	       "absolute path matches a filter, the program is checkpointed; when the file\n"
	       "changes, a fresh copy resumes from that checkpoint.\n\n"
	       "  -f, --filter PATTERN    watch paths matching this Lua pattern (repeatable,\n"
	       "                          ';' separates several); default: files under the\n"
	       "                          current directory                [FORKMON_FILTER]\n"
	       "  -i, --ignore PATTERN    never watch paths matching it    [FORKMON_IGNORE]\n"
	       "      --no-default-ignores  watch VCS directories (.git...), tools' caches\n"
	       "                          (__pycache__...) and editors' swap and backup\n"
	       "                          files too          [FORKMON_NO_DEFAULT_IGNORES]\n"
	       "  -q, --quiet             no status lines                  [FORKMON_QUIET]\n"
	       "  -d, --delay MS          a fixed quiet window after a save; default:\n"
	       "                          adaptive (0, wider once saves of several files\n"
	       "                          are seen)                        [FORKMON_DELAY]\n"
	       "  -e, --every             a checkpoint at every watched read, not spaced by\n"
	       "                          cost                             [FORKMON_EVERY]\n"
	       "  -c, --clear             clear the terminal before each new copy runs\n"
	       "                                                           [FORKMON_CLEAR]\n"
	       "  -E, --events FILE       write every event as a JSON line to FILE\n"
	       "                                                           [FORKMON_EVENTS]\n"
	       "  -g, --grace MS          SIGTERM to SIGKILL when replacing a copy (1000)\n"
	       "  -m, --max-checkpoints N at most N checkpoints alive (512)\n"
	       "  -h, --help              this help\n\n"
	       "No colours with NO_COLOR or FORKMON_NO_COLORS set.\n",
	       usage_line);
}

static int env_flag(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

static long parse_num(const char *s, const char *what, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max) {
		char buf[256];
		snprintf(buf, sizeof buf, "invalid %s '%%s' (a whole number from 0 to %ld)", what, max);
		usage_error(buf, s);
	}
	return v;
}

static void add_patterns(struct filter *f, const char *spec)
{
	char err[1024];
	if (filter_add(f, spec, err, sizeof err) < 0) {
		out_error("%s", err);
		fail(2);
	}
}

/* The default filter: files under the current directory. A directory that is gone (or
 * unreadable) has no files to watch, but the program runs as it would directly: say so
 * and watch nothing by default. */
static void add_default_filter(struct filter *f)
{
	char cwd[PATH_MAX], q[2 * PATH_MAX + 8], pat[2 * PATH_MAX + 16];
	if (!getcwd(cwd, sizeof cwd)) {
		out_error("cannot read the current directory (%s): nothing is watched by default",
			  errno == ENOENT ? "it was deleted" : strerror(errno));
		return;
	}
	filter_quote(strcmp(cwd, "/") ? cwd : "", q, sizeof q);
	snprintf(pat, sizeof pat, "^%s/", q);
	add_patterns(f, pat);
}

/* --no-default-ignores (or its variable) was given. */
static int no_default_ignores;

/* The default ignores (filters/defaults.h), unless turned off. */
static void add_default_ignores(struct monitor_opts *o)
{
	if (!no_default_ignores)
		add_patterns(o->ignore, filter_default_ignores());
}

/* Options common to both modes, from the environment. */
static void opts_from_env(struct monitor_opts *o)
{
	o->quiet = env_flag("FORKMON_QUIET");
	o->every = env_flag("FORKMON_EVERY");
	o->clear = env_flag("FORKMON_CLEAR");
	no_default_ignores = !filter_default_ignores_wanted();
	o->delay_ns = -1; /* adaptive, unless -d or FORKMON_DELAY fix it */
	o->grace_ns = 1000000000;
	o->max_checkpoints = 512;
	const char *d = getenv("FORKMON_DELAY");
	if (d && *d)
		o->delay_ns = parse_num(d, "FORKMON_DELAY", 600000) * 1000000;
	const char *ig = getenv("FORKMON_IGNORE");
	if (ig && *ig)
		add_patterns(o->ignore, ig);
	const char *f = getenv("FORKMON_FILTER");
	if (f && *f && o->listen_fd >= 0)
		add_patterns(o->filter, f); /* bare mode; forkmon run: only without -f */
}

/* forkmon run's options into o (patterns, -E into *events). Returns how many -f came,
 * or -1 when --help was asked (and given). Bad usage does not return. */
static int run_options(int argc, char **argv, struct monitor_opts *o, const char **events)
{
	static const struct option longs[] = {
		{"filter", required_argument, 0, 'f'}, {"ignore", required_argument, 0, 'i'},
		{"quiet", no_argument, 0, 'q'},        {"delay", required_argument, 0, 'd'},
		{"every", no_argument, 0, 'e'},        {"grace", required_argument, 0, 'g'},
		{"max-checkpoints", required_argument, 0, 'm'},
		{"clear", no_argument, 0, 'c'},        {"events", required_argument, 0, 'E'},
		{"help", no_argument, 0, 'h'},         {"no-default-ignores", no_argument, 0, 'I'},
		{0, 0, 0, 0},
	};
	int nfilters = 0, c, before;
	char why[256];
	opterr = 0;
	optind = 1;
	while ((before = optind, c = getopt_long(argc, argv, "+:f:i:qd:eg:m:hcE:", longs, NULL)) != -1) {
		switch (c) {
		case 'f':
			add_patterns(o->filter, optarg);
			nfilters++;
			break;
		case 'i':
			add_patterns(o->ignore, optarg);
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'd':
			o->delay_ns = parse_num(optarg, "delay", 600000) * 1000000;
			break;
		case 'e':
			o->every = 1;
			break;
		case 'g':
			o->grace_ns = parse_num(optarg, "grace", 600000) * 1000000;
			break;
		case 'm':
			o->max_checkpoints = (int)parse_num(optarg, "checkpoint count", 100000);
			break;
		case 'h':
			help_run();
			return -1;
		case 'c':
			o->clear = 1;
			break;
		case 'E':
			*events = optarg;
			break;
		case 'I': /* long only: not in the short options */
			no_default_ignores = 1;
			break;
		default: /* '?', ':' */
			optname_fault(c, argv, before, longs, why, sizeof why);
			usage_error("%s", why);
		}
	}
	return nfilters;
}

/* A run that ends before its session starts (help, no hook, a bad events file): its
 * filters go with it. */
static int cmd_run_end(struct monitor_opts *o, int status)
{
	filter_free(o->filter);
	filter_free(o->ignore);
	return status;
}

static int cmd_run(int argc, char **argv)
{
	struct monitor_opts o = {.listen_fd = -1, .serve_fd = -1};
	o.filter = filter_new();
	o.ignore = filter_new();
	if (!o.filter || !o.ignore) {
		out_error("cannot start Lua");
		return cmd_run_end(&o, 1);
	}
	out_init(env_flag("FORKMON_QUIET"));
	opts_from_env(&o);
	const char *events = getenv("FORKMON_EVENTS");
	int nfilters = run_options(argc, argv, &o, &events);
	if (nfilters < 0)
		return cmd_run_end(&o, 0);
	if (optind >= argc)
		usage_error("%s", "no command given");
	if (!nfilters) {
		const char *f = getenv("FORKMON_FILTER");
		if (f && *f)
			add_patterns(o.filter, f);
	}
	if (filter_count(o.filter) == 0)
		add_default_filter(o.filter);
	add_default_ignores(&o);
	o.argv = argv + optind;
	char why[PATH_MAX + 128];
	o.hook = sibling_hook(why, sizeof why);
	if (!o.hook) {
		out_error("%s", why);
		return cmd_run_end(&o, 1);
	}
	out_init(o.quiet);
	if (events && *events && out_events_open(events) < 0) {
		out_error("cannot write events to '%s': %s", events, strerror(errno));
		return cmd_run_end(&o, 2);
	}
	guard_start(); /* from here on, the monitor (the guard stays behind, see guard.c) */
	monitor_run(&o);
}

/* forkmon --bare LISTEN_FD FIRST_RUN EXE PRELOAD -- ARGV... (from the hook) */
static int cmd_bare(int argc, char **argv)
{
	if (argc < 7 || strcmp(argv[6], "--") != 0) {
		out_error("--bare is internal to forkmon's hook");
		return 2;
	}
	struct monitor_opts o = {.serve_fd = -1};
	o.listen_fd = atoi(argv[2]);
	o.first_run = (pid_t)atoi(argv[3]);
	o.exe = argv[4];
	o.preload = argv[5];
	o.argv = argv + 7;
	out_init(env_flag("FORKMON_QUIET"));
	bare_child = o.first_run;
	o.filter = filter_new();
	o.ignore = filter_new();
	if (!o.filter || !o.ignore || o.first_run <= 0 || !o.argv[0] || o.listen_fd < 0) {
		out_error("cannot start the session");
		fail(1);
	}
	/* A bad pattern is said, and the program (waiting for our go) never runs. */
	opts_from_env(&o);
	const char *events = getenv("FORKMON_EVENTS");
	if (events && *events && out_events_open(events) < 0) {
		out_error("cannot write events to '%s': %s", events, strerror(errno));
		fail(2);
	}
	bare_child = 0;
	if (filter_count(o.filter) == 0)
		add_default_filter(o.filter);
	add_default_ignores(&o);
	monitor_run(&o);
}

/* forkmon client ...: forkmon-client, beside us (build/) or in PREFIX/bin. */
static int cmd_client(char **argv)
{
	char exe[PATH_MAX];
	if (sibling_path("forkmon-client", exe, sizeof exe) < 0 || access(exe, X_OK) < 0)
		sibling_path("../../bin/forkmon-client", exe, sizeof exe);
	argv[0] = "forkmon-client"; /* the name it goes by: not a masquerade */
	execv(exe, argv);
	out_error("cannot run '%s': %s", exe, strerror(errno));
	return 126;
}

/* forkmon --bare-probe FD (from the hook, before bare mode commits to us): says on FD
 * that this is a monitor of this protocol (the line the hook expects: hook/start.c). */
static int main_probe(const char *fd)
{
	char line[64];
	int n = snprintf(line, sizeof line, "forkmon monitor %d\n", FM_VERSION);
	return write(atoi(fd), line, (size_t)n) == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	/* Before any descriptor of ours exists: none of them may be 0-2 (common/stdfds.h). */
	if (stdfds_occupy() < 0) {
		static const char msg[] = "forkmon: cannot open /dev/null for the closed standard descriptors\n";
		ssize_t w = write(2, msg, sizeof msg - 1);
		(void)w;
		return 1;
	}
	out_init(0);
	if (argc == 3 && strcmp(argv[1], "--bare-probe") == 0)
		return main_probe(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "--bare") == 0)
		return cmd_bare(argc, argv);
	if (argc < 2)
		usage_error("%s", "no subcommand given");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		help_main();
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("forkmon %s\n", FORKMON_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "helper") == 0)
		return helper_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "client") == 0)
		return cmd_client(argv + 1);
	if (argv[1][0] == '-')
		usage_error("unknown option '%s' (options go after the subcommand: forkmon run -q ...)", argv[1]);
	usage_error("unknown subcommand '%s' (run, helper, client)", argv[1]);
	return 2;
}
