/*
 * tracker.h - the inside of libmemtide.so, what crosses its files: the
 * hooks (hooks.c, got.c) call mt_record_*; the tracker buffers events per
 * thread (threads.c), interns stacks (intern.c) and modules (modules.c)
 * into the meta log (meta.c), within a session (session.c); the writer
 * thread (writer.c) drains it all.  Everything here runs in the profiled
 * process.
 */
#ifndef MT_TRACKER_H
#define MT_TRACKER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#define MT_TLS __attribute__((tls_model("initial-exec")))
#define MT_LIKELY(x) __builtin_expect(!!(x), 1)
#define MT_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Real allocator entry points, resolved by hooks.c. */
struct mt_real {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	void *(*mmap)(void *, size_t, int, int, int, long);
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	int (*mprotect)(void *, size_t, int);
	void *(*dlopen)(const char *, int);
	int (*dlclose)(void *);
	void (*exit_)(int);
	int (*pthread_setname_np)(pthread_t, const char *);
	int (*prctl)(int, unsigned long, unsigned long, unsigned long, unsigned long);
};
extern struct mt_real mt_real;
void mt_resolve(void);

/* The hooks by the name of the function each replaces (hooks.c). */
struct mt_hook {
	const char *name;
	void *fn;
};
extern const struct mt_hook mt_hooks[];

/* got.c: hooking by patching GOT slots, for trackers started in-process */
int mt_got_install(void);
void mt_got_refresh(void);
void mt_got_remove(void);
extern uintptr_t mt_self_base;	/* load address of libmemtide.so */

/* Set while tracking: hooks record only when this is non-zero. */
extern atomic_int mt_active;

/* Per-thread re-entrancy guard: hooks called from inside memtide pass through. */
extern __thread int mt_in_hook MT_TLS;

/* One event as the hot path stores it; the writer encodes it. */
struct mt_rawev {
	uint64_t seq;		/* global order */
	uint64_t addr;
	uint64_t size;
	uint32_t stack;
	uint8_t kind;
};

/* Events an owning thread appends to, in blocks the writer steals. */
#define MT_BLOCK_SIZE (256u << 10)
#define MT_BLOCK_EVENTS ((MT_BLOCK_SIZE - 16) / sizeof(struct mt_rawev))
struct mt_block {
	struct mt_block *next;
	uint32_t len;		/* events used */
	struct mt_rawev ev[MT_BLOCK_EVENTS];
};

struct mt_thread {
	atomic_int lock;		/* owner per event, writer per round */
	uint32_t index;			/* thread number in the capture */
	int dead;			/* thread exited; writer frees it */
	struct mt_block *cur;		/* block being filled */
	struct mt_block *full, **full_tail; /* filled blocks, oldest first */
	struct mt_stackcache *sc;	/* per-thread stack interning cache */
	struct mt_thread *next;		/* registry list */
	pthread_t self;			/* for pthread_setname_np from elsewhere */
	pid_t tid;
	/* the writer's own, on another cache line: it writes them per run of
	 * events it merges, and reads nothing above per event (merge) */
	_Alignas(64) struct mt_block *stolen;	/* taken by the writer, not yet written */
	uint32_t pos;			/* next event of stolen to write */
};

