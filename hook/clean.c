/*
 * hook/clean.c — what keeps a helper session's checkpoints clean (FM_CFG_SERVE). Runs
 * inside the user's program: the taint flags in its interposers (interpose.c), the rest
 * in a checkpoint (ckpt.c, resume.c) and in the run resumed from it.
 *
 * A checkpoint of a helper session serves later clients, each a new call with its own
 * streams: so it holds none of the descriptors of the client whose run it was taken from
 * (a `$(...)` or `| cat` of that client would wait for them until the session ends), and
 * it is taken only before the run did something a later call would not see again:
 * read its stdin (the bytes are gone), changed the terminal's modes (the next call's
 * terminal is not in them), drew from the kernel's randomness (every copy would print
 * the same "random" value). CPython is the exception for randomness: it draws its hash
 * seed before running anything, and a copy runs its after-fork handlers (clean_after_fork),
 * which reseed `random` as after os.fork().
 *
 * A helper's copy of CPython also freezes the objects it inherited (gc.freeze(), what
 * Python's documentation advises in a child of fork()): its cyclic collections, the last
 * one at exit included, then do not write into every inherited object's header, which
 * copies every page of the checkpoint's heap (a whole Python call with heavy imports:
 * 35 -> 21 ms here). What remains: a reference cycle among inherited objects that becomes
 * garbage during the call is not collected by that call (README, "Helper").
 */
#include "hook.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

volatile sig_atomic_t clean_stdin, clean_tty, clean_random, clean_armed;

/* Descriptors other than 0-2 that were copies of them (dup(1)...), in the checkpoint. */
static struct {
	int fd, std, cloexec;
} clean_alias[32];
static int clean_nalias;

typedef void (*clean_void_fn)(void);
typedef int (*clean_int_fn)(void);
typedef void (*clean_release_fn)(int);
typedef void *(*clean_import_fn)(const char *);
typedef void *(*clean_call_fn)(void *, const char *, const char *, ...);
typedef void (*clean_decref_fn)(void *);
typedef void (*clean_fetch_fn)(void **, void **, void **);
typedef void (*clean_restore_fn)(void *, void *, void *);

/* The interpreter's own after-fork support (CPython), when the program has it. */
static int clean_has_python_afterfork(void)
{
	static int known = -1; /* looked up once: the symbols do not come and go */
	if (known < 0)
		known = dlsym(RTLD_DEFAULT, "PyOS_AfterFork_Child") && dlsym(RTLD_DEFAULT, "PyGILState_Ensure") &&
	        dlsym(RTLD_DEFAULT, "PyGILState_Release") && dlsym(RTLD_DEFAULT, "Py_IsInitialized");
	return known;
}

int clean_ok(void)
{
	clean_armed = 1; /* from the first watched read on, randomness drawn counts */
	if (clean_stdin || clean_tty)
		return 0;
	/* stdio's own reads of stdin (getc, fgets, scanf) are libc-internal calls no
	 * interposer sees; a read fills the stream's buffer or meets its end (glibc's
	 * FILE: setvbuf alone leaves the read area empty) */
	if (stdin && (stdin->_IO_read_end != stdin->_IO_read_base || (stdin->_flags & 0x10 /* EOF seen */)))
		return 0;
	return !clean_random || clean_has_python_afterfork();
}

/* Is fd the same open file as one of 0-2 (st: theirs)? Its index, or -1. */
static int clean_std_of(int fd, const struct stat *st)
{
	struct stat s;
	if (fstat(fd, &s) < 0)
		return -1;
	for (int i = 0; i < 3; i++)
		if (st[i].st_ino && s.st_dev == st[i].st_dev && s.st_ino == st[i].st_ino && s.st_mode == st[i].st_mode)
			return i;
	return -1;
}

