/*
 * exec.c - a capture survives exec(): the exec family is hooked (glibc's
 * exec functions call execve internally, where no hook sees it), and
 * before the process becomes another program the last round is written
 * with a capture that ENDs with "ended_by: exec PATH".  When the exec
 * fails, that ending is taken back and tracking goes on.  A child of
 * vfork() (pid not the tracked one) and a child that does not follow its
 * parent end nothing.
 *
 * The new program is not tracked (LD_PRELOAD was taken out of the
 * environment at start-up), unless --follow-exec: then memtide's
 * variables are put back into the environment the new program gets, and
 * only there (posix_spawn too), so it writes a capture of its own and
 * the program that starts it sees the environment it set.  This may run
 * in a child of vfork(): nothing here allocates, the new environment is
 * on the stack.
 */

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregate.h"
#include "tracker.h"

#define EXPORT __attribute__((visibility("default")))

/* What memtide sets in a tracked program's environment (session.c reads
 * and removes them); a program's own values of these are replaced. */
static const char *const ours[] = {
	"LD_PRELOAD=", "MEMTIDE_LD_PRELOAD=", "MEMTIDE_ROOT_OUTPUT=", "MEMTIDE_SESSION=",
	"MEMTIDE_PYDIR=", "MEMTIDE_NATIVE=", "MEMTIDE_FOLLOW_FORK=", "MEMTIDE_FOLLOW_EXEC=",
	"MEMTIDE_TRACE_PYTHON=", "MEMTIDE_STATUS_FD=", "MEMTIDE_AGGREGATE=", "MEMTIDE_SAMPLE_RATE=",
};
#define NOURS (sizeof(ours) / sizeof(ours[0]))

static int is_ours(const char *e)
{
	for (size_t i = 0; i < NOURS; i++)
		if (!strncmp(e, ours[i], strlen(ours[i])))
			return 1;
	return 0;
}

static const char *env_value(char *const envp[], const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], key, n) && envp[i][n] == '=')
			return envp[i] + n + 1;
	return NULL;
}

/*
 * Whether the program started with envp is to be tracked: --follow-exec,
 * and nothing else (a memtide run inside the program) set it up.
 */
static const struct mt_exec_config *follows(char *const envp[])
{
	const struct mt_exec_config *cfg = mt_exec_config();

	return cfg && envp && !env_value(envp, "MEMTIDE_OUTPUT") ? cfg : NULL;
}

static size_t env_count(char *const envp[])
{
	size_t n = 0;

	while (envp[n])
		n++;
	return n;
}

/* The bytes the added variables take at most. */
static size_t env_bytes(const struct mt_exec_config *cfg, char *const envp[])
{
	const char *pre = env_value(envp, "LD_PRELOAD");

	return 512 + strlen(cfg->lib) + 2 * (pre ? strlen(pre) : 0) + strlen(cfg->root) +
		strlen(cfg->session) + strlen(cfg->pydir);
}

/* Appends the concatenation of the strings up to NULL to buf at *at;
 * returns where it starts. */
static char *put(char *buf, size_t *at, ...)
{
	char *s = buf + *at;
	const char *part;
	va_list ap;

	va_start(ap, at);
	while ((part = va_arg(ap, const char *))) {
		size_t k = strlen(part);

		memcpy(buf + *at, part, k);
		*at += k;
	}
	va_end(ap);
	buf[(*at)++] = '\0';
	return s;
}

/*
 * The environment of a program that is tracked too: envp without
 * memtide's variables, then memtide's, in env (env_count(envp) + NOURS + 1
 * entries) and buf (env_bytes()).
 */
