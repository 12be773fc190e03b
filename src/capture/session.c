/*
 * session.c - a capture session of libmemtide.so: start-up under
 * LD_PRELOAD from the variables memtide run sets (which are then taken out
 * of the environment), or in-process from memtide.Tracker through the
 * exported API (memtide_tracker_start/stop, memtide_step,
 * memtide_step_expect and memtide_step_counters, the guard and record calls of the Python allocator
 * wrappers); fork handling and shutdown.
 */

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "memtide/format.h"
#include "pyhelper.h"
#include "aggregate.h"
#include "tracker.h"

/* Read on every event, written once per session: kept apart from locks. */
_Alignas(64) atomic_int mt_active;
int mt_native_stacks;
uintptr_t mt_self_base;
uintptr_t mt_self_lo, mt_self_hi;
__thread int mt_in_hook MT_TLS;
const struct mt_pyhelper *mt_py;
int mt_tpa_pending;

static struct {
	pid_t pid;
	int native;
	int follow_fork;
	int attached;		/* started in a running program: earlier blocks unknown */
	uint64_t sample_rate;	/* --sample-rate, 0: every allocation */
	uint64_t next_sample_rate;	/* memtide_tracker_sample(): for the next start */
	char output[4096];
	char root[4096];	/* the run's first capture: children are named after it */
	char session[64];	/* MEMTIDE_SESSION: shared by the run's captures */
	int session_written;	/* the meta log holds a session key */
	struct mt_exec_config exec;	/* --follow-exec: what exec'd programs get */
	atomic_int shut;
	int open;		/* the writer was started */
} g;

/*
 * Where our own code lies, read from our own ELF header (no loader lock:
 * this may run inside another library's constructor).
 */
extern const char __ehdr_start[];	/* by the linker: our first bytes */

static void self_range(void)
{
	const ElfW(Ehdr) *eh = (const void *)__ehdr_start;
	const ElfW(Phdr) *ph = (const void *)(__ehdr_start + eh->e_phoff);
	uintptr_t base = 0;
	int first = 1;

	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (first)
			base = (uintptr_t)eh - (ph[i].p_vaddr - ph[i].p_offset);
		first = 0;
		if (ph[i].p_flags & PF_X) {
			mt_self_lo = base + ph[i].p_vaddr;
			mt_self_hi = mt_self_lo + ph[i].p_memsz;
		}
	}
	mt_self_base = base;
}

static void record_command_line(void)
{
	char buf[8192];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return;
	for (ssize_t i = 0; i < n - 1; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = '\0';
	mt_meta_kv("command", buf);
}

/*
 * Loads the helper built for the interpreter in this process, if any, from
 * dir (a directory holding memtide/_memtide.cpython-XY-...so): 0 (mt_py
 * set, or no Python here), or -1 with the reason in err.
 */
int mt_load_python_helper(const char *dir, char *err, size_t errlen)
{
	const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
	char path[4200];
	int major = 0, minor = 0;
	void *h;

	if (!version)
		return 0;
	if (sscanf(version(), "%d.%d", &major, &minor) != 2)
		return 0;
	if (!dir)
		return 0;
	snprintf(path, sizeof(path), "%s/memtide/_memtide.cpython-%d%d-x86_64-linux-gnu.so",
		 dir, major, minor);
	h = mt_real.dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h)
		mt_py = dlsym(h, MT_PYHELPER_SYMBOL);
	if (!mt_py || mt_py->abi != MT_PYHELPER_ABI ||
	    mt_py->version != major * 100 + minor) {
		snprintf(err, errlen, "no support for Python %d.%d in this build (%s): "
			 "rebuild with 'make PYTHONS=/path/to/python%d.%d'",
			 major, minor, path, major, minor);
		mt_py = NULL;
		return -1;
	}
	return 0;
}