/* The checkpoint's descriptors that are the run's fds 0-2 (by /proc/self/fd). */
static void clean_find_aliases(const struct stat *st)
{
	int dir = real_raw_open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		return;
	char buf[4096];
	long n;
	clean_nalias = 0;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			int fd = 0;
			const char *c = d->d_name;
			for (; *c >= '0' && *c <= '9'; c++)
				fd = fd * 10 + (*c - '0');
			if (*c || c == d->d_name || fd <= 2 || fd == dir || clean_nalias >= 32)
				continue;
			int k = clean_std_of(fd, st);
			if (k < 0)
				continue;
			int fl = fcntl(fd, F_GETFD);
			clean_alias[clean_nalias].fd = fd;
			clean_alias[clean_nalias].std = k;
			clean_alias[clean_nalias++].cloexec = fl >= 0 && (fl & FD_CLOEXEC);
		}
	}
	close(dir);
}

void clean_checkpoint_fds(void)
{
	struct stat st[3];
	memset(st, 0, sizeof st);
	for (int i = 0; i < 3; i++)
		if (fstat(i, &st[i]) < 0)
			st[i].st_ino = 0;
	clean_find_aliases(st);
	int null = real_raw_open("/dev/null", O_RDWR);
	if (null < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (st[i].st_ino)
			dup3(null, i, 0);
	for (int i = 0; i < clean_nalias; i++)
		dup3(null, clean_alias[i].fd, clean_alias[i].cloexec ? O_CLOEXEC : 0);
	close(null);
}

void clean_client_fds(const int *std)
{
	for (int i = 0; i < clean_nalias; i++)
		if (dup3(std[clean_alias[i].std], clean_alias[i].fd, clean_alias[i].cloexec ? O_CLOEXEC : 0) < 0)
			_exit(126);
}

/* gc.freeze() through the C API (the GIL held); an error is cleared, not raised later in
 * the program's own code. */
static void clean_python_freeze(void)
{
	clean_import_fn import = (clean_import_fn)dlsym(RTLD_DEFAULT, "PyImport_ImportModule");
	clean_call_fn call = (clean_call_fn)dlsym(RTLD_DEFAULT, "PyObject_CallMethod");
	clean_decref_fn decref = (clean_decref_fn)dlsym(RTLD_DEFAULT, "Py_DecRef");
	clean_void_fn clear = (clean_void_fn)dlsym(RTLD_DEFAULT, "PyErr_Clear");
	clean_fetch_fn fetch = (clean_fetch_fn)dlsym(RTLD_DEFAULT, "PyErr_Fetch");
	clean_restore_fn restore = (clean_restore_fn)dlsym(RTLD_DEFAULT, "PyErr_Restore");
	if (!import || !call || !decref || !clear || !fetch || !restore)
		return;
	void *type, *value, *tb; /* an exception pending in the thread stays as it was */
	fetch(&type, &value, &tb);
	void *gc = import("gc");
	void *r = gc ? call(gc, "freeze", NULL) : NULL;
	if (r)
		decref(r);
	else
		clear();
	if (gc)
		decref(gc);
	restore(type, value, tb);
}

void clean_after_fork(void)
{
	if (!clean_has_python_afterfork())
		return;
	clean_int_fn initialized = (clean_int_fn)dlsym(RTLD_DEFAULT, "Py_IsInitialized");
	clean_int_fn ensure = (clean_int_fn)dlsym(RTLD_DEFAULT, "PyGILState_Ensure");
	clean_release_fn release = (clean_release_fn)dlsym(RTLD_DEFAULT, "PyGILState_Release");
	clean_void_fn after = (clean_void_fn)dlsym(RTLD_DEFAULT, "PyOS_AfterFork_Child");
	if (!initialized())
		return;
	/* The thread that opened the file may have let go of the GIL around open(): take
	 * it, as a thread calling into Python from C does; the after-fork reinitialisation
	 * leaves it held by this thread, and the release gives it back as it was. */
	int g = ensure();
	after();
	if (hk.cfg.flags & FM_CFG_SERVE)
		clean_python_freeze();
	release(g);
}
