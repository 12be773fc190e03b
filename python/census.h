/*
 * census.h - memtide.census()'s walk of the live Python objects
 * (census.c), for the module in _memtide.c.
 */
#ifndef MT_CENSUS_H
#define MT_CENSUS_H

#include <Python.h>
#include <stdint.h>

/*
 * Where each object was allocated, from the tracker (libmemtide.so, whose
 * functions these are: writer.c, meta.c, session.c): begin() returns 0
 * and keeps the tracker's map of live blocks still until end(); site_of()
 * gives the stack node of the block at an address (0: unknown);
 * meta_copy() copies the meta log (STRING, PYFRAME, NODE records) when it
 * fits and returns its length; enter() (1 when done) and leave() keep the
 * calling thread's allocations out of the capture in between, as begin()
 * and end() do.
 */
struct mt_census_sites {
	int (*begin)(void);
	uint32_t (*site_of)(uintptr_t block);
	void (*end)(void);
	size_t (*meta_copy)(uint8_t *buf, size_t cap);
	int (*enter)(void);
	void (*leave)(void);
};

/*
 * Counts and sizes the live objects, leaving out instances of the types
 * in the tuple exclude (and what only they hold).  by_type: a row per
 * type (else one per site); sites: rows per allocating site too, or NULL.
 * Returns make(rows), rows being a list of (type name or None, site or
 * None, count, size bytes), a site "file:line (function)" of the
 * innermost Python frame that allocated the objects; or NULL with an
 * exception set.
 */
PyObject *mt_census_walk(PyObject *exclude, int by_type, const struct mt_census_sites *sites,
			 PyObject *make);

#endif
