/*
 * cmd_run.c - `memtide run`: starts the program with libmemtide.so
 * preloaded, waits for it, and then says where the capture went.  The
 * program keeps its own stdin/stdout/stderr, environment (memtide's
 * variables are removed again inside it) and exit status; when it is
 * killed by a signal, memtide dies of the same signal.  The tracker tells
 * it through a pipe (MEMTIDE_STATUS_FD) when writing the capture failed,
 * so that it says so instead of "capture written".
 *
 * With --live or --live-remote it also follows the capture while it is
 * written (src/live/engine.c) and shows it in the terminal UI or serves
 * it to `memtide live` viewers (src/live/server.c); the program, held
 * before its exec until then, starts once that is ready.
 */
#include <elf.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "../live/engine.h"
#include "../live/server.h"
#include "../live/tui.h"
#include "run_outputs.h"
#include "../report/output.h"

#define LIVE_HOST "127.0.0.1"	/* --live-remote serves on loopback unless told */
#define FINISH_MS 5000		/* viewers get this long to fetch the final state */

static const char usage_text[] =
	"usage: memtide run [options] script.py [args...]\n"
	"       memtide run [options] -m module [args...]\n"
	"       memtide run [options] -c code [args...]\n"
	"       memtide run [options] program [args...]\n"
	"\n"
	"Runs a Python script or any native program and records every allocation\n"
	"(malloc and friends, mmap) with the stack that made it. A Python named\n"
	"as the program (memtide run python3 script.py) runs as for script.py.\n"
	"\n"
	"  -o, --output FILE   capture file (default: memtide-<program>.<pid>.tide);\n"
	"                      %p is the program's pid, %h the host name, %r the\n"
	"                      MPI rank the launcher gives (OMPI_COMM_WORLD_RANK,\n"
	"                      PMI_RANK, PMIX_RANK or SLURM_PROCID), %% a %\n"
	"  -f, --force         overwrite an existing capture file\n"
	"  -q, --quiet         say nothing when the program ends\n"
	"      --native        record native (C/C++) frames of Python programs too;\n"
	"                      native programs always get them\n"
	"      --trace-python-allocators\n"
	"                      also record Python's own allocators (pymalloc): every\n"
	"                      object, not only the arenas it lives in\n"
	"      --sample-rate BYTES\n"
	"                      record a heap allocation of n bytes with probability\n"
	"                      1 - exp(-n/BYTES) (e.g. 512KiB): a capture a fraction\n"
	"                      of the size, at a fraction of the cost; reports give\n"
	"                      unbiased estimates (mappings are all recorded)\n"
	"      --follow-fork   also track forked children, each into a capture of\n"
	"                      its own named <output stem>.<pid>.tide\n"
	"      --follow-exec   also track the programs it starts (exec, subprocess,\n"
	"                      multiprocessing's spawn; forkserver workers need\n"
	"                      --follow-fork too), each into <output stem>.<pid>.tide\n"
	"      --python PATH   interpreter for scripts, -m and -c (default: the one\n"
	"                      running `python -m memtide` or the memtide script,\n"
	"                      else python3 on PATH); `import memtide` works in it\n"
	"      --live          watch the program's memory in this terminal while it\n"
	"                      runs; its output goes to <capture stem>.out, its\n"
	"                      input is /dev/null; the capture is kept\n"
	"      --live-remote   serve the live view for `memtide live PORT` (from\n"
	"                      another terminal); the program starts when the first\n"
	"                      viewer connects\n"
	"      --live-port PORT  the port to serve on (default: a free one, printed)\n"
	"      --live-host HOST  the address to serve on (default: 127.0.0.1)\n"
	"      --no-wait       with --live-remote: start the program at once\n"
	"      --aggregate     keep per-stack figures in the program instead of every\n"
	"                      event: a small capture, rewritten every second, whose\n"
	"                      size does not grow with the run (not with --live)\n"
	"  -h, --help          show this help\n";

