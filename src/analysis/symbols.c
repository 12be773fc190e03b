/*
 * symbols.c - offline symbolization of native frames with libdwfl: one
 * Dwfl session per distinct module file (path and build-id), however often
 * it was loaded, at its link-time addresses; an address is found in the
 * module the capture had mapped there in its generation and looked up at
 * its offset from the load bias.  Debug info is found by libdwfl's
 * standard paths: the file itself, .gnu_debuglink, /usr/lib/debug and its
 * .build-id tree (Debian's -dbgsym packages), and debuginfod when
 * DEBUGINFOD_URLS is set.  Each address is resolved once.
 */
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libiberty/demangle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbols.h"
#include "../format/xalloc.h"

/* What an address of one module file resolves to (cached per offset). */
struct entry {
	uint64_t off;		/* the looked-up pc minus the load bias */
	int n;
	struct mt_frame_info *f;	/* n frames, innermost first */
	struct entry *next;
};

/*
 * One module file, however many times it was loaded: a dlopen/dlclose
 * loop maps the same library once per round, and its debug info is read
 * once.  Files are told apart by path and build-id.
 */
/* An address range of a compilation unit, for files without .debug_aranges. */
struct cu_range {
	Dwarf_Addr lo, hi, bias;
	Dwarf_Die *cu;
};

struct image {
	const char *path, *build_id;	/* the capture's strings */
	Dwfl *dwfl;		/* NULL when the file cannot be read */
	int tried;
	struct entry **buckets;
	size_t nbuckets, used;
	struct cu_range *cus;	/* by lo, read at the first address that */
	size_t ncus;		/* libdwfl finds in no CU */
	int cus_built;
	struct image *next;
};

/* The resolved frames of one (ip, generation): the lookups' own cache. */
struct hit {
	uint64_t ip;
	uint32_t gen;
	const struct entry *e;
	struct hit *next;
};

struct mt_symbols {
	const struct mt_capture *c;
	struct image *images;
	struct image **of_module;	/* per capture module */
	uint32_t *by_lo;		/* module indices sorted by lowest address */
	uint64_t *max_hi;		/* highest end among by_lo[0..i] */
	struct entry unknown;		/* an address in no module */
	struct mt_frame_info unknown_frame;
	struct hit **buckets;
	size_t nbuckets, used;
};

static int lo_cmp(const void *a, const void *b, void *arg)
{
	const struct mt_capture *c = arg;
	uint64_t x = c->modules[*(const uint32_t *)a].lo;
	uint64_t y = c->modules[*(const uint32_t *)b].lo;

	return (x > y) - (x < y);
}

struct mt_symbols *mt_symbols_new(const struct mt_capture *c)
{
	struct mt_symbols *s = calloc(1, sizeof(*s));
	uint32_t n = c->nmodules;

	if (!s)
		return NULL;
	s->c = c;
	s->nbuckets = 1024;
	s->buckets = mt_xcalloc(s->nbuckets, sizeof(*s->buckets));
	s->of_module = mt_xcalloc(n ? n : 1, sizeof(*s->of_module));
	s->by_lo = mt_xcalloc(n ? n : 1, sizeof(*s->by_lo));
	s->max_hi = mt_xcalloc(n ? n : 1, sizeof(*s->max_hi));
	for (uint32_t i = 0; i < n; i++)
		s->by_lo[i] = i;
	qsort_r(s->by_lo, n, sizeof(*s->by_lo), lo_cmp, (void *)c);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t hi = c->modules[s->by_lo[i]].hi;

		s->max_hi[i] = i && s->max_hi[i - 1] > hi ? s->max_hi[i - 1] : hi;
	}
	s->unknown_frame = (struct mt_frame_info){ "?", "?", 0, "?" };
	s->unknown.n = 1;
	s->unknown.f = &s->unknown_frame;
	/* debuginfod (used when DEBUGINFOD_URLS is set) waits 90 s for a
	 * server by default; a report should not hang on a dead network */
	setenv("DEBUGINFOD_TIMEOUT", "5", 0);
	return s;
}

