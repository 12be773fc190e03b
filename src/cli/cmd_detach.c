/*
 * cmd_detach.c - `memtide detach PID`: ends the capture that `memtide
 * attach` started in a running program.  gdb calls the tracker's stop
 * inside it (inject.c, src/capture/attach.c): the allocator calls go back
 * to libc, the GOT pages get their protections back, and the capture is
 * written to its end.  The program goes on.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli.h"
#include "inject.h"
#include "../report/output.h"

static const char usage_text[] =
	"usage: memtide detach [options] PID\n"
	"\n"
	"Ends the capture that 'memtide attach PID' started: the program goes on as\n"
	"before, with no hook left, and the capture is complete.\n"
	"\n"
	"  -q, --quiet         say nothing when all went well\n"
	"  -h, --help          show this help\n";

int mt_detach(pid_t pid, int quiet)
{
	struct mt_inject in = { .pid = pid, .attach = 0 };
	char size[32];
	struct stat sb;
	int r = mt_inject_run(&in);

	if (r == MT_INJECT_NONE)
		return mt_error("process %d is not being profiled by memtide attach", (int)pid);
	if (r == MT_INJECT_NOT_OURS)
		return mt_error("process %d is profiled by memtide run or a Tracker, which end "
				"with it: detach only ends what attach started", (int)pid);
	if (r != MT_INJECT_OK)
		return mt_error("cannot detach from process %d: %s", (int)pid, in.message);
	if (!quiet)
		fprintf(stderr, "memtide: detached from process %d; capture written to %s (%s)\n"
				"memtide: look at it with: memtide stats %s\n", (int)pid, in.message,
			stat(in.message, &sb) == 0 ?
			mt_fmt_size(size, sizeof(size), (uint64_t)sb.st_size) : "?", in.message);
	return 0;
}

int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char msg[1024];
	int c, quiet = 0;
	pid_t pid;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'q':
			quiet = 1;
			break;
		default:
			return mt_usage_error("detach", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return mt_usage_error("detach", "no process id");
	if (optind + 1 < argc)
		return mt_usage_error("detach", "one process id only, not '%s'", argv[optind + 1]);
	if ((pid = mt_inject_pid(argv[optind])) < 0)
		return mt_usage_error("detach", "'%s' is not a process id", argv[optind]);
	if (mt_inject_check(pid, msg, sizeof(msg)) < 0)
		return mt_error("cannot detach: %s", msg);
	return mt_detach(pid, quiet);
}