struct run_opts {
	const char *output, *python, *pyarg, *interp, *module, *code;
	int force, quiet, native, follow_fork, follow_exec, trace_python;
	uint64_t sample_rate;				/* 0: every allocation */
	int live, live_remote, no_wait, live_port;	/* live_port -1: not given */
	int aggregate;
	const char *live_host;
	/* what python, pyarg and interp point to when read from a #! line */
	char python_buf[PATH_MAX], pyarg_buf[PATH_MAX], interp_buf[PATH_MAX];
};

/* Keeps a copy of s in buf (of PATH_MAX bytes) and returns it. */
static const char *keep(char *buf, const char *s)
{
	snprintf(buf, PATH_MAX, "%s", s);
	return buf;
}

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

/*
 * A Python interpreter named on the command line (`memtide run python3
 * x.py`): python, python3, python3.11, python3.12d...  It is run as the
 * interpreter of a Python program (a pyenv shim resolved to the real one,
 * Python frames only unless --native, memtide's package importable).
 */
static int is_interpreter_name(const char *file)
{
	const char *b = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;

	if (strncmp(b, "python", 6))
		return 0;
	for (b += 6; *b; b++)
		if (!isdigit((unsigned char)*b) && *b != '.' && !(b[1] == '\0' && strchr("dmu", *b)))
			return 0;
	return 1;
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

/* Reads the first bytes of file into head (NUL-terminated); their count. */
static ssize_t read_head(const char *file, char *head, size_t cap)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, head, cap - 1);
	close(fd);
	head[n > 0 ? n : 0] = '\0';
	return n;
}

static const char *machine_name(unsigned machine, char *buf, size_t cap)
{
	static const struct { unsigned em; const char *name; } names[] = {
		{ EM_X86_64, "x86_64" }, { EM_386, "i386" }, { EM_AARCH64, "aarch64" },
		{ EM_ARM, "arm" }, { EM_RISCV, "riscv" }, { EM_PPC64, "ppc64" },
		{ EM_PPC, "ppc" }, { EM_S390, "s390x" }, { EM_MIPS, "mips" },
		{ EM_SPARCV9, "sparc64" }, { 258, "loongarch64" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].em == machine)
			return names[i].name;
	snprintf(buf, cap, "machine %u", machine);
	return buf;
}

/*
 * An ELF executable can take the tracker when it is for this machine
 * (memtide's own class and e_machine) and has a dynamic loader (PT_INTERP)
 * to preload it: a static binary would run untracked, with memtide's
 * variables left in its environment.  0, or the error's exit status.
 */
static int check_elf(const char *file)
{
	Elf64_Ehdr eh, self;
	Elf64_Phdr ph[64];
	int fd = open(file, O_RDONLY | O_CLOEXEC), interp = 0;
	ssize_t n = fd >= 0 ? pread(fd, &eh, sizeof(eh), 0) : -1;
	int fds = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	char buf[32];
	struct utsname un;

	if (fds < 0 || pread(fds, &self, sizeof(self), 0) != (ssize_t)sizeof(self))
		memset(&self, 0, sizeof(self));
	if (fds >= 0)
		close(fds);
	if (uname(&un))
		snprintf(un.machine, sizeof(un.machine), "%s", "this machine's architecture");
	if (n < EI_NIDENT + 4) {
		if (fd >= 0)
			close(fd);
		return mt_error("%s: truncated ELF file", file) + 125;
	}
	if (eh.e_machine != self.e_machine &&
	    !(eh.e_machine == EM_386 && self.e_machine == EM_X86_64)) {
		close(fd);
		return mt_error("%s: ELF for %s, this machine runs %s", file,
				machine_name(eh.e_machine, buf, sizeof(buf)), un.machine) + 125;
	}
	if (eh.e_ident[EI_CLASS] != self.e_ident[EI_CLASS] || eh.e_ident[EI_CLASS] != ELFCLASS64) {
		close(fd);
		return mt_error("%s: 32-bit ELF: memtide tracks 64-bit %s programs only",
				file, un.machine) + 125;
	}
	if (n < (ssize_t)sizeof(eh) || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)) {
		close(fd);
		return mt_error("%s: not an executable ELF file", file) + 125;
	}
	for (unsigned i = 0; i < eh.e_phnum && eh.e_phentsize == sizeof(Elf64_Phdr);) {
		unsigned k = eh.e_phnum - i < 64 ? eh.e_phnum - i : 64;

		n = pread(fd, ph, k * sizeof(Elf64_Phdr), (off_t)(eh.e_phoff + i * sizeof(Elf64_Phdr)));
		if (n < (ssize_t)(k * sizeof(Elf64_Phdr)))
			break;
		for (unsigned j = 0; j < k; j++)
			interp |= ph[j].p_type == PT_INTERP;
		i += k;
	}
	close(fd);
	if (!interp)
		return mt_error("%s: statically linked: there is no dynamic loader to preload "
				"memtide's tracker into, so no capture could be written", file);
	return 0;
}

