# forkmon — build, test, demo, bench, install.
#
#   make            build/forkmonhook.so (runs inside the program: libc only)
#                   build/forkmon        (the monitor and CLI: Lua, libinotifytools)
#   make check      every test (one Check runner, one summary line)
#   make demo       a real program resumed from the middle, then exits
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
B := build

# Dependencies come from Debian; install them when missing (apt-get, sudo when not root).
DEPS_STAMP := $(B)/.deps
PKGS := lua5.4 check

CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -Wshadow -Wstrict-prototypes
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Ihook -Ifilters -Iwatcher -Iclient

HOOK_SRC := hook/hook.c hook/path.c
HOOK_CFLAGS := $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -fno-stack-protector \
	-ftls-model=initial-exec
MON_SRC := watcher/main.c watcher/monitor.c watcher/policy.c watcher/debounce.c \
	watcher/inotify.c watcher/proc.c watcher/out.c watcher/helper.c filters/filter.c \
	hook/path.c client/paths.c
CLIENT_SRC := client/client.c client/paths.c
MON_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(MON_SRC))
LIB_OBJ := $(filter-out $(B)/obj/watcher/main.o,$(MON_OBJ))
TEST_SRC := $(wildcard tests/*.c)
TEST_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(TEST_SRC))
TEST_PROGS := $(patsubst tests/progs/%.c,$(B)/progs/%,$(wildcard tests/progs/*.c)) $(B)/progs/reader32

all: $(B)/forkmonhook.so $(B)/forkmon $(B)/forkmon-client

$(DEPS_STAMP): scripts/install-deps
	@mkdir -p $(B)
	@scripts/install-deps
	@touch $@

deps: $(DEPS_STAMP)

# pkg-config is evaluated lazily, after the dependencies are installed.
MON_CFLAGS = $(CFLAGS) $(WARN) $(shell pkg-config --cflags lua5.4 jansson 2>/dev/null) -pthread
MON_LIBS = $(shell pkg-config --libs lua5.4 jansson 2>/dev/null) -linotifytools -pthread
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

$(B)/forkmonhook.so: $(HOOK_SRC) hook/path.h include/forkmon_proto.h include/fm_fdpass.h | $(DEPS_STAMP)
	@mkdir -p $(B)
	$(CC) $(CPPFLAGS) $(HOOK_CFLAGS) -shared -Wl,-z,defs -Wl,--version-script=hook/exports.map \
		-o $@ $(HOOK_SRC) -ldl

$(B)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(MON_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/forkmon: $(MON_OBJ)
	$(CC) -o $@ $(MON_OBJ) $(MON_LIBS)

# The helper's client: small and quick to start (libc only).
$(B)/forkmon-client: $(CLIENT_SRC) client/paths.h include/forkmon_proto.h include/fm_fdpass.h | $(DEPS_STAMP)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $(CLIENT_SRC)

# Test programs, built the way distributions build C: -O2, fortified, 64-bit offsets
# (open → __open64_2); the *32 variants keep 32-bit offsets (open → __open_2).
$(B)/progs/%: tests/progs/%.c | $(DEPS_STAMP)
	@mkdir -p $(B)/progs
	$(CC) -D_GNU_SOURCE -O2 -D_FILE_OFFSET_BITS=64 -D_FORTIFY_SOURCE=2 -Wall -o $@ $< -pthread
$(B)/progs/%32: tests/progs/%.c | $(DEPS_STAMP)
	@mkdir -p $(B)/progs
	$(CC) -D_GNU_SOURCE -O2 -D_FORTIFY_SOURCE=2 -Wall -o $@ $< -pthread

$(B)/forkmon-tests: $(TEST_OBJ) $(LIB_OBJ)
	$(CC) -o $@ $(TEST_OBJ) $(LIB_OBJ) $(MON_LIBS) $(CHECK_LIBS)

check: all $(B)/forkmon-tests $(TEST_PROGS)
	@cd $(B) && FORKMON_TOP=$(CURDIR) ./forkmon-tests

demo: all
	@scripts/demo

# Performance, side by side with the baselines (not part of check): bench/results.md
bench: all
	@bench/run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/forkmon
	install -m 755 $(B)/forkmon $(DESTDIR)$(PREFIX)/lib/forkmon/forkmon
	install -m 644 $(B)/forkmonhook.so $(DESTDIR)$(PREFIX)/lib/forkmon/forkmonhook.so
	install -m 755 scripts/forkmon $(DESTDIR)$(PREFIX)/bin/forkmon
	install -m 755 $(B)/forkmon-client $(DESTDIR)$(PREFIX)/bin/forkmon-client
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 forkmon.1 $(DESTDIR)$(PREFIX)/share/man/man1/forkmon.1

clean:
	rm -rf $(B)

.PHONY: all deps check demo bench install clean
-include $(MON_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