/* Puts LD_PRELOAD back as it was and drops memtide's variables. */
static void restore_environment(void)
{
	const char *orig = getenv("MEMTIDE_LD_PRELOAD");

	if (orig && *orig)
		setenv("LD_PRELOAD", orig, 1);
	else
		unsetenv("LD_PRELOAD");
	unsetenv("MEMTIDE_LD_PRELOAD");
	unsetenv("MEMTIDE_OUTPUT");
	unsetenv("MEMTIDE_NATIVE");
	unsetenv("MEMTIDE_FOLLOW_FORK");
	unsetenv("MEMTIDE_TRACE_PYTHON");
	unsetenv("MEMTIDE_PYDIR");
	unsetenv("MEMTIDE_STATUS_FD");
	unsetenv("MEMTIDE_SESSION");
	unsetenv("MEMTIDE_FOLLOW_EXEC");
	unsetenv("MEMTIDE_ROOT_OUTPUT");
	unsetenv("MEMTIDE_SAMPLE_RATE");
	unsetenv("MEMTIDE_AGGREGATE");
}

/*
 * With --follow-exec, what a program this process starts needs to be
 * tracked too, kept before the environment is restored: exec.c puts it
 * back into that program's environment only (the program sees none).
 */
static void keep_exec_config(void)
{
	const char *follow = getenv("MEMTIDE_FOLLOW_EXEC"), *v;
	Dl_info info;

	if (!follow || (strcmp(follow, "auto") && strcmp(follow, "native")) ||
	    !dladdr((void *)keep_exec_config, &info) || !info.dli_fname)
		return;
	snprintf(g.exec.lib, sizeof(g.exec.lib), "%s", info.dli_fname);
	snprintf(g.exec.follow, sizeof(g.exec.follow), "%s", follow);
	v = getenv("MEMTIDE_PYDIR");
	snprintf(g.exec.pydir, sizeof(g.exec.pydir), "%s", v ? v : "");
	g.exec.follow_fork = g.follow_fork;
	v = getenv("MEMTIDE_TRACE_PYTHON");
	g.exec.trace_python = v && !strcmp(v, "1");
	g.exec.session = g.session;
	g.exec.root = g.root;
	g.exec.sample_rate = g.sample_rate;
}

const struct mt_exec_config *mt_exec_config(void)
{
	return g.exec.lib[0] ? &g.exec : NULL;
}

/* The native stacks of a process that turned out not to run Python. */
static void native_on(void)
{
	static int unwind_ready;

	if (!unwind_ready)
		mt_unwind_init();
	unwind_ready = 1;
	g.native = mt_native_stacks = 1;
}

/* The wall-clock time event times count from (the writer's start). */
static void start_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	mt_meta_kv_num("start_unix_ns", (unsigned long long)ts.tv_sec * 1000000000ull +
				     (unsigned long long)ts.tv_nsec);
}

/*
 * Blocks the signals memtide ends a capture on, but those of faults (they
 * would kill at once anyway): a signal that comes while a capture opens
 * or closes waits until it is done, then acts as it would have.
 */
static void hold_signals(sigset_t *old)
{
	sigset_t set;

	mt_signals_set(&set);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGILL);
	sigdelset(&set, SIGFPE);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static __thread sigset_t fork_mask;	/* the forking thread's, around fork() */

static void fork_prepare(void)
{
	hold_signals(&fork_mask);	/* a new child opens its capture first */
	mt_in_hook++;
	if (atomic_load(&mt_active))
		mt_writer_pause();
	pthread_mutex_lock(&mt_registry_lock);
	pthread_mutex_lock(&mt_meta_lock);
	pthread_mutex_lock(&mt_pool_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&mt_pool_lock);
	pthread_mutex_unlock(&mt_meta_lock);
	pthread_mutex_unlock(&mt_registry_lock);
	if (atomic_load(&mt_active))
		mt_writer_resume(mt_py && mt_py->version >= 312 ? 10000000 : 0);
	mt_in_hook--;
	pthread_sigmask(SIG_SETMASK, &fork_mask, NULL);
}

