/*
 * cmd_run.c - `memtide run`: starts the program with libmemtide.so
 * preloaded, waits for it, and then says where the capture went.  The
 * program keeps its own stdin/stdout/stderr, environment (memtide's
 * variables are removed again inside it) and exit status; when it is
 * killed by a signal, memtide dies of the same signal.  The tracker tells
 * it through a pipe (MEMTIDE_STATUS_FD) when writing the capture failed,
 * so that it says so instead of "capture written".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "../report/output.h"

static const char usage_text[] =
	"usage: memtide run [options] script.py [args...]\n"
	"       memtide run [options] -m module [args...]\n"
	"       memtide run [options] -c code [args...]\n"
	"       memtide run [options] program [args...]\n"
	"\n"
	"Runs a Python script or any native program and records every allocation\n"
	"(malloc and friends, mmap) with the stack that made it.\n"
	"\n"
	"  -o, --output FILE   capture file (default: memtide-<program>.<pid>.tide)\n"
	"  -f, --force         overwrite an existing capture file\n"
	"  -q, --quiet         say nothing when the program ends\n"
	"      --native        record native (C/C++) frames of Python programs too;\n"
	"                      native programs always get them\n"
	"      --trace-python-allocators\n"
	"                      also record Python's own allocators (pymalloc): every\n"
	"                      object, not only the arenas it lives in\n"
	"      --follow-fork   also track forked children, each into a capture of\n"
	"                      its own named <output stem>.<pid>.tide\n"
	"      --python PATH   interpreter for scripts, -m and -c (default:\n"
	"                      /usr/bin/python3 where present, else python3)\n"
	"  -h, --help          show this help\n";

struct run_opts {
	const char *output, *python, *module, *code;
	int force, quiet, native, follow_fork, trace_python;
};

static pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

static int is_python_name(const char *file)
{
	size_t len = strlen(file);

	return len > 3 && !strcmp(file + len - 3, ".py");
}

/* Finds prog like execvp would (a script.py also in the current
 * directory); returns 0 and fills out. */
static int find_program(const char *prog, char *out, size_t cap)
{
	const char *path = getenv("PATH");

	if (strchr(prog, '/') || (is_python_name(prog) && !access(prog, F_OK))) {
		snprintf(out, cap, "%s", prog);
		return access(out, F_OK);
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		int len = colon ? (int)(colon - path) : (int)strlen(path);
		struct stat sb;

		snprintf(out, cap, "%.*s/%s", len, len ? path : ".", prog);
		if (!stat(out, &sb) && S_ISREG(sb.st_mode) && !access(out, X_OK))
			return 0;
		path += len + (colon != NULL);
	}
	return -1;
}

/* A Python script: named *.py, or a file whose #! line names python. */
static int is_python_script(const char *file)
{
	char head[256];
	int fd;
	ssize_t n;

	if (is_python_name(file))
		return 1;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, head, sizeof(head) - 1);
	close(fd);
	if (n < 2 || head[0] != '#' || head[1] != '!')
		return 0;
	head[n] = '\0';
	head[strcspn(head, "\n")] = '\0';
	return strstr(head, "python") != NULL;
}