/*
 * The loader ignores LD_PRELOAD in a program that gains privileges when it
 * starts (AT_SECURE): set-user-ID to another user, set-group-ID to another
 * group, or file capabilities for a user other than root.  Root running a
 * set-user-ID root program gains nothing, and a nosuid mount drops the bits.
 * 0, or the error's exit status.
 */
static int check_privileges(const char *file, const struct stat *sb)
{
	struct statvfs fs;
	const char *why = NULL;

	if (!statvfs(file, &fs) && (fs.f_flag & ST_NOSUID))
		return 0;
	if ((sb->st_mode & S_ISUID) && sb->st_uid != getuid())
		why = "set-user-ID";
	else if ((sb->st_mode & S_ISGID) && (sb->st_mode & S_IXGRP) && sb->st_gid != getgid())
		why = "set-group-ID";
	else if (getuid() != 0 && getxattr(file, "security.capability", NULL, 0) > 0)
		why = "given file capabilities";
	if (!why)
		return 0;
	return mt_error("%s: %s: the loader ignores LD_PRELOAD for it, so memtide's tracker "
			"cannot run in it and no capture could be written", file, why);
}

/* An executable that memtide can run and track: 0, or the error's exit status. */
static int check_executable(const char *file, const char *head, ssize_t n, const struct stat *sb)
{
	if (access(file, X_OK) || !(sb->st_mode & 0111))
		return mt_error("%s: not executable", file) + 125;
	if (n >= SELFMAG && !memcmp(head, ELFMAG, SELFMAG)) {
		int rc = check_elf(file);

		return rc ? rc : check_privileges(file, sb);
	}
	return -1;
}

/*
 * Decides how to run file (found on PATH as exe): a Python script (named
 * *.py, or with a python #! line, whose interpreter is used unless it is
 * `env python3`), an ELF executable that can take the tracker, or a
 * script whose #! interpreter can.  Anything else gets a one-line error
 * and is not run: execvp would hand it to /bin/sh.  Returns 0 or the exit
 * status.
 */
