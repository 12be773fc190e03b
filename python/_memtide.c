/*
 * _memtide.c - the memtide._memtide extension, compiled once per CPython
 * version against that version's headers (internal ones included).
 *
 * It runs inside the profiled interpreter and owns the reading of Python
 * stacks: libmemtide.so loads it and calls memtide_pyhelper.walk() from
 * its allocation hooks, so the cost of Python stacks follows allocations,
 * not function calls (no profile hook).  Nothing here allocates, takes the
 * GIL or touches the thread's exception state.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#if PY_VERSION_HEX >= 0x030B0000
#define Py_BUILD_CORE 1
#undef _PyGC_FINALIZED
#include <internal/pycore_frame.h>
#endif

#include <dlfcn.h>

#include "../src/capture/pyhelper.h"
#include "census.h"

static uint64_t code_tag(PyCodeObject *co)
{
	uint64_t t = (uint64_t)(uintptr_t)co->co_name ^
		     ((uint64_t)(uintptr_t)co->co_filename << 7) ^
		     (uint64_t)co->co_firstlineno;
	return ((t ^ (t >> 32)) & 0x7fffffffu) << 32;	/* bit 63 is the tracker's */
}

static void put_key(struct mt_pykey *k, PyCodeObject *co, int lasti, int entry)
{
	k->a = (uint64_t)(uintptr_t)co;
	k->b = code_tag(co) | ((uint64_t)(uint32_t)(lasti & 0x7fffffff) << 1) |
	       (uint64_t)(entry != 0);
}

#if PY_VERSION_HEX < 0x030B0000
/* 3.9 and 3.10: a chain of PyFrameObjects, one per C-level evaluation. */
static int walk(struct mt_pykey *keys, int max)
{
	PyThreadState *ts = PyGILState_GetThisThreadState();
	int n = 0;

	if (!ts)
		return 0;
	for (PyFrameObject *f = ts->frame; f && n < max; f = f->f_back)
		put_key(&keys[n++], f->f_code, f->f_lasti, 1);
	return n;
}

static int key_byte_offset(const struct mt_pykey *k)
{
	int lasti = (int)((k->b >> 1) & 0x7fffffff);
#if PY_VERSION_HEX >= 0x030A0000
	return lasti * (int)sizeof(_Py_CODEUNIT);
#else
	return lasti;
#endif
}
#else
/* 3.11+: interpreter frames, several per C-level evaluation. */
static int walk(struct mt_pykey *keys, int max)
{
	PyThreadState *ts = PyGILState_GetThisThreadState();
	_PyInterpreterFrame *f;
	int n = 0;

	if (!ts)
		return 0;
#if PY_VERSION_HEX >= 0x030D0000
	f = ts->current_frame;
#else
	f = ts->cframe ? ts->cframe->current_frame : NULL;
#endif
	for (; f && n < max; f = f->previous) {
		PyCodeObject *co;
		int entry;

		if (_PyFrame_IsIncomplete(f))
			continue;
#if PY_VERSION_HEX >= 0x030D0000
		if (!f->f_executable || !PyCode_Check(f->f_executable))
			continue;
		co = (PyCodeObject *)f->f_executable;
#else
		co = f->f_code;
#endif
#if PY_VERSION_HEX >= 0x030C0000
		entry = !f->previous || f->previous->owner == FRAME_OWNED_BY_CSTACK;
#else
		entry = f->is_entry;
#endif
		put_key(&keys[n++], co, _PyInterpreterFrame_LASTI(f), entry);
	}
	return n;
}

static int key_byte_offset(const struct mt_pykey *k)
{
	return (int)((k->b >> 1) & 0x7fffffff) * (int)sizeof(_Py_CODEUNIT);
}
#endif