/*
 * The capture of a process that the run's first one (root, "NAME.tide")
 * started: "NAME.PID.tide", whatever generation it is.  A pid that has
 * had a capture already (an exec'd image, a reused pid) gets
 * "NAME.PID.2.tide", then 3...  Sequential (a pid is one process at a
 * time), so checking for the file is enough; no allocation (fork child).
 */
static void child_output(char *out, size_t cap, const char *root, pid_t pid)
{
	const char *slash = strrchr(root, '/');
	const char *base = slash ? slash + 1 : root;
	const char *dot = strrchr(base, '.');
	int stem = dot && dot != base ? (int)(dot - root) : (int)strlen(root);
	const char *ext = root + stem;

	snprintf(out, cap, "%.*s.%d%s", stem, root, (int)pid, ext);
	for (int k = 2; k < 10000 && access(out, F_OK) == 0; k++)
		snprintf(out, cap, "%.*s.%d.%d%s", stem, root, (int)pid, k, ext);
}

static void fork_child(void)
{
	pthread_mutex_init(&mt_pool_lock, NULL);
	pthread_mutex_init(&mt_registry_lock, NULL);
	pthread_mutex_init(&mt_meta_lock, NULL);
	if (!atomic_load(&mt_active) || !g.follow_fork) {
		atomic_store(&mt_active, 0);
		mt_in_hook--;
		pthread_sigmask(SIG_SETMASK, &fork_mask, NULL);
		return;
	}
	mt_threads_after_fork_child();
	mt_sample_after_fork_child();
	mt_meta_kv_num("ppid", (unsigned long long)g.pid);
	g.pid = getpid();
	child_output(g.output, sizeof(g.output), g.root, g.pid);
	mt_meta_kv_num("pid", (unsigned long long)g.pid);
	start_time();	/* the child's times count from here */
	mt_writer_after_fork_child(g.output);
	mt_in_hook--;
	pthread_sigmask(SIG_SETMASK, &fork_mask, NULL);
}

/*
 * The first half of a session: what recording events needs.  From then on
 * events wait in their threads' blocks until session_open() starts the
 * writer.  -1 on failure.
 */
static int session_setup(const char *output, const char *root, int native, int follow_fork,
			 uint64_t sample_rate)
{
	static int once;

	snprintf(g.output, sizeof(g.output), "%s", output);
	snprintf(g.root, sizeof(g.root), "%s", root ? root : output);
	g.native = native;
	g.follow_fork = follow_fork;
	g.pid = getpid();
	atomic_store(&g.shut, 0);
	if (!once) {
		if (mt_threads_init() < 0)
			return -1;
		self_range();
		once = 1;
	}
	if (native)
		native_on();
	mt_native_stacks = native;
	g.sample_rate = sample_rate;
	return mt_sample_setup(sample_rate, getenv("MEMTIDE_SAMPLE_SEED"));
}

