/*
 * cmd_attach.c - `memtide attach PID`: starts capturing in a program that
 * is already running, Python or native, without restarting it.  gdb loads
 * libmemtide.so into it and calls the tracker's attach entry point
 * (inject.c, src/capture/attach.c); the capture is written by the program
 * itself until `memtide detach PID`, the end of --duration, or the end of
 * the program.  With --live or --live-remote, memtide also follows the
 * capture as it is written (the live engine of `memtide run --live`,
 * src/live/engine.c) and shows it in the terminal UI or serves it to
 * `memtide live` viewers, until the view is quit, Ctrl-C, --duration or
 * the end of the program, and then detaches.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "inject.h"
#include "../format/proc.h"
#include "../live/engine.h"
#include "../live/server.h"
#include "../live/tui.h"
#include "../report/output.h"

#define LIVE_HOST "127.0.0.1"	/* --live-remote serves on loopback unless told */
#define FINISH_MS 5000		/* viewers get this long to fetch the final state */
/* How the view ends: the program's exit status is not ours to know, and
 * after a detach the program goes on. */
#define UNKNOWN_STATUS -1

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
	"      --sample-rate BYTES\n"
	"                      record a sample of the heap blocks, one per BYTES\n"
	"                      allocated on average (e.g. 512KiB), as `run` does\n"
	"      --duration S    record for S seconds (e.g. 2.5), then detach; Ctrl-C\n"
	"                      detaches sooner\n"
	"      --live          watch its memory in this terminal; quitting the view\n"
	"                      detaches\n"
	"      --live-remote   serve the live view for `memtide live PORT` until\n"
	"                      Ctrl-C (or --duration, or the program's end), then\n"
	"                      detach\n"
	"      --live-port PORT  the port to serve on (default: a free one, printed)\n"
	"      --live-host HOST  the address to serve on (default: 127.0.0.1)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Needs gdb (apt install gdb) and the right to ptrace the process: root, or\n"
	"the same user with /proc/sys/kernel/yama/ptrace_scope at 0.\n";

struct attach_opts {
	const char *output, *live_host;
	int force, quiet, native, live, live_remote, live_port;	/* live_port 0: any */
	double duration;	/* seconds; 0: until detach */
	uint64_t sample_rate;	/* 0: every allocation */
};

