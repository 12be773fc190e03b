/*
 * signals.c - a capture survives the signals that end a program.  For
 * each signal whose default action kills the process, memtide keeps its
 * own handler installed underneath the program's: the program's
 * sigaction()/signal() calls are recorded as the program's disposition
 * (and returned to it as the old one), and memtide's handler runs the
 * program's handler when there is one.  When the disposition is the
 * default, the handler writes the last round and a capture that ENDs
 * with "ended_by: signal N", puts the default back and re-raises, so the
 * program dies as it would have (exit status, core dump).  A signal the
 * program ignores is ignored by the kernel, as without memtide.
 *
 * Every other signal the program handles goes through the same handler
 * (while the program's disposition is a handler), so that memtide knows
 * when a handler runs: a handler that interrupted a hook while it records
 * cannot record its own allocations (the hook may hold the thread's block
 * lock, the intern mutex, or be inside libunwind), so they are counted
 * instead and the capture says how many (META signal_dropped_*).
 *
 * Only for `memtide run` (LD_PRELOAD): an in-process Tracker leaves the
 * program's signals alone.
 */

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tracker.h"

#define EXPORT __attribute__((visibility("default")))

static const int caught[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGUSR1,
	SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGXCPU, SIGXFSZ,
};

static struct {
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	struct sigaction prog[NSIG];	/* the program's dispositions */
	char known[NSIG];		/* prog[] holds it (the signal exists) */
	int installed;
} s;

__thread int mt_sig_state MT_TLS;
__thread int mt_hook_calling MT_TLS;

/* What handlers that interrupted memtide could not record. */
static atomic_uint_fast64_t dropped_allocs, dropped_bytes, dropped_frees;

void mt_signals_count(int is_free, uint64_t bytes)
{
	if (is_free) {
		atomic_fetch_add_explicit(&dropped_frees, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&dropped_allocs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&dropped_bytes, bytes, memory_order_relaxed);
}

void mt_signals_report(void (*kv)(const char *key, unsigned long long v))
{
	uint64_t n = atomic_load(&dropped_allocs), f = atomic_load(&dropped_frees);

	if (!n && !f)
		return;
	kv("signal_dropped_allocations", n);
	kv("signal_dropped_bytes", atomic_load(&dropped_bytes));
	kv("signal_dropped_frees", f);
}

/* A child that goes on tracking starts a capture of its own. */
static void reset_counts(void)
{
	atomic_store(&dropped_allocs, 0);
	atomic_store(&dropped_bytes, 0);
	atomic_store(&dropped_frees, 0);
}

static atomic_int ending;	/* a thread is writing the capture's end */

static int is_caught(int sig)
{
	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
		if (caught[i] == sig)
			return 1;
	return 0;
}

void mt_signals_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
		sigaddset(set, caught[i]);
}

static int real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (!s.sigaction)
		*(void **)&s.sigaction = dlsym(RTLD_NEXT, "sigaction");
	if (!s.sigaction) {
		errno = ENOSYS;
		return -1;
	}
	return s.sigaction(sig, act, old);
}