/* The second half: the capture's META records, modules, the writer. */
static int session_open(void)
{
	static int once;
	const char *(*py_version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
	char cwd[PATH_MAX];

	mt_meta_kv("format", "memtide capture");
	mt_meta_kv_num("pid", (unsigned long long)g.pid);
	mt_meta_kv_num("ppid", (unsigned long long)getppid());
	/* the log holds an earlier Tracker's session too: "" undoes it */
	if (g.session[0] || g.session_written)
		mt_meta_kv("session", g.session);
	g.session_written |= g.session[0] != 0;
	start_time();
	mt_meta_kv("native", g.native ? "1" : "0");
	if (py_version)
		mt_meta_kv("python", py_version());
	record_command_line();
	if (getcwd(cwd, sizeof(cwd)))	/* reports show paths relative to it */
		mt_meta_kv("cwd", cwd);
	if (g.attached)
		mt_meta_kv("attached", "1");
	if (g.sample_rate)	/* readers weigh each heap block by it */
		mt_meta_kv_num("sample_rate", (unsigned long long)g.sample_rate);
	mt_modules_changed();
	if (mt_writer_start(g.output) < 0) {
		atomic_store(&mt_active, 0);
		return -1;
	}
	if (!once)
		pthread_atfork(fork_prepare, fork_parent, fork_child);
	once = 1;
	g.open = 1;
	atomic_store(&mt_active, 1);
	return 0;
}

/*
 * Under LD_PRELOAD, tracking starts at the first hooked call, which may
 * come from another library's constructor, run before ours (the loader
 * initializes a preloaded library after the program's dependencies):
 * the environment is read and events are recorded from there on; our
 * constructor (mt_tracker_init) then opens the capture.  Only getenv and
 * what needs no lock of the loader's run here.
 */
atomic_int mt_started;

void mt_tracker_early(void)
{
	static atomic_int claimed;
	static char derived[sizeof(g.output)];
	const char *out, *root, *v;
	int native, follow;

	if (atomic_exchange(&claimed, 1))
		return;		/* another thread is at it: its events start later */
	mt_in_hook++;
	out = getenv("MEMTIDE_OUTPUT");
	root = getenv("MEMTIDE_ROOT_OUTPUT");
	if (root && *root) {	/* started by a tracked program (--follow-exec) */
		child_output(derived, sizeof(derived), root, getpid());
		out = derived;
	} else {
		root = NULL;
	}
	if (out && *out) {
		v = getenv("MEMTIDE_SESSION");
		snprintf(g.session, sizeof(g.session), "%s", v ? v : "");
		v = getenv("MEMTIDE_NATIVE");
		native = v && !strcmp(v, "1");
		v = getenv("MEMTIDE_FOLLOW_FORK");
		follow = v && !strcmp(v, "1");
		mt_agg_from_env();
		v = getenv("MEMTIDE_SAMPLE_RATE");
		if (session_setup(out, root, native, follow, v ? strtoull(v, NULL, 10) : 0) == 0)
			atomic_store(&mt_active, 1);
	}
	atomic_store(&mt_started, 1);
	mt_in_hook--;
}

/* Start-up under LD_PRELOAD, from the variables memtide run sets. */
int mt_tracker_init(void)
{
	mt_tracker_early();
	while (!atomic_load(&mt_started))
		sched_yield();
	if (!atomic_load(&mt_active))
		return 0;
	char err[4400];

	if (mt_load_python_helper(getenv("MEMTIDE_PYDIR"), err, sizeof(err)) < 0) {
		mt_warn("%s", err);
		restore_environment();
		_exit(2);
	}
	/* "auto": a program started by a tracked one, native stacks unless
	 * it runs Python, as memtide run decides for the first one */
	if (!mt_py && getenv("MEMTIDE_NATIVE") && !strcmp(getenv("MEMTIDE_NATIVE"), "auto") &&
	    !dlsym(RTLD_DEFAULT, "Py_GetVersion"))
		native_on();
	mt_tpa_pending = mt_py && getenv("MEMTIDE_TRACE_PYTHON") &&
			!strcmp(getenv("MEMTIDE_TRACE_PYTHON"), "1");
	mt_writer_status_fd(getenv("MEMTIDE_STATUS_FD"));
	keep_exec_config();
	restore_environment();
	if (session_open() < 0)
		return -1;
	mt_signals_install();
	return 0;
}

/*
 * The in-process API, for memtide.Tracker and memtide attach (attach.c):
 * libmemtide.so is dlopen()ed (no LD_PRELOAD) and the allocator calls of
 * every loaded object are redirected through their GOT slots.  Returns 0,
 * or -1 with a reason.
 */
int mt_tracker_start(const char *path, int native, int follow_fork, int attached,
		     uint64_t sample_rate, const char *session, char *err, size_t errlen)
{
	int rc;

	mt_in_hook++;
	errno = 0;
	snprintf(g.session, sizeof(g.session), "%s", session ? session : "");
	rc = session_setup(path, NULL, native, follow_fork, sample_rate);
	g.attached = attached;
	if (rc == 0)
		rc = session_open();
	if (rc < 0)
		snprintf(err, errlen, "cannot write capture '%s': %s", path,
			 errno ? strerror(errno) : "writer failed");
	else if (mt_got_install() < 0) {
		snprintf(err, errlen, "cannot install the allocation hooks");
		mt_tracker_shutdown();
		rc = -1;
	}
	mt_in_hook--;
	return rc;
}

__attribute__((visibility("default")))
int memtide_tracker_start(const char *path, int native, int follow_fork, const char *session,
			  const void *pyhelper, char *err, size_t errlen)
{
	uint64_t rate;

	mt_resolve();
	if (atomic_load(&mt_active)) {
		snprintf(err, errlen, "a memtide tracker is already running in this process");
		return -1;
	}
	mt_py = pyhelper;
	rate = g.next_sample_rate;
	g.next_sample_rate = 0;
	return mt_tracker_start(path, native, follow_fork, 0, rate, session, err, errlen);
}

/* The next memtide_tracker_start() samples every rate bytes (sample.c). */
__attribute__((visibility("default")))
void memtide_tracker_sample(uint64_t rate)
{
	g.next_sample_rate = rate;
}

__attribute__((visibility("default")))
int memtide_tracker_stop(void)
{
	if (!atomic_load(&mt_active))
		return -1;
	mt_in_hook++;
	mt_got_remove();
	mt_tracker_shutdown();
	mt_in_hook--;
	return 0;
}

__attribute__((visibility("default")))
int memtide_tracker_active(void)
{
	return atomic_load(&mt_active);
}

/*
 * A pipeline step begins (name NULL or "": outside steps).  An estimate of
 * the step's peak above its start (expect) goes first, as a META record
 * naming the step's string: the meta log reaches the file before any event
 * emitted after it, so readers meet it before the step's STEP event.
 */
static int step_begin(const char *name, int expect, uint64_t expected)
{
	struct mt_thread *t;
	uint32_t id = 0;

	if (!atomic_load(&mt_active) || mt_in_hook || (expect && (!name || !*name)))
		return -1;
	mt_in_hook = 1;
	t = mt_current_thread();
	if (t && name && *name) {
		pthread_mutex_lock(&mt_meta_lock);
		id = mt_intern_string(name);
		if (expect) {
			char v[48];

			snprintf(v, sizeof(v), "%u %llu", id, (unsigned long long)expected);
			mt_meta_record(MT_REC_META, 0, NULL, "step_expected_bytes", v);
		}
		pthread_mutex_unlock(&mt_meta_lock);
	}
	if (t)	/* the stack field carries the RSS, in pages */
		mt_emit(t, MT_EV_STEP, id, mt_now_ns(), (uint32_t)(mt_rss_bytes() / 4096));
	mt_in_hook = 0;
	return t ? 0 : -1;
}

/* Marks the start of a pipeline step (name NULL or "": outside steps). */
__attribute__((visibility("default")))
int memtide_step(const char *name)
{
	return step_begin(name, 0, 0);
}

/*
 * The hardware counters of the step named name that has just ended
 * (memtide.step(perf=True)), as the program read them: META step_counters
 * "ID CYCLES INSTRUCTIONS REFERENCES MISSES", '-' for one not counted
 * (negative).  The k-th record naming a step belongs to its k-th run.
 */
__attribute__((visibility("default")))
int memtide_step_counters(const char *name, const int64_t counts[4])
{
	char v[128];
	int len;

	if (!atomic_load(&mt_active) || mt_in_hook || !name || !*name)
		return -1;
	mt_in_hook = 1;
	pthread_mutex_lock(&mt_meta_lock);
	len = snprintf(v, sizeof(v), "%u", mt_intern_string(name));
	for (int i = 0; i < 4; i++)
		len += counts[i] < 0 ? snprintf(v + len, sizeof(v) - (size_t)len, " -") :
			snprintf(v + len, sizeof(v) - (size_t)len, " %lld", (long long)counts[i]);
	mt_meta_record(MT_REC_META, 0, NULL, "step_counters", v);
	pthread_mutex_unlock(&mt_meta_lock);
	mt_in_hook = 0;
	return 0;
}

/*
 * The same, with the program's estimate of how far the heap will go above
 * its level at the step's start (`memtide steps` compares the two); name
 * must not be empty.
 */
__attribute__((visibility("default")))
int memtide_step_expect(const char *name, uint64_t expected_bytes)
{
	return step_begin(name, 1, expected_bytes);
}

/*
 * For the Python allocator wrappers of the helper: enter() before calling
 * the wrapped allocator (so its own malloc/mmap calls are not recorded),
 * then record the block and leave().
 */
__attribute__((visibility("default")))
int memtide_guard_enter(void)
{
	if (!atomic_load_explicit(&mt_active, memory_order_relaxed) || mt_in_hook)
		return 0;
	mt_in_hook = 1;
	return 1;
}

__attribute__((visibility("default")))
void memtide_guard_leave(void)
{
	mt_in_hook = 0;
}

__attribute__((visibility("default")))
void memtide_record_pymalloc(void *p, size_t n)
{
	if (!p)
		return;
	if (!mt_sample_take(n))
		return;
	if (mt_sample_rate)
		mt_sample_note(p);
	if (mt_native_stacks && !MT_SIG_COUNTING()) {
		void *ips[MT_MAX_NATIVE + 4];
		int k = unw_backtrace(ips, MT_MAX_NATIVE + 4);

		mt_record_alloc(MT_EV_PYMALLOC, p, n, ips, k);
	} else {
		mt_record_alloc(MT_EV_PYMALLOC, p, n, NULL, 0);
	}
}

__attribute__((visibility("default")))
void memtide_record_pyfree(void *p)
{
	if (p && mt_sample_free(p))
		mt_record_free(MT_EV_FREE, p, 0);
}

/* Says in the capture and on stderr what could not be recorded. */
static void report_dropped(void)
{
	uint64_t n = atomic_load(&mt_dropped);

	mt_signals_report(mt_meta_kv_num);
	if (!n)
		return;
	mt_meta_kv_num("dropped_events", n);
	mt_warn("%llu events could not be recorded: out of address space "
		"(the capture is incomplete)", (unsigned long long)n);
}

const char *mt_tracker_output(void)
{
	return g.output;
}

int mt_tracker_owner(void)
{
	return atomic_load(&mt_active) && getpid() == g.pid && !atomic_load(&g.shut);
}

int64_t mt_tracker_end(const char *ended_by, int dying)
{
	if (!mt_tracker_owner() || atomic_exchange(&g.shut, 1))
		return -1;
	if (dying)
		atomic_store(&mt_active, 0);
	return mt_writer_finish(ended_by, dying);
}

void mt_tracker_unend(int64_t mark)
{
	mt_writer_unfinish(mark);
	atomic_store(&g.shut, 0);
}

void mt_tracker_shutdown(void)
{
	sigset_t old;

	/* exit from a handler that interrupted memtide: what it holds is
	 * not waited for, as when the program dies of a signal */
	if (MT_SIG_COUNTING()) {
		mt_tracker_end(NULL, 1);
		return;
	}
	if (!atomic_load(&mt_active) || !g.open || getpid() != g.pid ||
	    atomic_exchange(&g.shut, 1))
		return;
	atomic_store(&mt_active, 0);
	g.open = 0;
	/* a signal now (a Pool's SIGTERM to a worker that is exiting) would
	 * kill the process in the middle of the last round */
	hold_signals(&old);
	report_dropped();
	mt_writer_stop();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

__attribute__((constructor)) static void memtide_start(void)
{
	mt_in_hook = 1;
	mt_resolve();
	mt_tracker_init();
	mt_in_hook = 0;
}

__attribute__((destructor)) static void memtide_stop(void)
{
	mt_in_hook = 1;
	mt_tracker_shutdown();
}
