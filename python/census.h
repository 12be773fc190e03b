/*
 * census.h - memtide.census()'s walk of the live Python objects
 * (census.c), for the module in _memtide.c.
 */
#ifndef MT_CENSUS_H
#define MT_CENSUS_H

#include <Python.h>
#include <stdint.h>

/* Where each object was allocated: the tracker's stack node, or 0. */
struct mt_census_sites {
	void *ctx;
	uint32_t (*site_of)(void *ctx, uintptr_t block);
};

/*
 * Counts and sizes the live objects, leaving out instances of the types
 * in the tuple exclude (and what only they hold).  by_type: a row per
 * type (else one per site); sites: rows per site too, or NULL.
 * Returns a new list of (type name or None, site, count, size bytes), or
 * NULL with an exception set.
 */
PyObject *mt_census_walk(PyObject *exclude, int by_type, const struct mt_census_sites *sites);

#endif
