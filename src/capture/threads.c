/*
 * threads.c - the per-thread side of libmemtide.so: each thread's record
 * (registered at its first event, named, marked dead at exit for the
 * writer to free), the pool of event blocks, and the hot path itself,
 * mt_record_alloc/free, which appends an event to the calling thread's
 * own block under that thread's own lock, which only the writer ever
 * contends for, once per 10 ms round.
 */

#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "memtide/format.h"
#include "pyhelper.h"
#include "tracker.h"

/* On a cache line of its own: every event of every thread takes a number. */
struct mt_seq_line mt_seq_line = { 1 };
_Alignas(64) pthread_mutex_t mt_registry_lock = PTHREAD_MUTEX_INITIALIZER;
struct mt_thread *mt_threads;

static __thread struct mt_thread *tls_thread MT_TLS;
#define THREAD_GONE ((struct mt_thread *)1)
atomic_uint_fast64_t mt_dropped;
static pthread_key_t exit_key;
static uint32_t next_thread;

/* ---- block pool ---------------------------------------------------- */

pthread_mutex_t mt_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mt_block *pool;

struct mt_block *mt_block_get(void)
{
	struct mt_block *b;

	pthread_mutex_lock(&mt_pool_lock);
	b = pool;
	if (b)
		pool = b->next;
	pthread_mutex_unlock(&mt_pool_lock);
	if (!b) {
		b = mt_raw_alloc(sizeof(*b));
		if (!b)
			return NULL;
	}
	b->next = NULL;
	b->len = 0;
	return b;
}

void mt_block_put(struct mt_block *b)
{
	pthread_mutex_lock(&mt_pool_lock);
	b->next = pool;
	pool = b;
	pthread_mutex_unlock(&mt_pool_lock);
}

/* ---- threads ------------------------------------------------------- */

static void mt_thread_lock(struct mt_thread *t)
{
	while (atomic_exchange_explicit(&t->lock, 1, memory_order_acquire))
		while (atomic_load_explicit(&t->lock, memory_order_relaxed))
			__builtin_ia32_pause();
}

void mt_thread_unlock(struct mt_thread *t)
{
	atomic_store_explicit(&t->lock, 0, memory_order_release);
}

static void emit_thread_record(uint32_t index, pid_t tid, const char *name)
{
	uint64_t v[2] = { index, (uint64_t)tid };

	pthread_mutex_lock(&mt_meta_lock);
	mt_meta_record(MT_REC_THREAD, 2, v, name, NULL);
	pthread_mutex_unlock(&mt_meta_lock);
}

#define THREAD_SIZE (sizeof(struct mt_thread) + mt_stackcache_size)

/*
 * Records of exited threads, kept for new ones: a program that starts
 * threads by the thousand maps nothing per thread, and a new thread
 * starts with a warm stack cache (node ids are the same for every thread).
 */
static struct mt_thread *spare;

void mt_thread_free(struct mt_thread *t)
{
	pthread_mutex_lock(&mt_pool_lock);
	t->next = spare;
	spare = t;
	pthread_mutex_unlock(&mt_pool_lock);
}

static struct mt_thread *thread_alloc(void)
{
	struct mt_thread *t;

	pthread_mutex_lock(&mt_pool_lock);
	t = spare;
	if (t)
		spare = t->next;
	pthread_mutex_unlock(&mt_pool_lock);
	if (t) {
		struct mt_stackcache *sc = t->sc;

		memset(t, 0, sizeof(*t));
		t->sc = sc;
		return t;
	}
	t = mt_raw_alloc(THREAD_SIZE);
	if (t)
		t->sc = (struct mt_stackcache *)(t + 1);
	return t;
}

static struct mt_thread *thread_register(void)
{
	struct mt_thread *t = thread_alloc();
	char name[64] = "";

	if (!t)
		return NULL;
	t->cur = mt_block_get();
	t->full_tail = &t->full;
	if (!t->cur) {
		mt_thread_free(t);
		return NULL;
	}
	t->self = pthread_self();
	t->tid = (pid_t)syscall(SYS_gettid);
	pthread_mutex_lock(&mt_registry_lock);
	t->index = next_thread++;
	t->next = mt_threads;
	mt_threads = t;
	pthread_mutex_unlock(&mt_registry_lock);
	pthread_getname_np(pthread_self(), name, sizeof(name));
	emit_thread_record(t->index, t->tid, name);
	pthread_setspecific(exit_key, t);
	tls_thread = t;
	return t;
}

/* pthread key destructor: the thread's last events go with it. */
static void thread_exit(void *arg)
{
	struct mt_thread *t = arg;

	tls_thread = THREAD_GONE;
	mt_thread_lock(t);
	t->dead = 1;
	mt_thread_unlock(t);
}

/* Once per process, before the first thread registers. */
int mt_threads_init(void)
{
	return pthread_key_create(&exit_key, thread_exit) ? -1 : 0;
}

/*
 * In a forked child that goes on tracking: only the calling thread lives
 * on, and its unsent events belong to the parent.
 */
void mt_threads_after_fork_child(void)
{
	struct mt_thread *self = tls_thread;

	mt_threads = NULL;
	atomic_store(&mt_blocks_waiting, 0);
	if (self && self != THREAD_GONE) {
		atomic_store(&self->lock, 0);
		self->tid = (pid_t)syscall(SYS_gettid);
		self->cur->len = 0;
		self->full = NULL;
		self->full_tail = &self->full;
		self->stolen = NULL;
		self->pos = 0;
		self->next = NULL;
		mt_threads = self;
	}
}

void mt_thread_set_name(const char *name)
{
	struct mt_thread *t = tls_thread;

	/* not from a handler that interrupted memtide: the meta lock may be held */
	if (t && t != THREAD_GONE && !MT_SIG_COUNTING())
		emit_thread_record(t->index, t->tid, name);
}