static int check_program(const char *exe, struct run_opts *o, int *python)
{
	char head[512], interp[PATH_MAX], ihead[64];
	struct stat sb, isb;
	ssize_t n;
	int rc;

	if (stat(exe, &sb))
		return mt_error("%s: %s", exe, strerror(errno)) + 126;
	if (S_ISDIR(sb.st_mode))
		return mt_error("%s: is a directory", exe) + 125;
	if (!S_ISREG(sb.st_mode))
		return mt_error("%s: not a regular file", exe) + 125;
	n = read_head(exe, head, sizeof(head));
	if (n < 0)
		return mt_error("%s: %s", exe, strerror(errno)) + 125;
	if (is_python_name(exe)) {
		*python = 1;
		return 0;
	}
	if (n < 2 || head[0] != '#' || head[1] != '!') {
		rc = check_executable(exe, head, n, &sb);
		if (rc >= 0)
			return rc;
		return mt_error("%s: neither an ELF executable nor a script with a #! line "
				"(name its interpreter: memtide run sh %s)", exe, exe) + 125;
	}
	head[strcspn(head, "\n")] = '\0';
	if (strstr(head, "python")) {
		/* #!/path/python3 [arg] or #!/usr/bin/env python3.12 */
		char *p = head + 2 + strspn(head + 2, " \t"), *end = p + strcspn(p, " \t");
		char *arg = end + strspn(end, " \t");

		*end = '\0';
		*python = 1;
		if (o->python)
			return 0;
		if (strcmp(p + strlen(p) - (strlen(p) < 4 ? 0 : 4), "/env")) {
			o->python = keep(o->python_buf, p);
			if (*arg)
				o->pyarg = keep(o->pyarg_buf, arg);
		} else if (*arg && strcmp(arg, "python3") && strcmp(arg, "python")) {
			o->python = keep(o->python_buf, arg);
		}
		return 0;
	}
	/* another interpreter: the kernel runs it, so it must take the tracker;
	 * `#!/usr/bin/env NAME` would take it instead of NAME, so memtide runs
	 * NAME found on PATH itself */
	rc = check_executable(exe, head, n, &sb);
	if (rc > 0)
		return rc;
	{
		char *p = head + 2 + strspn(head + 2, " \t"), *end = p + strcspn(p, " \t");
		char *arg = end + strspn(end, " \t");

		*end = '\0';
		arg[strcspn(arg, " \t")] = '\0';
		if (strlen(p) >= 4 && !strcmp(p + strlen(p) - 4, "/env") && *arg && *arg != '-') {
			if (find_program(arg, interp, sizeof(interp)) < 0)
				return mt_error("%s: its interpreter '%s' is not on PATH", exe, arg) + 126;
			o->interp = keep(o->interp_buf, interp);
		} else {
			snprintf(interp, sizeof(interp), "%s", p);
		}
	}
	if (stat(interp, &isb) || !S_ISREG(isb.st_mode))
		return mt_error("%s: its interpreter '%s' is missing", exe, interp) + 126;
	n = read_head(interp, ihead, sizeof(ihead));
	rc = check_executable(interp, ihead, n, &isb);
	return rc < 0 ? mt_error("%s: its interpreter '%s' is not an ELF executable", exe, interp) + 125
		      : rc;
}

/*
 * Where the interpreter's path goes: a wrapper script on PATH (pyenv's
 * shims) would take the tracker itself and start the real interpreter
 * without it, so it is asked for sys.executable.
 */