/* UTF-8 of a str object without allocating; cut at a character boundary. */
static void utf8_of(PyObject *s, char *out, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return;
	if (s && PyUnicode_Check(s)) {
		int kind = PyUnicode_KIND(s);
		const void *data = PyUnicode_DATA(s);
		Py_ssize_t len = PyUnicode_GET_LENGTH(s);

		for (Py_ssize_t i = 0; i < len; i++) {
			Py_UCS4 c = PyUnicode_READ(kind, data, i);
			char tmp[4];
			size_t w;

			if (c < 0x80) {
				tmp[0] = (char)c;
				w = 1;
			} else if (c < 0x800) {
				tmp[0] = (char)(0xc0 | (c >> 6));
				tmp[1] = (char)(0x80 | (c & 0x3f));
				w = 2;
			} else if (c < 0x10000) {
				if (c >= 0xd800 && c <= 0xdfff)
					c = 0xfffd;	/* lone surrogate */
				tmp[0] = (char)(0xe0 | (c >> 12));
				tmp[1] = (char)(0x80 | ((c >> 6) & 0x3f));
				tmp[2] = (char)(0x80 | (c & 0x3f));
				w = 3;
			} else {
				tmp[0] = (char)(0xf0 | (c >> 18));
				tmp[1] = (char)(0x80 | ((c >> 12) & 0x3f));
				tmp[2] = (char)(0x80 | ((c >> 6) & 0x3f));
				tmp[3] = (char)(0x80 | (c & 0x3f));
				w = 4;
			}
			if (o + w >= cap)
				break;
			memcpy(out + o, tmp, w);
			o += w;
		}
	}
	out[o] = '\0';
}

static void describe(const struct mt_pykey *k, char *name, size_t nlen,
		     char *file, size_t flen, int *line)
{
	PyCodeObject *co = (PyCodeObject *)(uintptr_t)k->a;

	utf8_of(co->co_name, name, nlen);
	utf8_of(co->co_filename, file, flen);
	*line = PyCode_Addr2Line(co, key_byte_offset(k));
}

/* ---- recording Python's allocators --------------------------------- */

/* The tracker's entry points, from whichever libmemtide.so is tracking. */
static struct {
	int (*enter)(void);
	void (*leave)(void);
	void (*record)(void *, size_t);
	void (*record_free)(void *);
	int (*start)(const char *, int, int, const char *, const void *, char *, size_t);
	void (*sample)(uint64_t);	/* the next start's sample rate */
	int (*stop)(void);
	int (*active)(void);
	int (*step)(const char *);
	int (*step_expect)(const char *, uint64_t);
	int (*step_counters)(const char *, const int64_t *);
	int (*thread_name)(const char *);
	int (*thread_name_of)(unsigned long, const char *);
	struct mt_census_sites sites;
} lib;

static PyMemAllocatorEx orig_mem, orig_obj;
static int pymalloc_wrapped;

#define WRAP(domain, orig)							\
static void *domain##_malloc(void *ctx, size_t n)				\
{										\
	int g = lib.enter();							\
	void *p = orig.malloc(orig.ctx, n);					\
	(void)ctx;								\
	if (g) {								\
		lib.record(p, n);						\
		lib.leave();							\
	}									\
	return p;								\
}										\
static void *domain##_calloc(void *ctx, size_t n, size_t size)			\
{										\
	int g = lib.enter();							\
	void *p = orig.calloc(orig.ctx, n, size);				\
	(void)ctx;								\
	if (g) {								\
		lib.record(p, n * size);					\
		lib.leave();							\
	}									\
	return p;								\
}										\
static void *domain##_realloc(void *ctx, void *old, size_t n)			\
{										\
	int g = lib.enter();							\
	void *p;								\
	(void)ctx;								\
	if (g && old)								\
		lib.record_free(old);						\
	p = orig.realloc(orig.ctx, old, n);					\
	if (g) {								\
		lib.record(p ? p : (n ? old : NULL), n);			\
		lib.leave();							\
	}									\
	return p;								\
}										\
static void domain##_free(void *ctx, void *p)					\
{										\
	int g = lib.enter();							\
	(void)ctx;								\
	if (g)									\
		lib.record_free(p);						\
	orig.free(orig.ctx, p);							\
	if (g)									\
		lib.leave();							\
}

WRAP(mem, orig_mem)
WRAP(obj, orig_obj)