/* Memory for the tracker: never malloc. */
static inline void *mt_raw_alloc(size_t n)
{
	void *p = mt_real.mmap(NULL, n, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static inline void mt_raw_free(void *p, size_t n)
{
	if (p)
		mt_real.munmap(p, n);
}

/* session.c: start-up, fork, shutdown */
#define MT_MAX_NATIVE 128	/* deeper native stacks keep their innermost frames */
extern int mt_native_stacks;	/* unwind native stacks (set at start-up) */
extern uintptr_t mt_self_lo, mt_self_hi;	/* our own code, skipped in native stacks */
extern const struct mt_pyhelper *mt_py;	/* helper of this process's Python, or NULL */
extern int mt_tpa_pending;	/* Python's allocators still to be wrapped */
extern int mt_pynames_done;	/* threading names threads, or is not to (attach) */
extern atomic_int mt_started;	/* the environment was read */
void mt_tracker_early(void);	/* from the first hook: start recording */
int mt_tracker_init(void);
void mt_tracker_shutdown(void);
/* A session started in-process (Tracker, attach), sampling every
 * sample_rate bytes (0: none), its captures marked with session (NULL:
 * none); 0, or -1 and err says why. */
int mt_tracker_start(const char *path, int native, int follow_fork, int attached,
		     uint64_t sample_rate, const char *session, char *err, size_t errlen);
/* The helper for this process's Python from dir; 0 when there is no Python. */
int mt_load_python_helper(const char *dir, char *err, size_t errlen);
int mt_tracker_owner(void);	/* this process's capture is live */
const char *mt_tracker_output(void);	/* the capture file being written */
/* The last flush of a process that will not reach exit (signals.c, exec.c;
 * ended_by NULL: an exit from a handler that interrupted memtide);
 * -1, or the mark for mt_tracker_unend() (a failed exec). */
int64_t mt_tracker_end(const char *ended_by, int dying);
void mt_tracker_unend(int64_t mark);
/* --follow-exec: what a program the process starts gets (exec.c) */
struct mt_exec_config {
	char lib[4096];		/* libmemtide.so, as preloaded */
	char pydir[4096];	/* MEMTIDE_PYDIR */
	char follow[8];		/* "auto" (native stacks unless Python) or "native" */
	int follow_fork, trace_python;
	uint64_t sample_rate;	/* --sample-rate, 0: every allocation */
	const char *session, *root;	/* the run's session id and first capture */
};
const struct mt_exec_config *mt_exec_config(void);	/* NULL: not following */

/* threads.c: per-thread records and blocks, the hot path */
/* ips: return addresses from the hook's frame outwards (native stacks only) */
void mt_record_alloc(unsigned kind, const void *addr, size_t size, void **ips, int nips);
void mt_record_free(unsigned kind, const void *addr, size_t size);
void mt_thread_set_name(const char *name);
void mt_thread_set_name_of(pthread_t target, const char *name);
struct mt_thread *mt_current_thread(void);	/* NULL once the thread has exited */
void mt_emit(struct mt_thread *t, unsigned kind, uintptr_t addr, uint64_t size, uint32_t stack);
int mt_threads_init(void);
void mt_threads_after_fork_child(void);
extern pthread_mutex_t mt_pool_lock;
/* events and records lost for lack of memory (an mmap failed) */
extern atomic_uint_fast64_t mt_dropped;

/* intern.c: strings, frames, nodes; stacks */
uint64_t mt_str_hash(const char *s, size_t n);
uint32_t mt_intern_string(const char *s);	/* caller holds mt_meta_lock */
uint32_t mt_capture_stack(struct mt_thread *t, void **ips, int nips);
extern const size_t mt_stackcache_size;

/* modules.c */
void mt_modules_changed(void);
extern _Atomic uint64_t mt_module_gen;

/* meta.c: the meta log */
extern pthread_mutex_t mt_meta_lock;
/* a record of a tag, up to four varints, up to two strings; caller holds mt_meta_lock */
void mt_meta_record(int tag, int nint, const uint64_t *ints, const char *s1, const char *s2);
void mt_meta_append(const uint8_t *recs, size_t n);	/* caller holds mt_meta_lock */
void mt_meta_kv(const char *k, const char *v);	/* META records; take the lock */
void mt_meta_kv_num(const char *k, unsigned long long v);
uint8_t *mt_put_str(uint8_t *p, const char *s, size_t n);

/* Registry and meta log, for the writer (threads.c, meta.c). */
extern pthread_mutex_t mt_registry_lock;
extern struct mt_thread *mt_threads;
extern struct mt_seq_line {
	_Alignas(64) atomic_uint_fast64_t seq;
	char pad[64 - sizeof(atomic_uint_fast64_t)];
} mt_seq_line;
#define mt_seq (mt_seq_line.seq)
struct mt_block *mt_block_get(void);
void mt_block_put(struct mt_block *b);
void mt_thread_unlock(struct mt_thread *t);
void mt_thread_free(struct mt_thread *t);
size_t mt_meta_drain(uint8_t **out, size_t *off, int (*lock)(pthread_mutex_t *));

/* writer.c */
int mt_writer_start(const char *path);
void mt_writer_stop(void);
void mt_writer_after_fork_child(const char *path);
int64_t mt_writer_finish(const char *ended_by, int dying);
void mt_writer_unfinish(int64_t mark);
void mt_writer_status_fd(const char *fd);
void mt_writer_pause(void);
void mt_writer_resume(uint64_t delay_ns);
void mt_writer_resume_due(void);
int mt_writer_running(void);
extern atomic_int mt_blocks_waiting;	/* filled blocks not yet taken */
extern atomic_int mt_writer_paused;
uint64_t mt_now_ns(void);
uint64_t mt_rss_bytes(void);
void mt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* signals.c */
void mt_signals_install(void);
void mt_signals_set(sigset_t *set);	/* the signals memtide catches */
/*
 * While a program's handler runs: MT_SIG_COUNT when it interrupted memtide
 * holding something (a lock, libunwind, the stack cache): its events are
 * counted (mt_signals_count), not recorded; MT_SIG_RECORD when it
 * interrupted a hook's allocator call, which holds nothing of memtide's:
 * recorded, but nothing is started that could allocate (the allocator may
 * hold its own lock).  0 otherwise.
 */
enum { MT_SIG_COUNT = 1, MT_SIG_RECORD = 2 };
extern __thread int mt_sig_state MT_TLS;
extern __thread int mt_hook_calling MT_TLS;	/* in a hook's allocator call */
#define MT_SIG_COUNTING() MT_UNLIKELY(mt_sig_state == MT_SIG_COUNT)
void mt_signals_count(int is_free, uint64_t bytes);
/* The counts as META key/values, when there are any. */
void mt_signals_report(void (*kv)(const char *key, unsigned long long v));

/*
 * sample.c: byte sampling (--sample-rate).  mt_sample_rate is 0 when every
 * allocation is recorded.  Heap allocations only: mappings always are.
 */
#define MT_SAMPLE_BUCKETS (1u << 16)	/* of the filter of recorded blocks' frees */
extern uint64_t mt_sample_rate;
extern _Atomic uint8_t mt_sample_filter[MT_SAMPLE_BUCKETS];
extern __thread int64_t mt_sample_left MT_TLS;	/* bytes to the next sample */
int mt_sample_hit(size_t size);
void mt_sample_note(const void *addr);	/* a recorded block: its free will be */
int mt_sample_release(const void *addr);	/* its free: 1 when recorded */
int mt_sample_setup(uint64_t rate, const char *seed_text);
void mt_sample_after_fork_child(void);

/* Whether a heap allocation of size bytes is to be recorded. */
static inline int mt_sample_take(size_t size)
{
	if (MT_LIKELY(!mt_sample_rate))
		return 1;
	if (MT_LIKELY((mt_sample_left -= (int64_t)size) > 0))
		return 0;
	return mt_sample_hit(size);
}

static inline size_t mt_sample_bucket(uint64_t addr)
{
	return (size_t)(addr >> 4) & (MT_SAMPLE_BUCKETS - 1);
}

/* Recorded blocks live in addr's bucket (at least). */
static inline unsigned mt_sample_filter_at(const void *addr)
{
	return atomic_load_explicit(&mt_sample_filter[mt_sample_bucket((uintptr_t)addr)],
				    memory_order_relaxed);
}

/* Whether the free of the block at addr is to be recorded (called once
 * per free: a recorded block leaves the set of live ones). */
static inline int mt_sample_free(const void *addr)
{
	return MT_LIKELY(!mt_sample_rate) ||
	       (mt_sample_filter_at(addr) && mt_sample_release(addr));
}

/* unwind.c */
void mt_unwind_init(void);

#endif
