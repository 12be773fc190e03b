/*
 * cmd_attach.c - `memtide attach PID`: starts capturing in a program that
 * is already running, Python or native, without restarting it.  gdb loads
 * libmemtide.so into it and calls the tracker's attach entry point
 * (inject.c, src/capture/attach.c); the capture is written by the program
 * itself until `memtide detach PID`, the end of --duration, or the end of
 * the program.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "inject.h"
#include "../report/output.h"

static const char usage_text[] =
	"usage: memtide attach [options] PID\n"
	"\n"
	"Starts recording every allocation of a running program (Python or native)\n"
	"without restarting it, through gdb.  Allocations made before are not known:\n"
	"the reports say so, and frees of those blocks are ignored.  The capture ends\n"
	"with 'memtide detach PID', at the end of --duration, or when the program\n"
	"ends; after a detach the program runs as before, with no hook left.\n"
	"\n"
	"  -o, --output FILE   capture file (default: memtide-<program>.<pid>.tide)\n"
	"  -f, --force         overwrite an existing capture file\n"
	"  -q, --quiet         say nothing when all went well\n"
	"      --native        record native (C/C++) frames of Python programs too;\n"
	"                      native programs always get them\n"
	"      --duration S    record for S seconds (e.g. 2.5), then detach; Ctrl-C\n"
	"                      detaches sooner\n"
	"  -h, --help          show this help\n"
	"\n"
	"Needs gdb (apt install gdb) and the right to ptrace the process: root, or\n"
	"the same user with /proc/sys/kernel/yama/ptrace_scope at 0.\n";

struct attach_opts {
	const char *output;
	int force, quiet, native;
	double duration;	/* seconds; 0: until detach */
};

static int parse(int argc, char **argv, struct attach_opts *o, pid_t *pid)
{
	enum { NATIVE = 0x100, DURATION, LIVE };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "native", no_argument, NULL, NATIVE },
		{ "duration", required_argument, NULL, DURATION },
		{ "live", no_argument, NULL, LIVE },
		{ "live-remote", no_argument, NULL, LIVE },
		{ "live-port", required_argument, NULL, LIVE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char *end;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:fqh", opts, NULL)) != -1) {
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
		case 'q':
			o->quiet = 1;
			break;
		case NATIVE:
			o->native = 1;
			break;
		case DURATION:
			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->duration > 0) ||
			    o->duration > 1e9)
				return mt_usage_error("attach", "--duration takes a number of "
						      "seconds above 0, not '%s'", optarg);
			break;
		case LIVE:
			return mt_error("attach: the live view (--live, --live-remote) is not "
					"available yet: attach without it, then read the capture");
		case ':':
			return mt_usage_error("attach", "%s needs a value", argv[optind - 1]);
		default:
			return mt_usage_error("attach", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return mt_usage_error("attach", "no process id");
	if (optind + 1 < argc)
		return mt_usage_error("attach", "one process id only, not '%s'", argv[optind + 1]);
	if ((*pid = mt_inject_pid(argv[optind])) < 0)
		return mt_usage_error("attach", "'%s' is not a process id", argv[optind]);
	return 0;
}

/* The program's name for the default capture: a Python script's, else its own. */
static void program_name(pid_t pid, char *out, size_t cap)
{
	char path[64], args[8192], *arg0 = args, *arg1, *base;
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((f = fopen(path, "r"))) {
		n = fread(args, 1, sizeof(args) - 1, f);
		fclose(f);
	}
	args[n] = '\0';
	if (!n) {
		snprintf(out, cap, "%d", (int)pid);
		return;
	}
	arg1 = arg0 + strlen(arg0) + 1;
	base = strrchr(arg0, '/') ? strrchr(arg0, '/') + 1 : arg0;
	if (!strncmp(base, "python", 6) && arg1 < args + n && *arg1 && *arg1 != '-')
		base = strrchr(arg1, '/') ? strrchr(arg1, '/') + 1 : arg1;
	snprintf(out, cap, "%.200s", base);
	for (char *p = out; *p; p++)
		if (*p == '/' || (unsigned char)*p < 32)
			*p = '_';
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

int cmd_attach(int argc, char **argv)
{
	struct attach_opts o = { 0 };
	struct mt_inject in = { 0 };
	char lib[PATH_MAX], pydir[PATH_MAX], importdir[PATH_MAX], out[PATH_MAX], name[256];
	char msg[1024];
	unsigned long long started;
	struct stat sb;
	pid_t pid = 0;
	int rc, r;

	if ((rc = parse(argc, argv, &o, &pid)))
		return rc;
	if (mt_inject_check(pid, msg, sizeof(msg)) < 0)
		return mt_error("cannot attach: %s", msg);
	if ((rc = mt_tracker_paths(lib, pydir, importdir)))
		return rc;

	/* the program writes the capture: a path that means the same there */
	program_name(pid, name, sizeof(name));
	if (o.output)
		snprintf(out, sizeof(out), "%s", o.output);
	else
		snprintf(out, sizeof(out), "memtide-%s.%d.tide", name, (int)pid);
	if (out[0] != '/') {
		char cwd[PATH_MAX], rel[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			return mt_error("cannot tell the current directory: %s", strerror(errno));
		snprintf(rel, sizeof(rel), "%s", out);
		if ((size_t)snprintf(out, sizeof(out), "%s/%s", cwd, rel) >= sizeof(out))
			return mt_error("the capture's path is too long");
	}
	if (stat(out, &sb) == 0) {
		if (S_ISDIR(sb.st_mode))
			return mt_error("'%s' is a directory: -o names the capture file", out);
		if (!S_ISREG(sb.st_mode))
			return mt_error("'%s' is not a regular file: a capture goes to a file of "
					"its own", out);
		if (!o.force)
			return mt_error("'%s' already exists (use -f to overwrite it)", out);
	}

	started = mt_inject_start_time(pid);
	in = (struct mt_inject){ .pid = pid, .attach = 1, .lib = lib, .output = out,
				 .pydir = pydir, .native = o.native };
	r = mt_inject_run(&in);
	if (r == MT_INJECT_ALREADY)
		return mt_error("cannot attach: process %d is already being profiled by %s",
				(int)pid, in.message);
	if (r != MT_INJECT_OK)
		return mt_error("cannot attach to process %d: %s", (int)pid, in.message);

	if (!o.duration) {
		if (!o.quiet)
			fprintf(stderr, "memtide: attached to process %d, recording to %s\n"
					"memtide: stop with: memtide detach %d (or it stops when "
					"the program ends)\n", (int)pid, out, (int)pid);
		return 0;
	}
	if (!o.quiet)
		fprintf(stderr, "memtide: attached to process %d, recording to %s for %g s\n",
			(int)pid, out, o.duration);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	for (double left = o.duration; left > 0 && !interrupted; left -= 0.1) {
		struct timespec step = { 0, 100000000 };

		if (mt_inject_start_time(pid) != started) {
			if (!o.quiet)
				fprintf(stderr, "memtide: process %d ended; the capture ends with it: "
						"%s\n", (int)pid, out);
			return 0;
		}
		if (left < 0.1)
			step.tv_nsec = (long)(left * 1e9);
		nanosleep(&step, NULL);
	}
	return mt_detach(pid, o.quiet);
}

