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

#include "../src/capture/pyhelper.h"

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

__attribute__((visibility("default")))
const struct mt_pyhelper memtide_pyhelper = {
	.abi = MT_PYHELPER_ABI,
	.version = PY_MAJOR_VERSION * 100 + PY_MINOR_VERSION,
	.walk = walk,
	.describe = describe,
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "memtide._memtide",
	.m_doc = "memtide's per-version helper: Python stacks for the tracker.",
	.m_size = -1,
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