/* The capture's module that held ip in generation gen, or -1. */
static long module_of(const struct mt_symbols *s, uint64_t ip, uint32_t gen)
{
	const struct mt_capture *c = s->c;
	size_t lo = 0, hi = c->nmodules;

	while (lo < hi) {	/* the first module starting above ip */
		size_t mid = (lo + hi) / 2;

		if (c->modules[s->by_lo[mid]].lo <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo-- > 0 && s->max_hi[lo] > ip) {
		const struct mt_module *m = &c->modules[s->by_lo[lo]];

		if (ip < m->hi && m->gen_load <= gen && gen < m->gen_unload)
			return s->by_lo[lo];
	}
	return -1;
}

/*
 * Opens a module file for reading without ever blocking: a capture may
 * name a FIFO, a device or a directory, and only regular files are ELF.
 */
static int open_regular(const char *path)
{
	struct stat sb;
	int fd;

	if (path[0] != '/' || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return -1;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct image *image_of(struct mt_symbols *s, uint32_t mi)
{
	static const Dwfl_Callbacks cb = {
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.section_address = dwfl_offline_section_address,
	};
	const struct mt_module *m = &s->c->modules[mi];
	struct image *im;
	int fd;

	if (s->of_module[mi])
		return s->of_module[mi];
	for (im = s->images; im; im = im->next)
		if (!strcmp(im->path, m->path) && !strcmp(im->build_id, m->build_id))
			break;
	if (!im) {
		im = mt_xcalloc(1, sizeof(*im));
		im->path = m->path;
		im->build_id = m->build_id;
		im->nbuckets = 64;
		im->buckets = mt_xcalloc(im->nbuckets, sizeof(*im->buckets));
		im->next = s->images;
		s->images = im;
	}
	if (!im->tried) {
		im->tried = 1;
		fd = open_regular(m->path);
		im->dwfl = fd >= 0 ? dwfl_begin(&cb) : NULL;
		if (im->dwfl) {
			/* at its link-time addresses: lookups subtract the bias */
			dwfl_report_begin(im->dwfl);
			if (!dwfl_report_elf(im->dwfl, m->path, m->path, fd, 0, false)) {
				close(fd);
				dwfl_end(im->dwfl);
				im->dwfl = NULL;
			} else {
				dwfl_report_end(im->dwfl, NULL, NULL);
			}
		} else if (fd >= 0) {
			close(fd);
		}
	}
	s->of_module[mi] = im;
	return im;
}

/*
 * A symbol as people read it: Rust names (v0 "_R...", and the legacy
 * "_ZN...17h<hash>E", which a C++ demangler turns into "_$LT$...::h<hash>")
 * and C++ names demangled by libiberty, versions dropped.
 */
static char *readable(const char *name)
{
	char *d = NULL, *s;

	if (name && name[0] == '_' && (name[1] == 'R' || name[1] == 'Z')) {
		d = rust_demangle(name, DMGL_PARAMS | DMGL_ANSI);
		if (!d && name[1] == 'Z')
			d = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI);
	}
	s = mt_xstrdup(d ? d : name ? name : "?");
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

/*
 * A name for an address that no symbol covers (a stripped file, or a static
 * function of a library that keeps only its exports): the module's name and
 * the address, "module+0xADDRESS", as addr2line and gdb take it once the
 * debug info is there.  Not the nearest export before it: libdwfl already
 * returns a symbol that covers the address, so that export is another
 * function (sqlite3's allocator read as "sqlite3ApiExit+0xd3", an export
 * of 0x12 bytes).
 */
static char *nameless(const char *path, Dwarf_Addr pc)
{
	const char *base = strrchr(path, '/');
	char buf[64], *name, *out;
	size_t len;

	name = mt_xstrdup(base ? base + 1 : path);
	snprintf(buf, sizeof(buf), "+0x%" PRIx64, (uint64_t)pc);
	len = strlen(name);
	out = mt_xrealloc(name, len + strlen(buf) + 1);
	strcpy(out + len, buf);
	return out;
}

#define MAX_SCOPES 256

/*
 * The scopes of cu's code that contain pc, outermost first, into path:
 * their depth.  dwarf_getscopes finds none where the function is a child
 * of a namespace (elfutils 0.188), as Rust and clang put every function;
 * this walk looks into namespaces and modules, and into the scopes that
 * hold pc.
 */
static int scopes_walk(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *path, int depth)
{
	Dwarf_Die child;

	if (dwarf_child(parent, &child) != 0)
		return depth;
	do {
		switch (dwarf_tag(&child)) {
		case DW_TAG_namespace:
		case DW_TAG_module: {
			int d = scopes_walk(&child, pc, path, depth);

			if (d > depth)
				return d;
			break;
		}
		case DW_TAG_subprogram:
		case DW_TAG_inlined_subroutine:
		case DW_TAG_lexical_block:
			if (dwarf_haspc(&child, pc) > 0) {
				if (depth == MAX_SCOPES)
					return depth;
				path[depth] = child;
				return scopes_walk(&child, pc, path, depth + 1);
			}
			break;
		default:
			break;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return depth;
}

/* The scopes containing pc, innermost first, as dwarf_getscopes gives them
 * (*scopes malloc()ed), with the whole chain of inlined calls. */
static int scopes_at(Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die **scopes)
{
	Dwarf_Die path[MAX_SCOPES];
	int n = dwarf_getscopes(cu, pc, scopes);

	/*
	 * dwarf_getscopes stops at the innermost inlined instance, which need
	 * not be the innermost scope (a block of it with its own variables
	 * is); that instance's own scopes give the whole chain of inlined
	 * calls.  Taking only a first scope that is one lost every caller
	 * past the innermost and gave the real function a line of theirs.
	 */
	for (int i = 0; i < n; i++) {
		if (dwarf_tag(&(*scopes)[i]) == DW_TAG_inlined_subroutine) {
			Dwarf_Die inner = (*scopes)[i];

			free(*scopes);
			*scopes = NULL;
			return dwarf_getscopes_die(&inner, scopes);
		}
	}
	if (n > 0)
		return n;
	free(*scopes);
	*scopes = NULL;
	n = scopes_walk(cu, pc, path, 0);
	if (n) {
		*scopes = mt_xcalloc((size_t)n, sizeof(**scopes));
		for (int i = 0; i < n; i++)
			(*scopes)[i] = path[n - 1 - i];
	}
	return n;
}

static int cu_range_cmp(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

/*
 * The CU whose code holds pc, where libdwfl finds none: it looks CUs up
 * in .debug_aranges, which clang does not write, and then finds neither a
 * CU nor a line for any address of the file.  The CUs' own ranges are
 * read once per file.
 */
static Dwarf_Die *cu_by_ranges(struct image *im, Dwfl_Module *mod, Dwarf_Addr pc,
			       Dwarf_Addr *bias)
{
	size_t lo = 0, hi;

	if (!im->cus_built) {
		size_t cap = 0;
		Dwarf_Die *cu = NULL;
		Dwarf_Addr b;

		im->cus_built = 1;
		while ((cu = dwfl_module_nextcu(mod, cu, &b))) {
			Dwarf_Addr base, start, end;
			ptrdiff_t off = 0;

			while ((off = dwarf_ranges(cu, off, &base, &start, &end)) > 0) {
				if (im->ncus == cap) {
					cap = cap ? cap * 2 : 64;
					im->cus = mt_xrealloc(im->cus, cap * sizeof(*im->cus));
				}
				im->cus[im->ncus++] = (struct cu_range){ start + b, end + b, b, cu };
			}
		}
		if (im->ncus)
			qsort(im->cus, im->ncus, sizeof(*im->cus), cu_range_cmp);
	}
	hi = im->ncus;
	while (lo < hi) {	/* the last range starting at or below pc */
		size_t mid = (lo + hi) / 2;

		if (im->cus[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || pc >= im->cus[lo - 1].hi)
		return NULL;
	*bias = im->cus[lo - 1].bias;
	return im->cus[lo - 1].cu;
}

/*
 * Fills e for offset e->off of a module file (im NULL: in no module):
 * inlined frames first, then the real function.
 */
static void resolve(struct image *im, const char *path, struct entry *e)
{
	Dwarf_Addr pc = e->off, bias = 0;
	Dwfl_Module *mod = im && im->dwfl ? dwfl_addrmodule(im->dwfl, pc) : NULL;
	const char *modname = path;
	const char *sym = mod ? dwfl_module_addrname(mod, pc) : NULL;
	const char *file = NULL;
	int line = 0;
	Dwfl_Line *l = mod ? dwfl_module_getsrc(mod, pc) : NULL;
	Dwarf_Die *cu = mod ? dwfl_module_addrdie(mod, pc, &bias) : NULL;
	Dwarf_Die *scopes = NULL;
	int nscopes;
	struct mt_frame_info f[MT_MAX_INLINE];
	int n = 0;

	if (mod && !cu)
		cu = cu_by_ranges(im, mod, pc, &bias);
	nscopes = cu ? scopes_at(cu, pc - bias, &scopes) : 0;
	if (l) {
		file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
	} else if (cu) {
		Dwarf_Line *dl = dwarf_getsrc_die(cu, pc - bias);

		if (dl && (file = dwarf_linesrc(dl, NULL, NULL)))
			dwarf_lineno(dl, &line);
	}
	/* Each inlined scope is a frame; its call site is its caller's line.
	 * Past MT_MAX_INLINE - 1 of them, the outermost are left out, but
	 * their lines still lead to the real function's. */
	for (int i = 0; i < nscopes; i++) {
		if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine)
			continue;
		if (n < MT_MAX_INLINE - 1)
			f[n++] = (struct mt_frame_info){ readable(die_name(&scopes[i])),
							 mt_xstrdup(file ? file : modname),
							 file ? (unsigned)line : 0, mt_xstrdup(modname) };
		file = call_file(cu, &scopes[i]);
		line = (int)call_line(&scopes[i]);
	}
	free(scopes);
	f[n++] = (struct mt_frame_info){ sym ? readable(sym) : nameless(modname, pc),
					 mt_xstrdup(file ? file : modname),
					 file ? (unsigned)line : 0, mt_xstrdup(modname) };
	e->n = n;
	e->f = mt_xcalloc((size_t)n, sizeof(*f));
	memcpy(e->f, f, (size_t)n * sizeof(*f));
}

#define HASH(x) ((size_t)((x) * 0x9E3779B97F4A7C15ull >> 20))

/* Doubles a chained table when it holds twice as many items as buckets. */
#define GROW(tab, nb, used, type, keyexpr)					\
	do {									\
		if ((used) < 2 * (nb))						\
			break;							\
		size_t nn_ = (nb) * 2;						\
		type **t_ = mt_xcalloc(nn_, sizeof(*t_));			\
		for (size_t b_ = 0; b_ < (nb); b_++)				\
			for (type *x_ = (tab)[b_], *nx_; x_; x_ = nx_) {	\
				size_t h_ = HASH(keyexpr(x_)) % nn_;		\
				nx_ = x_->next;					\
				x_->next = t_[h_];				\
				t_[h_] = x_;					\
			}							\
		free(tab);							\
		(tab) = t_;							\
		(nb) = nn_;							\
	} while (0)

#define ENTRY_KEY(x) ((x)->off)
#define HIT_KEY(x) ((x)->ip ^ (uint64_t)(x)->gen << 48)

/* The frames of offset off in module file im (one per file and offset). */
static const struct entry *image_entry(struct image *im, const char *path, uint64_t off)
{
	size_t b = HASH(off) % im->nbuckets;
	struct entry *e;

	for (e = im->buckets[b]; e; e = e->next)
		if (e->off == off)
			return e;
	e = mt_xcalloc(1, sizeof(*e));
	e->off = off;
	resolve(im, path, e);
	e->next = im->buckets[b];
	im->buckets[b] = e;
	im->used++;
	GROW(im->buckets, im->nbuckets, im->used, struct entry, ENTRY_KEY);
	return e;
}

int mt_symbols_lookup(struct mt_symbols *s, uint64_t ip, uint32_t gen,
		      struct mt_frame_info *out, int max)
{
	struct hit key = { .ip = ip, .gen = gen }, *h;
	size_t b = HASH(HIT_KEY(&key)) % s->nbuckets;
	const struct entry *e;

	for (h = s->buckets[b]; h; h = h->next)
		if (h->ip == ip && h->gen == gen)
			break;
	if (!h) {
		long mi = module_of(s, ip, gen);
		/* a return address: the call is the byte before it */
		uint64_t pc = ip ? ip - 1 : 0;

		h = mt_xcalloc(1, sizeof(*h));
		*h = key;
		h->e = &s->unknown;
		if (mi >= 0) {
			const struct mt_module *m = &s->c->modules[mi];

			h->e = image_entry(image_of(s, (uint32_t)mi), m->path, pc - m->bias);
		}
		h->next = s->buckets[b];
		s->buckets[b] = h;
		s->used++;
		GROW(s->buckets, s->nbuckets, s->used, struct hit, HIT_KEY);
	}
	e = h->e;
	if (max > e->n)
		max = e->n;
	memcpy(out, e->f, (size_t)max * sizeof(*out));
	return max;
}

void mt_symbols_free(struct mt_symbols *s)
{
	if (!s)
		return;
	for (size_t b = 0; b < s->nbuckets; b++)
		for (struct hit *h = s->buckets[b], *next; h; h = next) {
			next = h->next;
			free(h);
		}
	while (s->images) {
		struct image *im = s->images;

		for (size_t b = 0; b < im->nbuckets; b++)
			for (struct entry *e = im->buckets[b], *next; e; e = next) {
				next = e->next;
				for (int i = 0; i < e->n; i++) {
					free((char *)e->f[i].function);
					free((char *)e->f[i].file);
					free((char *)e->f[i].module);
				}
				free(e->f);
				free(e);
			}
		free(im->buckets);
		free(im->cus);
		if (im->dwfl)
			dwfl_end(im->dwfl);
		s->images = im->next;
		free(im);
	}
	free(s->buckets);
	free(s->of_module);
	free(s->by_lo);
	free(s->max_hi);
	free(s);
}