static int find_lib(void *handle)
{
#define SYM(field, name) (*(void **)&lib.field = dlsym(handle, name))
	SYM(enter, "memtide_guard_enter");
	SYM(leave, "memtide_guard_leave");
	SYM(record, "memtide_record_pymalloc");
	SYM(record_free, "memtide_record_pyfree");
	SYM(start, "memtide_tracker_start");
	SYM(sample, "memtide_tracker_sample");
	SYM(stop, "memtide_tracker_stop");
	SYM(active, "memtide_tracker_active");
	SYM(step, "memtide_step");
	SYM(step_expect, "memtide_step_expect");
	SYM(step_counters, "memtide_step_counters");
	SYM(thread_name, "memtide_thread_name");
	SYM(thread_name_of, "memtide_thread_name_of");
	SYM(sites.begin, "memtide_sites_begin");
	SYM(sites.site_of, "memtide_site_of");
	SYM(sites.end, "memtide_sites_end");
	SYM(sites.meta_copy, "memtide_meta_copy");
	lib.sites.enter = lib.enter;
	lib.sites.leave = lib.leave;
#undef SYM
	return lib.enter && lib.leave && lib.record && lib.record_free && lib.start && lib.sample &&
	       lib.stop && lib.active && lib.step && lib.step_expect && lib.step_counters &&
	       lib.thread_name && lib.thread_name_of && lib.sites.begin && lib.sites.site_of &&
	       lib.sites.end && lib.sites.meta_copy ? 0 : -1;
}

static void wrap_pymalloc(void)
{
	PyMemAllocatorEx mem = { NULL, mem_malloc, mem_calloc, mem_realloc, mem_free };
	PyMemAllocatorEx obj = { NULL, obj_malloc, obj_calloc, obj_realloc, obj_free };

	if (pymalloc_wrapped)
		return;
	PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &orig_mem);
	PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &orig_obj);
	PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &mem);
	PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &obj);
	pymalloc_wrapped = 1;
}

static void unwrap_pymalloc(void)
{
	if (!pymalloc_wrapped)
		return;
	PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &orig_mem);
	PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &orig_obj);
	pymalloc_wrapped = 0;
}

/* For memtide run --trace-python-allocators: called from the hooks. */
static int trace_python_allocators(void)
{
	if (!Py_IsInitialized() || !PyGILState_Check())
		return 0;
	if (!lib.enter && find_lib(RTLD_DEFAULT) < 0)
		return 1;	/* no tracker to report to: give up */
	wrap_pymalloc();
	return 1;
}

/* ---- thread names ---------------------------------------------------- */

/*
 * CPython 3.9-3.13 never gives a thread's name to the OS, so the capture
 * learns it from threading itself: Thread._set_native_id, which a started
 * thread calls first thing in its own _bootstrap_inner (before its target,
 * so no frame of ours stays on its stack), and the name property's setter
 * are wrapped to pass the name on.  threading is not imported for this: it
 * is patched at once if the program has imported it, else when it does
 * (a finder that removes itself from sys.meta_path on that import, and
 * patches the module once it has run: through chain(), so that no frame of
 * ours is on the stack while threading.py runs).  The main thread and
 * threads not started by threading (_DummyThread) keep their names unless
 * they rename themselves; a thread renamed by another one keeps its name.
 */
