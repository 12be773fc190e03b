/*
 * cairo_dl.c - loads cairo on first use (cairo_dl.h).
 */
#include <dlfcn.h>
#include <stdio.h>

#include "cairo_dl.h"

#define CAIRO_SONAME "libcairo.so.2"

const struct mt_cairo *mt_cairo_load(char *err, size_t errlen)
{
	static struct mt_cairo cairo;
	static int loaded;
	void *lib;

	if (loaded)
		return &cairo;
	lib = dlopen(CAIRO_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(err, errlen, "cannot load cairo, which plots are drawn with (%s); "
			 "install it: apt install libcairo2", dlerror());
		return NULL;
	}
#define MT_CAIRO_LOOKUP(name)							\
	*(void **)&cairo.name = dlsym(lib, #name);				\
	if (!cairo.name) {							\
		snprintf(err, errlen, "%s has no %s: cairo 1.16 or later is needed", \
			 CAIRO_SONAME, #name);					\
		dlclose(lib);							\
		return NULL;							\
	}
	MT_CAIRO_FUNCTIONS(MT_CAIRO_LOOKUP)
#undef MT_CAIRO_LOOKUP
	*(void **)&cairo.FcFini = dlsym(lib, "FcFini");	/* in cairo's dependencies */
	loaded = 1;
	return &cairo;
}