static const char *default_python(void)
{
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

static int parse(int argc, char **argv, struct run_opts *o, int *first)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

#define VALUE(name) (i + 1 < argc ? argv[++i] : (mt_usage_error("run", "%s needs a value", name), (char *)NULL))
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			exit(0);
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			if (!(o->output = VALUE(a)))
				return -1;
		} else if (!strncmp(a, "--output=", 9)) {
			o->output = a + 9;
		} else if (!strncmp(a, "-o", 2) && a[2]) {
			o->output = a + 2;
		} else if (!strcmp(a, "-f") || !strcmp(a, "--force")) {
			o->force = 1;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			o->quiet = 1;
		} else if (!strcmp(a, "--native")) {
			o->native = 1;
		} else if (!strcmp(a, "--follow-fork")) {
			o->follow_fork = 1;
		} else if (!strcmp(a, "--trace-python-allocators")) {
			o->trace_python = 1;
		} else if (!strcmp(a, "--python")) {
			if (!(o->python = VALUE(a)))
				return -1;
		} else if (!strncmp(a, "--python=", 9)) {
			o->python = a + 9;
		} else if (!strcmp(a, "-m") || !strcmp(a, "-c")) {
			const char *v = VALUE(a);

			if (!v)
				return -1;
			if (a[1] == 'm')
				o->module = v;
			else
				o->code = v;
			*first = i + 1;
			return 0;
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else if (a[0] == '-' && a[1]) {
			mt_usage_error("run", "unknown option '%s'", a);
			return -1;
		} else {
			break;
		}
#undef VALUE
	}
	if (i >= argc) {
		mt_usage_error("run", "no program to run");
		return -1;
	}
	*first = i;
	return 0;
}

static void set_env(const char *k, const char *v)
{
	if (setenv(k, v, 1)) {
		mt_error("cannot set %s: %s", k, strerror(errno));
		exit(1);
	}
}

/*
 * The tracker's lines on the status pipe: "writing FILE failed: ...", one
 * per process whose capture could not be written (a full disk).  They are
 * printed even with -q; returns whether there was one.
 */
static int report_failures(int fd)
{
	char buf[8192];
	size_t len = 0;
	ssize_t n;

	fcntl(fd, F_SETFL, O_NONBLOCK);	/* a child of the program may hold it */
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	for (char *line = buf, *nl; *line; line = nl + 1) {
		if (!(nl = strchr(line, '\n')))
			break;
		fprintf(stderr, "memtide: %.*s\n", (int)(nl - line), line);
	}
	return len > 0;
}