static const char names_src[] =
"def install(set_name, chain, sys):\n"
"    def patch(threading):\n"
"        T = threading.Thread\n"
"        set_id = getattr(T, '_set_native_id', None)\n"
"        if set_id is None or getattr(set_id, '_memtide', False):\n"
"            return\n"
"        own = tuple(c for c in (getattr(threading, '_MainThread', None),\n"
"                                getattr(threading, '_DummyThread', None)) if c)\n"
"        def _set_native_id(self):\n"
"            set_id(self)\n"
"            if not isinstance(self, own):\n"
"                set_name(self._name)\n"
"        _set_native_id._memtide = True\n"
"        prop = T.__dict__.get('name')\n"
"        if isinstance(prop, property) and prop.fset is not None:\n"
"            def name(self, value):\n"
"                prop.fset(self, value)\n"
"                if self._ident is None:\n"
"                    return\n"
"                if self._ident == threading.get_ident():\n"
"                    set_name(self._name)\n"
"                elif self.is_alive():\n"
"                    set_name(self._name, self._ident)\n"
"            T.name = property(prop.fget, name, prop.fdel, prop.__doc__)\n"
"        T._set_native_id = _set_native_id\n"
"    if 'threading' in sys.modules:\n"
"        patch(sys.modules['threading'])\n"
"        return\n"
"    boot = sys.modules['_frozen_importlib']\n"
"    class memtide_thread_names:\n"
"        @staticmethod\n"
"        def find_spec(name, path=None, target=None):\n"
"            if name != 'threading':\n"
"                return None\n"
"            try:\n"
"                sys.meta_path.remove(memtide_thread_names)\n"
"            except ValueError:\n"
"                pass\n"
"            spec = boot._find_spec(name, path, target)\n"
"            loader = getattr(spec, 'loader', None)\n"
"            run = getattr(loader, 'exec_module', None)\n"
"            if run is None or isinstance(loader, type) or not hasattr(loader, '__dict__'):\n"
"                return spec\n"
"            def then(module):\n"
"                del loader.exec_module\n"
"                patch(module)\n"
"            loader.exec_module = chain(run, then)\n"
"            return spec\n"
"    sys.meta_path.insert(0, memtide_thread_names)\n";

static int active_lib(void);

static PyObject *mod_set_thread_name(PyObject *self, PyObject *args)
{
	PyObject *arg;
	unsigned long ident = 0;
	const char *name;

	(void)self;
	if (!PyArg_ParseTuple(args, "O|k", &arg, &ident)) {
		PyErr_Clear();
		Py_RETURN_NONE;
	}
	if (!PyUnicode_Check(arg))
		Py_RETURN_NONE;
	name = PyUnicode_AsUTF8(arg);
	if (!name) {	/* a lone surrogate: the thread starts all the same */
		PyErr_Clear();
		Py_RETURN_NONE;
	}
	if (active_lib()) {
		if (PyTuple_GET_SIZE(args) > 1)
			lib.thread_name_of(ident, name);
		else
			lib.thread_name(name);
	}
	Py_RETURN_NONE;
}

static PyMethodDef set_thread_name_def = {
	"set_thread_name", mod_set_thread_name, METH_VARARGS,
	"set_thread_name(name[, ident]) - names the calling thread, or the live\n"
	"thread of that threading ident, in the capture"
};

/* chain(f, g): a callable without a Python frame that calls f(x), then g(x). */
static PyObject *chain_call(PyObject *pair, PyObject *arg)
{
	PyObject *r = PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(pair, 0), arg, NULL);

	if (!r)
		return NULL;
	Py_DECREF(r);
	return PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(pair, 1), arg, NULL);
}

static PyMethodDef chain_call_def = { "chained", chain_call, METH_O, NULL };

static PyObject *chain(PyObject *self, PyObject *args)
{
	PyObject *f, *g, *pair, *fn;

	(void)self;
	if (!PyArg_ParseTuple(args, "OO", &f, &g) || !(pair = PyTuple_Pack(2, f, g)))
		return NULL;
	fn = PyCFunction_New(&chain_call_def, pair);
	Py_DECREF(pair);
	return fn;
}

static PyMethodDef chain_def = { "chain", chain, METH_VARARGS, NULL };

static int names_installed;

/* Runs install() above; never leaves an exception behind. */
static void install_names(void)
{
	PyObject *type, *value, *tb, *code = NULL, *globals = NULL, *res = NULL;
	PyObject *fn = NULL, *setter = NULL, *chainer = NULL, *sys;

	if (names_installed)
		return;
	names_installed = 1;
	PyErr_Fetch(&type, &value, &tb);
	sys = PyImport_AddModule("sys");	/* borrowed; always there */
	globals = PyDict_New();
	if (!sys || !globals ||
	    PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0)
		goto out;
	code = Py_CompileString(names_src, "<memtide>", Py_file_input);
	if (!code || !(res = PyEval_EvalCode(code, globals, globals)))
		goto out;
	fn = PyDict_GetItemString(globals, "install");	/* borrowed */
	setter = PyCFunction_New(&set_thread_name_def, NULL);
	chainer = PyCFunction_New(&chain_def, NULL);
	if (fn && setter && chainer) {
		Py_DECREF(res);
		res = PyObject_CallFunctionObjArgs(fn, setter, chainer, sys, NULL);
	}
out:
	if (PyErr_Occurred())
		PyErr_Clear();	/* names are a nicety: the program goes on as it would */
	Py_XDECREF(res);
	Py_XDECREF(setter);
	Py_XDECREF(chainer);
	Py_XDECREF(code);
	Py_XDECREF(globals);
	PyErr_Restore(type, value, tb);
}