static void ask_interpreter(const char *py, char *out, size_t cap)
{
	char buf[PATH_MAX];
	int fds[2], st = 1;
	ssize_t n, len = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		execl(py, py, "-c", "import sys; sys.stdout.write(sys.executable)", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (len < (ssize_t)sizeof(buf) - 1 && (n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fds[0]);
	buf[len] = '\0';
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (pid > 0 && WIFEXITED(st) && !WEXITSTATUS(st) && buf[0] == '/' && !access(buf, X_OK))
		snprintf(out, cap, "%s", buf);
}

/*
 * The interpreter for Python programs: --python or the script's #! line,
 * else the one that runs `python -m memtide` or the memtide script (it
 * says so in MEMTIDE_PYTHON), else python3 on PATH.  0, or the exit status.
 */
static int resolve_python(const char *want, char *out, size_t cap)
{
	char head[8];

	if (!want || !*want)
		want = getenv("MEMTIDE_PYTHON");
	if (!want || !*want)
		want = "python3";
	if (find_program(want, out, cap) < 0)
		return mt_error("cannot find the Python interpreter '%s' (use --python PATH)", want) + 126;
	if (read_head(out, head, sizeof(head)) >= 2 && head[0] == '#' && head[1] == '!')
		ask_interpreter(out, out, cap);
	return 0;
}

/* Options that do not go together: 0, or -1 after a usage error. */
static int check_options(const struct run_opts *o)
{
	if (o->live && o->live_remote) {
		mt_usage_error("run", "--live and --live-remote: one or the other");
		return -1;
	}
	if (o->aggregate && (o->live || o->live_remote)) {
		mt_usage_error("run", "--aggregate and --live%s: the live view follows every event, "
			       "an aggregated capture keeps none", o->live ? "" : "-remote");
		return -1;
	}
	if (o->aggregate && o->sample_rate) {
		mt_usage_error("run", "--aggregate and --sample-rate: not together (an aggregated "
			       "capture keeps exact figures)");
		return -1;
	}
	if (!o->live_remote && (o->live_port >= 0 || o->live_host || o->no_wait)) {
		mt_usage_error("run", "--live-port, --live-host and --no-wait go with --live-remote");
		return -1;
	}
	return 0;
}

/*
 * The options before the program ("+": getopt stops at the first operand,
 * so the program's own options stay its own); -m and -c end them too.
 */
static int parse(int argc, char **argv, struct run_opts *o, int *first)
{
	enum { NATIVE = 0x100, FOLLOW_FORK, FOLLOW_EXEC, TRACE_PYTHON, PYTHON, LIVE, LIVE_REMOTE, LIVE_PORT,
	       LIVE_HOST_OPT, NO_WAIT, SAMPLE_RATE, AGGREGATE };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "native", no_argument, NULL, NATIVE },
		{ "follow-fork", no_argument, NULL, FOLLOW_FORK },
		{ "follow-exec", no_argument, NULL, FOLLOW_EXEC },
		{ "trace-python-allocators", no_argument, NULL, TRACE_PYTHON },
		{ "python", required_argument, NULL, PYTHON },
		{ "live", no_argument, NULL, LIVE },
		{ "live-remote", no_argument, NULL, LIVE_REMOTE },
		{ "live-port", required_argument, NULL, LIVE_PORT },
		{ "live-host", required_argument, NULL, LIVE_HOST_OPT },
		{ "no-wait", no_argument, NULL, NO_WAIT },
		{ "sample-rate", required_argument, NULL, SAMPLE_RATE },
		{ "aggregate", no_argument, NULL, AGGREGATE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;
	char *end;

	optind = 0;
	opterr = 0;
	o->live_port = -1;
	while ((c = getopt_long(argc, argv, "+:o:fqm:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'o':
			o->output = optarg;
			break;
		case 'f':
			o->force = 1;
			break;
		case AGGREGATE:
			o->aggregate = 1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case NATIVE:
			o->native = 1;
			break;
		case FOLLOW_FORK:
			o->follow_fork = 1;
			break;
		case FOLLOW_EXEC:
			o->follow_exec = 1;
			break;
		case TRACE_PYTHON:
			o->trace_python = 1;
			break;
		case PYTHON:
			o->python = optarg;
			break;
		case LIVE:
			o->live = 1;
			break;
		case LIVE_REMOTE:
			o->live_remote = 1;
			break;
		case LIVE_PORT:
			o->live_port = (int)strtol(optarg, &end, 10);
			if (!*optarg || *end || o->live_port < 1 || o->live_port > 65535) {
				mt_usage_error("run", "--live-port takes a port (1 to 65535), not '%s'", optarg);
				return -1;
			}
			break;
		case LIVE_HOST_OPT:
			o->live_host = optarg;
			break;
		case NO_WAIT:
			o->no_wait = 1;
			break;
		case SAMPLE_RATE:
			if (mt_parse_sample_rate("run", optarg, &o->sample_rate))
				return -1;
			break;
		case 'm':
		case 'c':
			*(c == 'm' ? &o->module : &o->code) = optarg;
			*first = optind;
			return check_options(o);
		case ':':
			mt_usage_error("run", "%s needs a value", argv[optind - 1]);
			return -1;
		default:
			mt_usage_error("run", "unknown option '%s'", argv[optind - 1]);
			return -1;
		}
	}
	if (optind >= argc) {
		mt_usage_error("run", "no program to run");
		return -1;
	}
	*first = optind;
	return check_options(o);
}

static void set_env(const char *k, const char *v)
{
	if (setenv(k, v, 1)) {
		mt_error("cannot set %s: %s", k, strerror(errno));
		exit(1);
	}
}

/*
 * `import memtide` works in the program without installing memtide into
 * its interpreter: the directory holding just the package goes at the end
 * of PYTHONPATH, so the program's own packages come first.
 */
static void add_python_path(const char *dir)
{
	const char *old = getenv("PYTHONPATH");
	char path[3 * PATH_MAX], init[PATH_MAX + 32];
	struct stat sb;

	snprintf(init, sizeof(init), "%s/memtide/__init__.py", dir);
	if (stat(init, &sb))
		return;
	if (old && *old)
		snprintf(path, sizeof(path), "%s:%s", old, dir);
	else
		snprintf(path, sizeof(path), "%s", dir);
	set_env("PYTHONPATH", path);
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

/* The exit status as a shell gives it: 128+N for signal N. */
static int shell_status(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ?
	       128 + WTERMSIG(status) : 1;
}

static int wait_child(int *status)
{
	while (waitpid(child, status, 0) < 0)
		if (errno != EINTR)
			return mt_error("lost the program: %s", strerror(errno));
	return 0;
}

/* Where --live puts the program's stdout and stderr: the capture's stem + .out. */
static void output_name(const char *capture, char *buf, size_t cap)
{
	size_t n = strlen(capture);

	if (n > 5 && !strcmp(capture + n - 5, ".tide"))
		n -= 5;
	snprintf(buf, cap, "%.*s.out", (int)n, capture);
}

/* The program as the live view's header shows it. */
static char *command_line(char **cargv)
{
	size_t len = 1;
	char *cmd, *p;

	for (int i = 0; cargv[i]; i++)
		len += strlen(cargv[i]) + 1;
	cmd = p = calloc(1, len);
	if (!cmd)
		return NULL;
	for (int i = 0; cargv[i]; i++) {
		const char *a = i ? cargv[i] : strrchr(cargv[i], '/') ? strrchr(cargv[i], '/') + 1 :
			cargv[i];

		p += snprintf(p, len - (size_t)(p - cmd), "%s%s", i ? " " : "", a);
	}
	return cmd;
}

/* --live: waits for the program while the terminal UI runs. */
struct waiter {
	struct mt_engine *e;
	int status;
	atomic_int ended;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	if (wait_child(&w->status))
		w->status = 1 << 8;
	mt_engine_ended(w->e, shell_status(w->status));
	atomic_store(&w->ended, 1);
	return NULL;
}

/*
 * Runs the program (held on the go pipe until now) under the live view:
 * the terminal UI (--live) or a server (--live-remote).  Returns 0 once
 * the program has been waited for (*status set), or the exit status of an
 * error that came before it could start (it is killed then).
 */
static int run_live(const struct run_opts *o, const char *capture, const char *command,
		    int go, int *status)
{
	const char *host = o->live_host ? o->live_host : LIVE_HOST;
	char output[PATH_MAX + 8], err[1024];
	struct mt_engine_opts eo = { capture, command, NULL, (uint64_t)child, 0 };
	struct mt_server *srv = NULL;
	struct mt_engine *e;

	output_name(capture, output, sizeof(output));
	if (o->live)
		eo.output_path = output;
	unlink(capture);	/* a file left from before is not this run's */
	e = mt_engine_start(&eo, err, sizeof(err));
	if (e && o->live_remote)
		srv = mt_server_start(e, host, o->live_port < 0 ? 0 : o->live_port, err, sizeof(err));
	if (!e || (o->live_remote && !srv)) {
		kill(child, SIGKILL);
		wait_child(status);
		mt_engine_free(e);
		return mt_error("%s", err);
	}
	if (srv) {
		int port = mt_server_port(srv);

		fprintf(stderr, "memtide: serving the live view on %s:%d; watch it with: "
				"memtide live %d%s%s\n", host, port, port,
			o->live_host ? " --host " : "", o->live_host ? o->live_host : "");
		if (!o->no_wait) {
			fprintf(stderr, "memtide: the program starts when a viewer connects\n");
			while (!mt_server_wait_viewer(srv, 200)) {
				if (waitpid(child, status, WNOHANG) == child) {	/* killed meanwhile */
					mt_server_free(srv);
					mt_engine_free(e);
					return 0;
				}
			}
		}
	}
	if (write(go, "g", 1) != 1) {
		kill(child, SIGKILL);
		wait_child(status);
		mt_server_free(srv);
		mt_engine_free(e);
		return mt_error("cannot start the program: %s", strerror(errno));
	}
	close(go);

	if (o->live) {
		struct waiter w = { e, 0, 0 };
		struct mt_live_source src;
		pthread_t t;

		if (pthread_create(&t, NULL, wait_thread, &w)) {
			wait_thread(&w);
		} else {
			if (mt_engine_source(e, &src) == 0) {
				if (mt_tui_run(&src, err, sizeof(err)) < 0)
					mt_error("%s", err);
				src.close(src.ctx);
			}
			if (!atomic_load(&w.ended))
				fprintf(stderr, "memtide: the viewer has quit; waiting for the program "
						"(pid %d) to end\n", (int)child);
			pthread_join(t, NULL);
		}
		*status = w.status;
		if (!o->quiet)
			fprintf(stderr, "memtide: the program's output is in %s\n", output);
	} else {
		struct timespec ts = { 0, 10000000L };
		int rc = wait_child(status);

		if (rc)
			*status = 1 << 8;
		mt_engine_ended(e, shell_status(*status));
		while (!mt_engine_done(e))
			nanosleep(&ts, NULL);
		if (mt_server_watched(srv))
			mt_server_finish(srv, FINISH_MS);
		else if (!o->quiet)
			fprintf(stderr, "memtide: the program ended before any viewer connected\n");
		mt_server_free(srv);
	}
	mt_engine_free(e);
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o = { 0 };
	char lib[PATH_MAX], pydir[PATH_MAX], importdir[PATH_MAX], exe[PATH_MAX], out[PATH_MAX];
	char pybin[PATH_MAX], stem[256], named[PATH_MAX], session[256];
	char **cargv;
	int first, python, status, rc, k = 0, failed, status_pipe[2], go[2] = { -1, -1 };
	int live;
	const char *name, *orig_preload, *pattern = NULL;
	struct stat sb;
	time_t since;

	if (parse(argc, argv, &o, &first) < 0)
		return 2;
	live = o.live || o.live_remote;
	if (o.live && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)))
		return mt_error("--live needs a terminal; from a script, use --live-remote and "
				"memtide live PORT --snapshot");
	if (o.output && strchr(o.output, '%')) {	/* -o 'cap.%r.tide' */
		if ((rc = run_output_name(o.output, 0, named, sizeof(named))))
			return rc;
		if (run_output_has_pid(o.output))
			pattern = o.output;	/* known once the program runs */
		o.output = pattern ? NULL : named;
	}
	if (o.output && stat(o.output, &sb) == 0) {
		if (S_ISDIR(sb.st_mode))
			return mt_error("'%s' is a directory: -o names the capture file", o.output);
		if (!S_ISREG(sb.st_mode))
			return mt_error("'%s' is not a regular file (a FIFO, device or socket): "
					"a capture goes to a file of its own", o.output);
		if (!o.force)
			return mt_error("'%s' already exists (use -f to overwrite it)", o.output);
	}
	python = o.module || o.code;
	if (!python && is_interpreter_name(argv[first])) {
		o.python = argv[first++];
		python = 1;
	} else if (!python) {
		if (find_program(argv[first], exe, sizeof(exe)) < 0)
			return mt_error("cannot run '%s': no such file or program", argv[first]) + 126;
		if ((rc = check_program(exe, &o, &python)))
			return rc;
	}
	if (python && (rc = resolve_python(o.python, pybin, sizeof(pybin))))
		return rc;

	if ((rc = mt_tracker_paths(lib, pydir, importdir)))
		return rc;

	name = o.module ? o.module : o.code ? "python-c" :
		first >= argc || argv[first][0] == '-' ? "python" :
		strrchr(argv[first], '/') ? strrchr(argv[first], '/') + 1 : argv[first];
	snprintf(stem, sizeof(stem), "%s", name);

	/* argv for the child */
	cargv = calloc((size_t)argc + 5, sizeof(char *));
	if (!cargv)
		return mt_error("out of memory");
	if (python) {
		cargv[k++] = pybin;
		if (o.pyarg)
			cargv[k++] = (char *)o.pyarg;
		if (o.module) {
			cargv[k++] = "-m";
			cargv[k++] = (char *)o.module;
		} else if (o.code) {
			cargv[k++] = "-c";
			cargv[k++] = (char *)o.code;
		}
	}
	if (o.interp) {
		cargv[k++] = (char *)o.interp;
		cargv[k++] = exe;
		first++;
	}
	for (int i = first; i < argc; i++)
		cargv[k++] = argv[i];

	/* the tracker says here when writing the capture failed */
	if (pipe2(status_pipe, O_CLOEXEC) < 0)
		status_pipe[0] = status_pipe[1] = -1;
	/* the live view holds the program until it is ready */
	if (live && pipe2(go, O_CLOEXEC) < 0)
		return mt_error("cannot make a pipe: %s", strerror(errno));
	run_session_id(session, sizeof(session));
	since = time(NULL);
	fflush(NULL);
	child = fork();
	if (child < 0)
		return mt_error("cannot fork: %s", strerror(errno));
	if (child == 0) {
		char preload[2 * PATH_MAX + 2];

		if (live) {
			char go_byte;

			close(go[1]);
			if (read(go[0], &go_byte, 1) != 1)
				_exit(127);	/* memtide gave up */
			close(go[0]);
		}

		if (pattern)
			run_output_name(pattern, (long)getpid(), out, sizeof(out));
		else if (o.output)
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
		if (o.live) {	/* the terminal is the live view's */
			char name[PATH_MAX + 8];
			int fd, in;

			output_name(out, name, sizeof(name));
			fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			in = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (fd < 0 || in < 0) {
				mt_error("cannot write the program's output to '%s': %s", name,
					 strerror(errno));
				_exit(127);
			}
			dup2(in, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		set_env("LD_PRELOAD", preload);
		set_env("MEMTIDE_OUTPUT", out);
		set_env("MEMTIDE_PYDIR", pydir);
		set_env("MEMTIDE_NATIVE", o.native || !python ? "1" : "0");
		set_env("MEMTIDE_FOLLOW_FORK", o.follow_fork ? "1" : "0");
		if (o.follow_exec)	/* the programs it starts: exec.c */
			set_env("MEMTIDE_FOLLOW_EXEC", o.native ? "native" : "auto");
		set_env("MEMTIDE_SESSION", session);
		set_env("MEMTIDE_AGGREGATE", o.aggregate ? "1" : "0");
		set_env("MEMTIDE_TRACE_PYTHON", o.trace_python ? "1" : "0");
		if (o.sample_rate) {
			char rate[24];

			snprintf(rate, sizeof(rate), "%llu", (unsigned long long)o.sample_rate);
			set_env("MEMTIDE_SAMPLE_RATE", rate);
		} else {
			unsetenv("MEMTIDE_SAMPLE_RATE");
		}
		/* the entry point's own variable is not the program's */
		unsetenv("MEMTIDE_PYTHON");
		if (python)
			add_python_path(importdir);
		if (status_pipe[1] >= 0) {
			int fd = fcntl(status_pipe[1], F_DUPFD, 1000);	/* inherited, out of the way */
			char num[16];

			snprintf(num, sizeof(num), "%d", fd);
			if (fd >= 0)
				set_env("MEMTIDE_STATUS_FD", num);
		}
		/* exactly the file checked above: execvp would hand a file the
		 * kernel cannot run to /bin/sh */
		execv(python ? pybin : o.interp ? o.interp : exe, cargv);
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
	if (pattern)
		run_output_name(pattern, (long)child, out, sizeof(out));
	else if (o.output)
		snprintf(out, sizeof(out), "%s", o.output);
	else
		snprintf(out, sizeof(out), "memtide-%s.%d.tide", stem, (int)child);
	if (live) {
		char *command = command_line(cargv);

		close(go[0]);
		rc = run_live(&o, out, command, go[1], &status);
		free(command);
		if (rc) {
			free(cargv);
			return rc;
		}
	} else if (wait_child(&status)) {
		return 1;
	}
	free(cargv);

	failed = status_pipe[0] >= 0 && report_failures(status_pipe[0]);
	if (!o.quiet && !failed && (o.follow_fork || o.follow_exec)) {
		run_list_captures(out, since);
	} else if (!o.quiet && !failed) {
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