static char *const *child_env(const struct mt_exec_config *cfg, char *const envp[],
			      char **env, char *buf)
{
	const char *pre = env_value(envp, "LD_PRELOAD");
	size_t n = 0, at = 0;
	char rate[24], *r = rate + sizeof(rate);
	uint64_t v = cfg->sample_rate;

	*--r = '\0';
	do
		*--r = (char)('0' + v % 10);
	while ((v /= 10));

	for (size_t i = 0; envp[i]; i++)
		if (!is_ours(envp[i]))
			env[n++] = envp[i];
	if (pre && *pre) {
		env[n++] = put(buf, &at, "LD_PRELOAD=", cfg->lib, ":", pre, NULL);
		env[n++] = put(buf, &at, "MEMTIDE_LD_PRELOAD=", pre, NULL);
	} else {
		env[n++] = put(buf, &at, "LD_PRELOAD=", cfg->lib, NULL);
	}
	env[n++] = put(buf, &at, "MEMTIDE_ROOT_OUTPUT=", cfg->root, NULL);
	env[n++] = put(buf, &at, "MEMTIDE_SESSION=", cfg->session, NULL);
	env[n++] = put(buf, &at, "MEMTIDE_PYDIR=", cfg->pydir, NULL);
	env[n++] = put(buf, &at, "MEMTIDE_NATIVE=",
		       strcmp(cfg->follow, "native") ? "auto" : "1", NULL);
	env[n++] = put(buf, &at, "MEMTIDE_FOLLOW_FORK=", cfg->follow_fork ? "1" : "0", NULL);
	env[n++] = put(buf, &at, "MEMTIDE_FOLLOW_EXEC=", cfg->follow, NULL);
	env[n++] = put(buf, &at, "MEMTIDE_TRACE_PYTHON=", cfg->trace_python ? "1" : "0", NULL);
	env[n++] = put(buf, &at, "MEMTIDE_AGGREGATE=", mt_agg_on ? "1" : "0", NULL);
	env[n++] = put(buf, &at, "MEMTIDE_SAMPLE_RATE=", r, NULL);
	env[n] = NULL;
	return env;
}

/*
 * Declares ENV: envp, or with --follow-exec the environment that tracks
 * the new program too (on this stack frame).
 */
#define CHILD_ENV(ENV, envp)						\
	const struct mt_exec_config *cfg_ = follows(envp);		\
	size_t n_ = cfg_ ? env_count(envp) + NOURS + 1 : 1;		\
	size_t len_ = cfg_ ? env_bytes(cfg_, envp) : 1;			\
	char *env_[n_];							\
	char buf_[len_];						\
	char *const *ENV = cfg_ ? child_env(cfg_, envp, env_, buf_) : (envp)

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
	CHILD_ENV(env, envp);
	EXEC(path, REAL(execve)(path, argv, env));
}

static int hook_execv(const char *path, char *const argv[])
{
	return hook_execve(path, argv, environ);
}

static int hook_execvpe(const char *file, char *const argv[], char *const envp[])
{
	CHILD_ENV(env, envp);
	EXEC(file, REAL(execvpe)(file, argv, env));
}

static int hook_execvp(const char *file, char *const argv[])
{
	return hook_execvpe(file, argv, environ);
}

static int hook_execveat(int dirfd, const char *path, char *const argv[],
			 char *const envp[], int flags)
{
	CHILD_ENV(env, envp);
	EXEC(path, REAL(execveat)(dirfd, path, argv, env, flags));
}

static int hook_fexecve(int fd, char *const argv[], char *const envp[])
{
	char link[64], path[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	CHILD_ENV(env, envp);
	EXEC(n > 0 ? path : link, REAL(fexecve)(fd, argv, env));
}

/* posix_spawn runs the new program from a clone of its own, where no hook
 * sees the exec: its environment is given here. */
static int hook_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	CHILD_ENV(env, envp);
	return REAL(posix_spawn)(pid, path, fa, attr, argv, env);
}

static int hook_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	CHILD_ENV(env, envp);
	return REAL(posix_spawnp)(pid, file, fa, attr, argv, env);
}

/*
 * system() and popen() start the shell with posix_spawn inside glibc,
 * with the process's environ, where no hook sees it.  With --follow-exec
 * they run with an environ that tracks the shell too, swapped in for the
 * length of the calls (counted: calls may overlap in threads) and put
 * back unless the program changed it meanwhile.  Another thread reading
 * the environment then sees memtide's variables too, so a copy is never
 * unmapped; it is kept for the next call while environ is the same.
 */