static int is_handler(const struct sigaction *a)
{
	return (a->sa_flags & SA_SIGINFO) ? a->sa_sigaction != NULL
		: a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

static int is_ignored(const struct sigaction *a)
{
	return !(a->sa_flags & SA_SIGINFO) && a->sa_handler == SIG_IGN;
}

static void on_signal(int sig, siginfo_t *info, void *uc);

/*
 * memtide's handler, with the program's mask and flags.  A signal memtide
 * catches keeps it for good (SA_RESETHAND is done by on_signal); any
 * other has it only while the program's handler is set, and the kernel
 * resets it as it would the program's.
 */
static int arm(int sig, const struct sigaction *prog)
{
	struct sigaction ours;

	memset(&ours, 0, sizeof(ours));
	ours.sa_sigaction = on_signal;
	ours.sa_mask = prog->sa_mask;
	ours.sa_flags = prog->sa_flags | SA_SIGINFO;
	if (is_caught(sig))
		ours.sa_flags &= ~SA_RESETHAND;
	return real_sigaction(sig, &ours, NULL);
}

/* Whether memtide's handler stands in for disposition a of sig. */
static int wraps(int sig, const struct sigaction *a)
{
	return is_caught(sig) ? !is_ignored(a) : is_handler(a);
}

/* "signal 15 (SIGTERM)", without stdio: this runs in a handler. */
static void describe(char *out, int sig)
{
	const char *abbrev = sigabbrev_np(sig);
	char digits[12];
	int n = 0;

	strcpy(out, "signal ");
	do
		digits[n++] = (char)('0' + sig % 10);
	while ((sig /= 10));
	for (char *p = out + strlen(out); n; )
		*p++ = digits[--n], *p = '\0';
	if (abbrev) {
		strcat(out, " (SIG");
		strcat(out, abbrev);
		strcat(out, ")");
	}
}

/* The program dies of sig: the capture is ended, then sig is re-raised. */
static void die(int sig, siginfo_t *info)
{
	struct sigaction dfl;
	sigset_t set;
	char why[48];

	mt_in_hook = 1;
	if (!atomic_exchange(&ending, 1)) {
		describe(why, sig);
		mt_tracker_end(why, 1);
	} else {
		/* another thread is ending the capture: it kills us soon */
		struct timespec ms = { 0, 1000000 };

		for (int i = 0; i < 5000; i++)
			nanosleep(&ms, NULL);
	}
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	real_sigaction(sig, &dfl, NULL);
	/* a fault comes back when the instruction runs again */
	if ((sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) &&
	    info && info->si_code > 0)
		return;
	raise(sig);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/*
 * The program's handler runs outside the re-entry guard, so that its
 * allocations are recorded.  When the thread was inside memtide (the guard
 * was held: a hook, the tracker's start, ...), recording could deadlock on
 * what the interrupted code holds, so the handler's hooks only count their
 * events (MT_SIG_COUNT, which nested handlers inherit) -- unless the hook
 * was in its allocator call, where it holds nothing of memtide's
 * (MT_SIG_RECORD).  The guard is put back when the handler returns.
 */
static void run_handler(int sig, const struct sigaction *h, siginfo_t *info, void *uc)
{
	int in_hook = mt_in_hook, state = mt_sig_state, calling = mt_hook_calling;

	if (state == MT_SIG_COUNT || (in_hook && !calling))
		mt_sig_state = MT_SIG_COUNT;
	else if (in_hook)
		mt_sig_state = MT_SIG_RECORD;
	mt_in_hook = 0;
	mt_hook_calling = 0;
	atomic_signal_fence(memory_order_seq_cst);
	if (h->sa_flags & SA_SIGINFO)
		h->sa_sigaction(sig, info, uc);
	else
		h->sa_handler(sig);
	atomic_signal_fence(memory_order_seq_cst);
	mt_in_hook = in_hook;
	mt_sig_state = state;
	mt_hook_calling = calling;
}

static void on_signal(int sig, siginfo_t *info, void *uc)
{
	struct sigaction *p = &s.prog[sig];

	if (is_handler(p)) {
		struct sigaction h = *p;

		if (h.sa_flags & SA_RESETHAND) {
			memset(p, 0, sizeof(*p));
			p->sa_handler = SIG_DFL;
		}
		run_handler(sig, &h, info, uc);
		return;
	}
	/* a signal memtide does not catch, delivered as the program took its
	 * handler away: the program's new disposition is the kernel's now */
	if (!is_caught(sig))
		return;
	if (!is_ignored(p))
		die(sig, info);
}

/* Handlers set before this (by constructors run before ours) are wrapped too. */
void mt_signals_install(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP ||
		    real_sigaction(sig, NULL, &s.prog[sig]) < 0)
			continue;	/* and the signals the C library keeps */
		s.known[sig] = 1;
		if (wraps(sig, &s.prog[sig]))
			arm(sig, &s.prog[sig]);
	}
	pthread_atfork(NULL, NULL, reset_counts);
	s.installed = 1;
}

static int hook_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction prev;

	if (!s.installed || sig <= 0 || sig >= NSIG || !s.known[sig])
		return real_sigaction(sig, act, old);
	prev = s.prog[sig];
	if (act) {
		int rc = wraps(sig, act) ? arm(sig, act) : real_sigaction(sig, act, NULL);

		if (rc < 0)
			return rc;
		s.prog[sig] = *act;
	}
	if (old)
		*old = prev;
	return 0;
}

/* signal() as glibc has it: BSD semantics, through sigaction. */
static sighandler_t set_handler(int sig, sighandler_t h, int flags)
{
	struct sigaction act, old;

	if (sig <= 0 || sig >= NSIG || h == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = h;
	sigemptyset(&act.sa_mask);
	if (!(flags & SA_NODEFER))
		sigaddset(&act.sa_mask, sig);
	act.sa_flags = flags;
	if (hook_sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

static sighandler_t hook_signal(int sig, sighandler_t h)
{
	return set_handler(sig, h, SA_RESTART);
}

static sighandler_t hook_sysv_signal(int sig, sighandler_t h)
{
	return set_handler(sig, h, SA_RESETHAND | SA_NODEFER);
}

EXPORT int sigaction(int, const struct sigaction *, struct sigaction *)
	__attribute__((alias("hook_sigaction")));
EXPORT sighandler_t signal(int, sighandler_t) __attribute__((alias("hook_signal")));
EXPORT sighandler_t bsd_signal(int, sighandler_t) __attribute__((alias("hook_signal")));
EXPORT sighandler_t sysv_signal(int, sighandler_t) __attribute__((alias("hook_sysv_signal")));