static int parse(int argc, char **argv, struct attach_opts *o, pid_t *pid)
{
	enum { NATIVE = 0x100, DURATION, LIVE, LIVE_REMOTE, LIVE_PORT, LIVE_HOST_OPT, SAMPLE_RATE };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "native", no_argument, NULL, NATIVE },
		{ "duration", required_argument, NULL, DURATION },
		{ "sample-rate", required_argument, NULL, SAMPLE_RATE },
		{ "live", no_argument, NULL, LIVE },
		{ "live-remote", no_argument, NULL, LIVE_REMOTE },
		{ "live-port", required_argument, NULL, LIVE_PORT },
		{ "live-host", required_argument, NULL, LIVE_HOST_OPT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char *end;
	int c, rc;

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
		case SAMPLE_RATE:
			if ((rc = mt_parse_sample_rate("attach", optarg, &o->sample_rate)))
				return rc;
			break;
		case LIVE:
			o->live = 1;
			break;
		case LIVE_REMOTE:
			o->live_remote = 1;
			break;
		case LIVE_PORT:
			o->live_port = (int)strtol(optarg, &end, 10);
			if (!*optarg || *end || o->live_port < 1 || o->live_port > 65535)
				return mt_usage_error("attach", "--live-port takes a port (1 to "
						      "65535), not '%s'", optarg);
			break;
		case LIVE_HOST_OPT:
			o->live_host = optarg;
			break;
		case ':':
			return mt_usage_error("attach", "%s needs a value", argv[optind - 1]);
		default:
			return mt_usage_error("attach", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (o->live && o->live_remote)
		return mt_usage_error("attach", "--live and --live-remote: one or the other");
	if (!o->live_remote && (o->live_port || o->live_host))
		return mt_usage_error("attach", "--live-port and --live-host go with --live-remote");
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

/* Has the process that started at started ended? */
static int gone(pid_t pid, unsigned long long started)
{
	return mt_proc_start_ticks(pid) != started;
}

/* Sleeps 0.1 s at most, *left seconds (when above 0) less by as much;
 * 1 when the process has ended. */
static int wait_a_while(pid_t pid, unsigned long long started, double *left)
{
	struct timespec step = { 0, 100000000 };

	if (gone(pid, started))
		return 1;
	if (*left > 0 && *left < 0.1)
		step.tv_nsec = (long)(*left * 1e9);
	nanosleep(&step, NULL);
	if (*left > 0)
		*left -= 0.1;
	return 0;
}

/* --live: the terminal UI; it quits with q, or the program ends. */
struct watch {
	struct mt_engine *e;
	pid_t pid;
	unsigned long long started;
	atomic_int stop;
};

static void *watch_thread(void *arg)
{
	struct watch *w = arg;
	double forever = 0;

	while (!atomic_load(&w->stop) && !wait_a_while(w->pid, w->started, &forever))
		;
	if (!atomic_load(&w->stop))
		mt_engine_ended(w->e, UNKNOWN_STATUS);
	return NULL;
}

/*
 * Follows the capture out of the attached process pid: the terminal UI
 * (--live) or a server for `memtide live` (--live-remote), until the view
 * is quit (--live), the duration is over, a signal comes or the program
 * ends; then detaches (unless the program ended).  Returns the exit status.
 */
static int watch_live(const struct attach_opts *o, pid_t pid, unsigned long long started,
		      const char *out)
{
	const char *host = o->live_host ? o->live_host : LIVE_HOST;
	struct mt_engine_opts eo = { out, NULL, NULL, (uint64_t)pid, 0 };
	struct mt_server *srv = NULL;
	struct mt_engine *e;
	struct timespec ts = { 0, 10000000L };
	char err[1024];
	int rc = 0, ended = 0;

	e = mt_engine_start(&eo, err, sizeof(err));
	if (e && o->live_remote)
		srv = mt_server_start(e, host, o->live_port, err, sizeof(err));
	if (!e || (o->live_remote && !srv)) {
		mt_engine_free(e);
		mt_error("%s", err);
		mt_detach(pid, o->quiet);
		return 1;
	}
	if (o->live) {
		struct watch w = { e, pid, started, 0 };
		struct mt_live_source src;
		pthread_t t;
		int watching = !pthread_create(&t, NULL, watch_thread, &w);

		if (mt_engine_source(e, &src) == 0) {
			if (mt_tui_run(&src, err, sizeof(err)) < 0)
				rc = mt_error("%s", err);
			src.close(src.ctx);
		}
		atomic_store(&w.stop, 1);
		if (watching)
			pthread_join(t, NULL);
	} else {
		double left = o->duration;
		int port = mt_server_port(srv);

		fprintf(stderr, "memtide: serving the live view on %s:%d; watch it with: "
				"memtide live %d%s%s\n", host, port, port,
			o->live_host ? " --host " : "", o->live_host ? o->live_host : "");
		fprintf(stderr, "memtide: Ctrl-C detaches\n");
		while (!interrupted && !(ended = wait_a_while(pid, started, &left)) &&
		       (!o->duration || left > 0))
			;
	}
	ended = ended || gone(pid, started);
	if (!ended && mt_detach(pid, o->quiet))
		rc = 1;
	else if (ended && !o->quiet)
		fprintf(stderr, "memtide: process %d ended; the capture ends with it: %s\n",
			(int)pid, out);
	mt_engine_ended(e, UNKNOWN_STATUS);
	while (!mt_engine_done(e))
		nanosleep(&ts, NULL);
	if (mt_server_watched(srv))
		mt_server_finish(srv, FINISH_MS);
	mt_server_free(srv);
	mt_engine_free(e);
	return rc;
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

	started = mt_proc_start_ticks(pid);
	in = (struct mt_inject){ .pid = pid, .attach = 1, .lib = lib, .output = out,
				 .pydir = pydir, .native = o.native, .sample_rate = o.sample_rate };
	r = mt_inject_run(&in);
	if (r == MT_INJECT_ALREADY)
		return mt_error("cannot attach: process %d is already being profiled by %s",
				(int)pid, in.message);
	if (r != MT_INJECT_OK)
		return mt_error("cannot attach to process %d: %s", (int)pid, in.message);

	if (!o.duration && !o.live && !o.live_remote) {
		if (!o.quiet)
			fprintf(stderr, "memtide: attached to process %d, recording to %s\n"
					"memtide: stop with: memtide detach %d (or it stops when "
					"the program ends)\n", (int)pid, out, (int)pid);
		return 0;
	}
	if (!o.quiet && o.duration)
		fprintf(stderr, "memtide: attached to process %d, recording to %s for %g s\n",
			(int)pid, out, o.duration);
	else if (!o.quiet)
		fprintf(stderr, "memtide: attached to process %d, recording to %s\n",
			(int)pid, out);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	if (o.live || o.live_remote)
		return watch_live(&o, pid, started, out);
	for (double left = o.duration; left > 0 && !interrupted;)
		if (wait_a_while(pid, started, &left)) {
			if (!o.quiet)
				fprintf(stderr, "memtide: process %d ended; the capture ends with it: "
						"%s\n", (int)pid, out);
			return 0;
		}
	return mt_detach(pid, o.quiet);
}