static int names_pending_call(void *unused)
{
	(void)unused;
	install_names();
	return 0;
}

/* From the hooks (see pyhelper.h): the Python code runs as a pending call. */
static int name_threads(void)
{
	static int scheduled;

	if (!Py_IsInitialized() || !PyGILState_Check())
		return 0;
	if (!scheduled && !names_installed && Py_AddPendingCall(names_pending_call, NULL) < 0)
		return 0;
	scheduled = 1;
	return 1;
}

__attribute__((visibility("default")))
const struct mt_pyhelper memtide_pyhelper = {
	.abi = MT_PYHELPER_ABI,
	.version = PY_MAJOR_VERSION * 100 + PY_MINOR_VERSION,
	.walk = walk,
	.describe = describe,
	.trace_python_allocators = trace_python_allocators,
	.name_threads = name_threads,
};

/* ---- the module: Tracker support ------------------------------------ */

static void *own_lib;		/* libmemtide.so loaded by start() */
static int own_session;

static PyObject *mod_start(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = { "path", "library", "native", "trace_python_allocators",
				 "follow_fork", "session", "sample_rate", "aggregate", NULL };
	const char *path, *library, *session = NULL;
	int native = 0, tpa = 0, follow = 0, aggregate = 0, (*preloaded_active)(void);
	void (*set_aggregate)(int);
	unsigned long long rate = 0;
	char err[512] = "";

	(void)self;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|pppzKp", names, &path, &library, &native,
					 &tpa, &follow, &session, &rate, &aggregate))
		return NULL;
	*(void **)&preloaded_active = dlsym(RTLD_DEFAULT, "memtide_tracker_active");
	if ((preloaded_active && preloaded_active()) || own_session) {
		PyErr_SetString(PyExc_RuntimeError,
				"a memtide tracker is already running in this process");
		return NULL;
	}
	if (!own_lib) {
		own_lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
		if (!own_lib) {
			PyErr_Format(PyExc_RuntimeError, "cannot load %s: %s", library, dlerror());
			return NULL;
		}
	}
	if (find_lib(own_lib) < 0) {
		PyErr_Format(PyExc_RuntimeError, "%s is not a memtide tracker library", library);
		return NULL;
	}
	*(void **)&set_aggregate = dlsym(own_lib, "memtide_tracker_aggregate");
	if (set_aggregate)
		set_aggregate(aggregate);
	else if (aggregate) {
		PyErr_Format(PyExc_RuntimeError, "%s cannot aggregate: rebuild memtide", library);
		return NULL;
	}
	install_names();	/* first: its own allocations are not the program's */
	lib.sample(rate);
	if (lib.start(path, native, follow, session, &memtide_pyhelper, err, sizeof(err)) < 0) {
		PyErr_SetString(PyExc_RuntimeError, err);
		return NULL;
	}
	own_session = 1;
	if (tpa)
		wrap_pymalloc();
	Py_RETURN_NONE;
}

static PyObject *mod_stop(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	if (!own_session) {
		PyErr_SetString(PyExc_RuntimeError, "no memtide tracker is running");
		return NULL;
	}
	unwrap_pymalloc();
	Py_BEGIN_ALLOW_THREADS
	lib.stop();
	Py_END_ALLOW_THREADS
	own_session = 0;
	Py_RETURN_NONE;
}

