/*
 * inject.h - what `memtide attach` and `memtide detach` share: checks on
 * the target process, and driving gdb to call the tracker inside it.
 */
#ifndef MT_INJECT_H
#define MT_INJECT_H

#include <stddef.h>
#include <sys/types.h>

enum mt_inject_result {
	MT_INJECT_OK,		/* done (detach: message holds the capture path) */
	MT_INJECT_ALREADY,	/* attach: already profiled (message says by what) */
	MT_INJECT_NOT_OURS,	/* detach: profiled by memtide run or a Tracker */
	MT_INJECT_NONE,		/* detach: not profiled */
	MT_INJECT_FAILED,	/* message holds the one-line reason */
};

struct mt_inject {
	pid_t pid;
	int attach;		/* 1: start tracking, 0: stop it */
	const char *lib;	/* attach: libmemtide.so to load */
	const char *output;	/* attach: the capture file (absolute) */
	const char *pydir;	/* attach: where the Python helpers are */
	int native;		/* attach: native stacks for Python too */
	unsigned long long sample_rate;	/* attach: --sample-rate, 0: none */
	char message[2048];
};

/*
 * Checks that pid is a process gdb can attach to here: it exists, it is
 * dynamically linked, nobody traces it, ptrace is allowed, gdb is
 * installed.  0, or -1 with a one-line reason in msg.
 */
int mt_inject_check(pid_t pid, char *msg, size_t cap);

/* Runs gdb on the process (retrying while every thread is busy in the
 * allocator or the loader); returns an enum mt_inject_result. */
int mt_inject_run(struct mt_inject *in);

/* Parses a pid argument; -1 when it is not one. */
pid_t mt_inject_pid(const char *arg);

/* Stops the capture attach started (cmd_detach.c) and says where it went;
 * 0, or an error printed and 1. */
int mt_detach(pid_t pid, int quiet);

#endif