/* Re-raises the signal that killed the program, on memtide itself. */
static int die_like(int sig)
{
	struct rlimit no_core = { 0, 0 };
	sigset_t set;

	setrlimit(RLIMIT_CORE, &no_core);	/* the program already dumped */
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	return 128 + sig;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o = { 0 };
	char lib[PATH_MAX], pydir[PATH_MAX], exe[PATH_MAX], out[PATH_MAX], stem[256];
	char **cargv;
	int first, python, status, k = 0, failed, status_pipe[2];
	const char *name, *orig_preload;
	struct stat sb;

	if (parse(argc, argv, &o, &first) < 0)
		return 2;
	python = o.module || o.code;
	if (!python) {
		if (find_program(argv[first], exe, sizeof(exe)) < 0)
			return mt_error("cannot run '%s': no such file or program", argv[first]) + 126;
		python = is_python_script(exe);
	}
	if (!o.python)
		o.python = default_python();

	/* the build tree (bin/, lib/, python/) or the Python package
	 * (memtide/bin/memtide beside memtide/libmemtide.so) */
	snprintf(lib, sizeof(lib), "%s/lib/libmemtide.so", mt_prefix());
	snprintf(pydir, sizeof(pydir), "%s/python", mt_prefix());
	if (access(lib, R_OK)) {
		snprintf(lib, sizeof(lib), "%s/bin/../libmemtide.so", mt_prefix());
		snprintf(pydir, sizeof(pydir), "%s/..", mt_prefix());
	}
	if (access(lib, R_OK))
		return mt_error("cannot find the tracker library '%s': %s", lib, strerror(errno));

	name = o.module ? o.module : o.code ? "python-c" : strrchr(argv[first], '/') ?
		strrchr(argv[first], '/') + 1 : argv[first];
	snprintf(stem, sizeof(stem), "%s", name);
	if (o.output && !o.force && stat(o.output, &sb) == 0)
		return mt_error("'%s' already exists (use -f to overwrite it)", o.output);

	/* argv for the child */
	cargv = calloc((size_t)argc + 4, sizeof(char *));
	if (!cargv)
		return mt_error("out of memory");
	if (python) {
		cargv[k++] = (char *)o.python;
		if (o.module) {
			cargv[k++] = "-m";
			cargv[k++] = (char *)o.module;
		} else if (o.code) {
			cargv[k++] = "-c";
			cargv[k++] = (char *)o.code;
		}
	}
	for (int i = first; i < argc; i++)
		cargv[k++] = argv[i];

	/* the tracker says here when writing the capture failed */
	if (pipe2(status_pipe, O_CLOEXEC) < 0)
		status_pipe[0] = status_pipe[1] = -1;
	fflush(NULL);
	child = fork();
	if (child < 0)
		return mt_error("cannot fork: %s", strerror(errno));
	if (child == 0) {
		char preload[2 * PATH_MAX + 2];

		if (o.output)
			snprintf(out, sizeof(out), "%s", o.output);
		else
			snprintf(out, sizeof(out), "memtide-%s.%d.tide", stem, (int)getpid());
		if (out[0] != '/') {
			char *abs = realpath(".", NULL);

			if (abs && strlen(abs) + strlen(out) + 2 < sizeof(out)) {
				memmove(out + strlen(abs) + 1, out, strlen(out) + 1);
				memcpy(out, abs, strlen(abs));
				out[strlen(abs)] = '/';
			}
			free(abs);
		}
		orig_preload = getenv("LD_PRELOAD");
		if (orig_preload && *orig_preload) {
			set_env("MEMTIDE_LD_PRELOAD", orig_preload);
			snprintf(preload, sizeof(preload), "%s:%s", lib, orig_preload);
		} else {
			snprintf(preload, sizeof(preload), "%s", lib);
		}
		set_env("LD_PRELOAD", preload);
		set_env("MEMTIDE_OUTPUT", out);
		set_env("MEMTIDE_PYDIR", pydir);
		set_env("MEMTIDE_NATIVE", o.native || !python ? "1" : "0");
		set_env("MEMTIDE_FOLLOW_FORK", o.follow_fork ? "1" : "0");
		set_env("MEMTIDE_TRACE_PYTHON", o.trace_python ? "1" : "0");
		if (status_pipe[1] >= 0) {
			int fd = fcntl(status_pipe[1], F_DUPFD, 1000);	/* inherited, out of the way */
			char num[16];

			snprintf(num, sizeof(num), "%d", fd);
			if (fd >= 0)
				set_env("MEMTIDE_STATUS_FD", num);
		}
		execvp(cargv[0], cargv);
		mt_error("cannot run '%s': %s", cargv[0], strerror(errno));
		_exit(127);
	}

	if (status_pipe[1] >= 0)
		close(status_pipe[1]);
	signal(SIGINT, SIG_IGN);	/* the terminal sends these to the program too */
	signal(SIGQUIT, SIG_IGN);
	signal(SIGTERM, forward);
	signal(SIGHUP, forward);
	signal(SIGUSR1, forward);
	signal(SIGUSR2, forward);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return mt_error("lost the program: %s", strerror(errno));
	free(cargv);

	if (o.output)
		snprintf(out, sizeof(out), "%s", o.output);
	else
		snprintf(out, sizeof(out), "memtide-%s.%d.tide", stem, (int)child);
	failed = status_pipe[0] >= 0 && report_failures(status_pipe[0]);
	if (!o.quiet && !failed) {
		char size[32];

		if (stat(out, &sb) == 0 && sb.st_size > 16)
			fprintf(stderr, "memtide: capture written to %s (%s)\n"
					"memtide: look at it with: memtide stats %s\n",
				out, mt_fmt_size(size, sizeof(size), (uint64_t)sb.st_size), out);
		else
			fprintf(stderr, "memtide: no capture was written to %s\n", out);
	}
	if (WIFSIGNALED(status))
		return die_like(WTERMSIG(status));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