/* The tracking library of this process: memtide run's, or a Tracker's. */
static int active_lib(void)
{
	if (own_session)
		return 1;
	if (find_lib(RTLD_DEFAULT) == 0 && lib.active())
		return 1;
	return 0;
}

static PyObject *mod_step(PyObject *self, PyObject *args)
{
	const char *name = NULL;
	PyObject *expected = Py_None;
	unsigned long long bytes = 0;
	int rc;

	(void)self;
	if (!PyArg_ParseTuple(args, "z|O", &name, &expected))
		return NULL;
	if (expected != Py_None) {
		bytes = PyLong_AsUnsignedLongLong(expected);
		if (PyErr_Occurred())
			return NULL;
	}
	if (!active_lib())
		Py_RETURN_FALSE;
	rc = expected != Py_None && name && *name ? lib.step_expect(name, bytes) :
	     lib.step(name ? name : "");
	return PyBool_FromLong(rc == 0);
}

static PyObject *mod_step_counters(PyObject *self, PyObject *args)
{
	const char *name;
	long long v[4];
	int64_t counts[4];

	(void)self;
	if (!PyArg_ParseTuple(args, "s(LLLL)", &name, &v[0], &v[1], &v[2], &v[3]))
		return NULL;
	for (int i = 0; i < 4; i++)
		counts[i] = v[i];
	return PyBool_FromLong(active_lib() && lib.step_counters(name, counts) == 0);
}

static PyObject *mod_active(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return PyBool_FromLong(active_lib());
}

/*
 * census(exclude, by_type, by_site, make): make(rows of memtide.census()).  By
 * site, Python's allocators must be wrapped by this helper (a Tracker with
 * trace_python_allocators, or memtide run --trace-python-allocators), so
 * that the tracker knows the block of every object allocated since.
 */
static PyObject *mod_census(PyObject *self, PyObject *args)
{
	PyObject *exclude, *make;
	int by_type = 1, by_site = 0;
	PyMemAllocatorEx now;

	(void)self;
	if (!PyArg_ParseTuple(args, "O!ppO", &PyTuple_Type, &exclude, &by_type, &by_site, &make))
		return NULL;
	if (!by_site)
		return mt_census_walk(exclude, by_type, NULL, make);
	PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &now);
	if (!active_lib() || now.malloc != obj_malloc) {
		PyErr_SetString(PyExc_RuntimeError,
				"census by site needs Python's allocators traced: run it under "
				"memtide.Tracker(..., trace_python_allocators=True) or "
				"memtide run --trace-python-allocators");
		return NULL;
	}
	return mt_census_walk(exclude, by_type, &lib.sites, make);
}

static PyMethodDef methods[] = {
	{ "start", (PyCFunction)(void (*)(void))mod_start, METH_VARARGS | METH_KEYWORDS,
	  "start(path, library, native=False, trace_python_allocators=False, follow_fork=False, "
	  "session=None, sample_rate=0, aggregate=False)" },
	{ "stop", mod_stop, METH_NOARGS, "stop() - ends the tracker that start() began" },
	{ "step", mod_step, METH_VARARGS, "step(name, expected_bytes=None) - marks the start of a step, "
	  "with an estimate of its peak above its start; False when nothing is tracking" },
	{ "step_counters", mod_step_counters, METH_VARARGS, "step_counters(name, (cycles, "
	  "instructions, cache_references, cache_misses)) - the hardware counters of the step "
	  "that has just ended (-1: not counted)" },
	{ "active", mod_active, METH_NOARGS, "active() - is a tracker recording this process?" },
	{ "census", mod_census, METH_VARARGS, "census(exclude, by_type, by_site, make) - "
	  "make([(type name, site, count, size)]) of the live objects (memtide.census)" },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "memtide._memtide",
	.m_doc = "memtide's per-version helper: Python stacks for the tracker, "
		 "and the in-process Tracker.",
	.m_size = -1,
	.m_methods = methods,
};

PyMODINIT_FUNC PyInit__memtide(void)
{
	PyObject *m = PyModule_Create(&module);

	if (m && PyModule_AddIntConstant(m, "PYHELPER_ABI", MT_PYHELPER_ABI) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
