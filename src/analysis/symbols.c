/*
 * symbols.c - offline symbolization of native frames with libdwfl: one
 * Dwfl session per module generation (a dlclose starts a new one), built
 * from the load addresses in the capture; debug info is found by the
 * usual paths and build-ids.  Each address is resolved once.
 */
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols.h"
#include "../format/xalloc.h"

#define MAX_INLINE 16

struct entry {
	uint64_t ip;
	uint32_t gen;
	int n;
	struct mt_frame_info f[MAX_INLINE];
	struct entry *next;
};

struct session {
	uint32_t gen;
	Dwfl *dwfl;
	struct session *next;
};

struct mt_symbols {
	const struct mt_capture *c;
	struct session *sessions;
	struct entry **buckets;
	size_t nbuckets, used;
	char *debuginfo_path;
};

struct mt_symbols *mt_symbols_new(const struct mt_capture *c)
{
	struct mt_symbols *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->c = c;
	s->nbuckets = 1024;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	return s;
}

static Dwfl *session(struct mt_symbols *s, uint32_t gen)
{
	static const Dwfl_Callbacks cb = {
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.section_address = dwfl_offline_section_address,
	};
	struct session *ss;

	for (ss = s->sessions; ss; ss = ss->next)
		if (ss->gen == gen)
			return ss->dwfl;
	ss = calloc(1, sizeof(*ss));
	if (!ss)
		return NULL;
	ss->gen = gen;
	ss->dwfl = dwfl_begin(&cb);
	if (ss->dwfl) {
		dwfl_report_begin(ss->dwfl);
		for (uint32_t i = 0; i < s->c->nmodules; i++) {
			const struct mt_module *m = &s->c->modules[i];

			if (m->gen_load > gen || gen >= m->gen_unload || m->path[0] != '/')
				continue;
			dwfl_report_elf(ss->dwfl, m->path, m->path, -1, m->bias, false);
		}
		dwfl_report_end(ss->dwfl, NULL, NULL);
	}
	ss->next = s->sessions;
	s->sessions = ss;
	return ss->dwfl;
}

/* libstdc++'s demangler (C++ ABI); the command links libstdc++ for it. */
char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);

/* A symbol as people read it: C++ names demangled, versions dropped. */
static char *readable(const char *name)
{
	char *d = NULL, *s;
	int status = -1;

	if (name && name[0] == '_' && name[1] == 'Z')
		d = __cxa_demangle(name, NULL, NULL, &status);
	s = mt_xstrdup(status == 0 && d ? d : name ? name : "?");
	free(d);
	*strchrnul(s, '@') = '\0';
	return s;
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));

	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
	return name;
}

static const char *call_file(Dwarf_Die *cu, Dwarf_Die *die)
{
	Dwarf_Attribute a;
	Dwarf_Word idx;
	Dwarf_Files *files;
	size_t nfiles;

	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &a), &idx) != 0 ||
	    dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || idx >= nfiles)
		return NULL;
	return dwarf_filesrc(files, idx, NULL, NULL);
}

static unsigned call_line(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	Dwarf_Word line = 0;

	dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &a), &line);
	return (unsigned)line;
}

/* Fills e from libdwfl: inlined frames first, then the real function. */
static void resolve(struct mt_symbols *s, struct entry *e)
{
	Dwfl *dwfl = session(s, e->gen);
	Dwarf_Addr pc = e->ip ? e->ip - 1 : 0, bias = 0;
	Dwfl_Module *mod = dwfl ? dwfl_addrmodule(dwfl, pc) : NULL;
	const char *modname = mod ? dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL) : NULL;
	const char *sym = mod ? dwfl_module_addrname(mod, pc) : NULL;
	const char *file = NULL;
	int line = 0;
	Dwfl_Line *l = mod ? dwfl_module_getsrc(mod, pc) : NULL;
	Dwarf_Die *cu = mod ? dwfl_module_addrdie(mod, pc, &bias) : NULL;
	Dwarf_Die *scopes = NULL;
	int nscopes = cu ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;

	/* dwarf_getscopes stops at the innermost inlined instance; its DIE's
	 * own scopes give the whole chain of inlined calls */
	if (nscopes > 0 && dwarf_tag(&scopes[0]) == DW_TAG_inlined_subroutine) {
		Dwarf_Die inner = scopes[0];

		free(scopes);
		scopes = NULL;
		nscopes = dwarf_getscopes_die(&inner, &scopes);
	}
	if (l)
		file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
	e->n = 0;
	/* Each inlined scope is a frame; its call site is its caller's line. */
	for (int i = 0; i < nscopes && e->n < MAX_INLINE - 1; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag != DW_TAG_inlined_subroutine)
			continue;
		e->f[e->n].function = readable(die_name(&scopes[i]));
		e->f[e->n].file = mt_xstrdup(file ? file : modname);
		e->f[e->n].line = file ? (unsigned)line : 0;
		e->f[e->n].module = mt_xstrdup(modname);
		e->n++;
		file = call_file(cu, &scopes[i]);
		line = (int)call_line(&scopes[i]);
	}
	free(scopes);
	e->f[e->n].function = readable(sym);
	e->f[e->n].file = mt_xstrdup(file ? file : modname ? modname : "?");
	e->f[e->n].line = file ? (unsigned)line : 0;
	e->f[e->n].module = mt_xstrdup(modname ? modname : "?");
	e->n++;
}

int mt_symbols_lookup(struct mt_symbols *s, uint64_t ip, uint32_t gen,
		      struct mt_frame_info *out, int max)
{
	size_t b = (size_t)((ip * 0x9E3779B97F4A7C15ull) ^ gen) % s->nbuckets;
	struct entry *e;

	for (e = s->buckets[b]; e; e = e->next)
		if (e->ip == ip && e->gen == gen)
			break;
	if (!e) {
		e = mt_xcalloc(1, sizeof(*e));
		e->ip = ip;
		e->gen = gen;
		resolve(s, e);
		e->next = s->buckets[b];
		s->buckets[b] = e;
	}
	if (max > e->n)
		max = e->n;
	memcpy(out, e->f, (size_t)max * sizeof(*out));
	return max;
}

void mt_symbols_free(struct mt_symbols *s)
{
	if (!s)
		return;
	for (size_t b = 0; b < s->nbuckets; b++) {
		struct entry *e, *next;

		for (e = s->buckets[b]; e; e = next) {
			next = e->next;
			for (int i = 0; i < e->n; i++) {
				free((char *)e->f[i].function);
				free((char *)e->f[i].file);
				free((char *)e->f[i].module);
			}
			free(e);
		}
	}
	free(s->buckets);
	while (s->sessions) {
		struct session *ss = s->sessions;

		s->sessions = ss->next;
		if (ss->dwfl)
			dwfl_end(ss->dwfl);
		free(ss);
	}
	free(s);
}
