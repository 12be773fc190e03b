/*
 * exec.c - a capture survives exec(): the exec family is hooked (glibc's
 * exec functions call execve internally, where no hook sees it), and
 * before the process becomes another program the last round is written
 * with a capture that ENDs with "ended_by: exec PATH".  The new program
 * is not tracked (LD_PRELOAD was taken out of the environment at
 * start-up).  When the exec fails, that ending is taken back and
 * tracking goes on.  A child of vfork() (pid not the tracked one) and a
 * child that does not follow its parent pass straight through.
 */

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tracker.h"

#define EXPORT __attribute__((visibility("default")))

#define REAL(name) ({ static __typeof__(&name) fn_; if (!fn_) *(void **)&fn_ = dlsym(RTLD_NEXT, #name); fn_; })

/* The capture's end before an exec of what; 0 when nothing was ended. */
static int before(const char *what, int64_t *mark)
{
	char why[4200];
	int in = mt_in_hook;

	if (mt_in_hook || !mt_tracker_owner())
		return 0;
	snprintf(why, sizeof(why), "exec %s", what);
	mt_in_hook = 1;
	*mark = mt_tracker_end(why, 0);
	mt_in_hook = in;
	return 1;
}

/* The exec failed: the process goes on, tracked. */
static int after(int ended, int64_t mark, int rc)
{
	int err = errno;

	if (ended) {
		mt_in_hook = 1;
		mt_tracker_unend(mark);
		mt_in_hook = 0;
	}
	errno = err;
	return rc;
}

#define EXEC(what, call)					\
	do {							\
		int64_t mark_ = -1;				\
		int ended_ = before(what, &mark_);		\
		return after(ended_, mark_, call);		\
	} while (0)

static int hook_execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC(path, REAL(execve)(path, argv, envp));
}

static int hook_execv(const char *path, char *const argv[])
{
	EXEC(path, REAL(execv)(path, argv));
}

static int hook_execvp(const char *file, char *const argv[])
{
	EXEC(file, REAL(execvp)(file, argv));
}

static int hook_execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC(file, REAL(execvpe)(file, argv, envp));
}

static int hook_execveat(int dirfd, const char *path, char *const argv[],
			 char *const envp[], int flags)
{
	EXEC(path, REAL(execveat)(dirfd, path, argv, envp, flags));
}

static int hook_fexecve(int fd, char *const argv[], char *const envp[])
{
	char link[64], path[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	EXEC(n > 0 ? path : link, REAL(fexecve)(fd, argv, envp));
}

/* execl, execle, execlp: their arguments into an argv on the stack. */
#define COLLECT(arg, ap, argv)						\
	size_t n_ = 1;							\
	va_start(ap, arg);						\
	while (va_arg(ap, char *))					\
		n_++;							\
	va_end(ap);							\
	char *argv[n_ + 1];						\
	va_start(ap, arg);						\
	argv[0] = (char *)arg;						\
	for (size_t i_ = 1; i_ <= n_; i_++)				\
		argv[i_] = va_arg(ap, char *);

static int hook_execl(const char *path, const char *arg, ...)
{
	va_list ap;
	COLLECT(arg, ap, argv);
	va_end(ap);
	return hook_execv(path, argv);
}

static int hook_execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	COLLECT(arg, ap, argv);
	va_end(ap);
	return hook_execvp(file, argv);
}

static int hook_execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char *const *envp;
	COLLECT(arg, ap, argv);
	envp = va_arg(ap, char *const *);
	va_end(ap);
	return hook_execve(path, argv, envp);
}

#define ALIAS(type, name, args) EXPORT type name args __attribute__((alias("hook_" #name)))
ALIAS(int, execve, (const char *, char *const[], char *const[]));
ALIAS(int, execv, (const char *, char *const[]));
ALIAS(int, execvp, (const char *, char *const[]));
ALIAS(int, execvpe, (const char *, char *const[], char *const[]));
ALIAS(int, execveat, (int, const char *, char *const[], char *const[], int));
ALIAS(int, fexecve, (int, char *const[], char *const[]));
ALIAS(int, execl, (const char *, const char *, ...));
ALIAS(int, execlp, (const char *, const char *, ...));
ALIAS(int, execle, (const char *, const char *, ...));