static pthread_mutex_t swap_lock = PTHREAD_MUTEX_INITIALIZER;
static char **swapped_from, **swapped_to;	/* environ: the program's, ours */
static int swap_users;

/* An environ tracking what it starts, for the current one: cached. */
static char **tracking_environ(const struct mt_exec_config *cfg)
{
	static char **from, **made;
	static uint64_t from_sum;
	uint64_t sum = 1469598103934665603ull;	/* FNV-1a of the entries */
	size_t n, room, len, size;
	char **env;

	for (size_t i = 0; environ[i]; i++)
		for (const char *c = environ[i]; ; c++) {
			sum = (sum ^ (unsigned char)*c) * 1099511628211ull;
			if (!*c)
				break;
		}
	if (made && from == environ && from_sum == sum)
		return made;
	n = env_count(environ) + NOURS + 1;
	room = env_bytes(cfg, environ);	/* memtide's variables */
	len = room;
	for (size_t i = 0; environ[i]; i++)
		len += strlen(environ[i]) + 1;
	size = n * sizeof(char *) + len;
	env = mt_raw_alloc(size);
	if (!env)
		return NULL;
	/* the program's strings are copied: it may free them meanwhile */
	char *strings = (char *)(env + n), *at = strings + room;
	char *copy[n];

	n = 0;
	for (size_t i = 0; environ[i]; i++, n++) {
		copy[n] = at;
		at = stpcpy(at, environ[i]) + 1;
	}
	copy[n] = NULL;
	child_env(cfg, copy, env, strings);
	from = environ;
	from_sum = sum;
	made = env;
	return env;
}

static void swap_in(const struct mt_exec_config *cfg)
{
	pthread_mutex_lock(&swap_lock);
	if (!swap_users) {
		char **env = tracking_environ(cfg);

		if (env) {
			swapped_from = environ;
			swapped_to = environ = env;
			swap_users = 1;
		}
	} else {
		swap_users++;
	}
	pthread_mutex_unlock(&swap_lock);
}

static void swap_out(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&swap_lock);
	if (swap_users && !--swap_users && environ == swapped_to)
		environ = swapped_from;
	pthread_mutex_unlock(&swap_lock);
}

/* stmt, with the tracking environ when cfg (also if the thread is
 * cancelled in it: both are cancellation points); errno as it left it. */
#define WITH_TRACKING_ENVIRON(cfg, stmt)				\
	do {								\
		int err_;						\
		swap_in(cfg);						\
		pthread_cleanup_push(swap_out, NULL);			\
		stmt;							\
		err_ = errno;						\
		pthread_cleanup_pop(1);					\
		errno = err_;						\
	} while (0)

static int hook_system(const char *cmd)
{
	const struct mt_exec_config *cfg = cmd ? follows(environ) : NULL;
	int rc;

	if (!cfg)
		return REAL(system)(cmd);
	WITH_TRACKING_ENVIRON(cfg, rc = REAL(system)(cmd));
	return rc;
}

static FILE *hook_popen(const char *cmd, const char *mode)
{
	const struct mt_exec_config *cfg = follows(environ);
	FILE *f;

	if (!cfg)
		return REAL(popen)(cmd, mode);
	WITH_TRACKING_ENVIRON(cfg, f = REAL(popen)(cmd, mode));
	return f;
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
ALIAS(int, system, (const char *));
ALIAS(FILE *, popen, (const char *, const char *));
ALIAS(int, posix_spawn, (pid_t *, const char *, const posix_spawn_file_actions_t *,
			 const posix_spawnattr_t *, char *const[], char *const[]));
ALIAS(int, posix_spawnp, (pid_t *, const char *, const posix_spawn_file_actions_t *,
			  const posix_spawnattr_t *, char *const[], char *const[]));