/*
 * pthread_setname_np of another thread: its record, when it has one, is
 * named again (one that registers later reads its name then).
 */
void mt_thread_set_name_of(pthread_t target, const char *name)
{
	struct mt_thread *t;
	uint32_t index = 0;
	pid_t tid = 0;

	if (MT_SIG_COUNTING())
		return;
	pthread_mutex_lock(&mt_registry_lock);
	for (t = mt_threads; t && !tid; t = t->next) {
		if (!t->dead && pthread_equal(t->self, target)) {
			index = t->index;
			tid = t->tid;
		}
	}
	pthread_mutex_unlock(&mt_registry_lock);
	if (tid)	/* not the registry's lock and the meta one at once */
		emit_thread_record(index, tid, name);
}

/*
 * For the Python helper: names the calling thread after its
 * threading.Thread (which leaves the OS thread name alone).
 */
__attribute__((visibility("default")))
int memtide_thread_name(const char *name)
{
	struct mt_thread *t;

	if (!atomic_load(&mt_active) || mt_in_hook)
		return -1;
	mt_in_hook = 1;
	t = mt_current_thread();
	if (t)
		emit_thread_record(t->index, t->tid, name);
	mt_in_hook = 0;
	return t ? 0 : -1;
}

/* For the Python helper: names another thread (by its threading ident,
 * which is its pthread_t) that threading renamed. */
__attribute__((visibility("default")))
int memtide_thread_name_of(unsigned long ident, const char *name)
{
	if (!atomic_load(&mt_active) || mt_in_hook)
		return -1;
	mt_in_hook = 1;
	mt_thread_set_name_of((pthread_t)ident, name);
	mt_in_hook = 0;
	return 0;
}

/* ---- events -------------------------------------------------------- */

struct mt_thread *mt_current_thread(void)
{
	struct mt_thread *t = tls_thread;

	if (MT_UNLIKELY(!t) && !(t = thread_register())) {
		atomic_fetch_add(&mt_dropped, 1);	/* out of memory */
		return NULL;
	}
	return t == THREAD_GONE ? NULL : t;
}

/*
 * Filled blocks the writer has not taken yet.  Past MAX_WAITING (64 MiB of
 * events) a thread that fills another block waits for the writer, so a
 * program allocating faster than the writer encodes does not grow without
 * bound.
 */
#define MAX_WAITING 256
atomic_int mt_blocks_waiting;

/* Python threads named after their threading.Thread, or not to be. */
int mt_pynames_done;

static void wait_for_writer(void)
{
	struct timespec ms = { 0, 1000000 };

	while (atomic_load_explicit(&mt_blocks_waiting, memory_order_relaxed) > MAX_WAITING / 2 &&
	       atomic_load_explicit(&mt_active, memory_order_relaxed) && mt_writer_running()) {
		if (atomic_load_explicit(&mt_writer_paused, memory_order_relaxed))
			mt_writer_resume_due();
		nanosleep(&ms, NULL);
	}
}

void mt_emit(struct mt_thread *t, unsigned kind, uintptr_t addr,
	     uint64_t size, uint32_t stack)
{
	struct mt_rawev *ev;
	int wait = 0;

	mt_thread_lock(t);
	if (MT_UNLIKELY(t->cur->len == MT_BLOCK_EVENTS)) {
		struct mt_block *nb = mt_block_get();

		if (!nb) {
			mt_thread_unlock(t);
			atomic_fetch_add(&mt_dropped, 1);
			return;
		}
		*t->full_tail = t->cur;
		t->full_tail = &t->cur->next;
		t->cur = nb;
		wait = atomic_fetch_add(&mt_blocks_waiting, 1) >= MAX_WAITING;
	}
	ev = &t->cur->ev[t->cur->len++];
	ev->seq = atomic_fetch_add_explicit(&mt_seq, 1, memory_order_relaxed);
	ev->addr = addr;
	ev->size = size;
	ev->stack = stack;
	ev->kind = (uint8_t)kind;
	mt_thread_unlock(t);
	if (MT_UNLIKELY(wait) && !mt_sig_state)
		wait_for_writer();
}

/*
 * A signal handler's events are counted, not recorded, when it interrupted
 * memtide (see run_handler in signals.c), and when it would register the
 * thread while interrupting an allocator call (pthread_setspecific may
 * allocate).
 */
static inline int counting(void)
{
	return MT_UNLIKELY(mt_sig_state) && (mt_sig_state == MT_SIG_COUNT || !tls_thread);
}

void mt_record_alloc(unsigned kind, const void *addr, size_t size, void **ips, int nips)
{
	struct mt_thread *t;

	if (counting()) {
		mt_signals_count(0, size);
		return;
	}
	t = mt_current_thread();
	if (MT_UNLIKELY(atomic_load_explicit(&mt_writer_paused, memory_order_relaxed)) &&
	    !mt_sig_state)	/* pthread_create allocates */
		mt_writer_resume_due();
	if (MT_UNLIKELY(mt_tpa_pending) && mt_py->trace_python_allocators())
		mt_tpa_pending = 0;
	if (MT_UNLIKELY(!mt_pynames_done) && mt_py && mt_py->name_threads())
		mt_pynames_done = 1;
	if (t)
		mt_emit(t, kind, (uintptr_t)addr, size, mt_capture_stack(t, ips, nips));
}

void mt_record_free(unsigned kind, const void *addr, size_t size)
{
	struct mt_thread *t;

	if (counting()) {
		mt_signals_count(1, 0);
		return;
	}
	t = mt_current_thread();
	if (t)
		mt_emit(t, kind, (uintptr_t)addr, size, 0);
}
