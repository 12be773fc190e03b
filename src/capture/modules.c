/*
 * modules.c - the loaded objects of the profiled process, for the
 * symbolizer: a dl_iterate_phdr scan at start-up and after every
 * dlopen/dlclose records each new object (path, build id, load bias and
 * segments) as a MODULE record and each one gone as UNLOAD, which starts
 * a new module generation: native frames carry the generation they were
 * seen in, so an address reused by another library is told apart.
 */

#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "memtide/format.h"
#include "tracker.h"
#include "../format/varint.h"

_Atomic uint64_t mt_module_gen;

#define MAX_MODULES 4096
struct module {
	uint64_t bias;
	uint64_t name_hash;
};
struct scan {
	struct module *found;
	size_t n;
	uint8_t *recs;		/* MODULE records of new modules */
	size_t len, cap;
	const struct module *known;	/* modules reported so far */
	const size_t *nknown;
};

static void hex(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void build_id(struct dl_phdr_info *info, char *out, size_t cap)
{
	out[0] = '\0';
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const void *)p;
			size_t nsz = (nh->n_namesz + 3) & ~3u, dsz = (nh->n_descsz + 3) & ~3u;
			const uint8_t *desc = p + sizeof(*nh) + nsz;

			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(p + sizeof(*nh), "GNU", 4) && nh->n_descsz * 2 + 1 <= cap &&
			    desc + nh->n_descsz <= end) {
				hex(out, desc, nh->n_descsz);
				return;
			}
			p = desc + dsz;
		}
	}
}

static int scan_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct scan *s = arg;
	const char *name = info->dlpi_name;
	char exe[4096], id[128];
	uint64_t h;
	size_t need;
	uint8_t *p;
	int nseg = 0;

	(void)size;
	if (!name[0]) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		exe[n > 0 ? n : 0] = '\0';
		name = exe;
	}
	h = mt_str_hash(name, strlen(name));
	if (s->n < MAX_MODULES)
		s->found[s->n++] = (struct module){ info->dlpi_addr, h };
	for (size_t i = 0; i < *s->nknown; i++)
		if (s->known[i].bias == info->dlpi_addr && s->known[i].name_hash == h)
			return 0;
	build_id(info, id, sizeof(id));
	need = 64 + strlen(name) + strlen(id) + 20 * (size_t)info->dlpi_phnum;
	if (s->len + need > s->cap)
		return 0;	/* more new modules than room: the next scan adds them */
	p = s->recs + s->len;
	*p++ = MT_REC_MODULE;
	p = mt_put_varint(p, mt_module_gen);
	p = mt_put_varint(p, info->dlpi_addr);
	p = mt_put_str(p, name, strlen(name));
	p = mt_put_str(p, id, strlen(id));
	for (int i = 0; i < info->dlpi_phnum; i++)
		nseg += info->dlpi_phdr[i].p_type == PT_LOAD;
	p = mt_put_varint(p, (uint64_t)nseg);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		p = mt_put_varint(p, ph->p_vaddr);
		p = mt_put_varint(p, ph->p_memsz);
	}
	s->len = (size_t)(p - s->recs);
	return 0;
}

/*
 * Re-reads the loaded objects and records what appeared or went away.
 * dl_iterate_phdr runs outside mt_meta_lock: a thread inside dlopen holds
 * the loader lock and may be waiting for mt_meta_lock in a hook.
 */
void mt_modules_changed(void)
{
	/* static (touched only as far as used): no mmap/munmap per dlopen,
	 * whose TLB shoot-downs every thread of the program pays for */
	static pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER;
	static struct module found[MAX_MODULES], known[MAX_MODULES];
	static uint8_t recs[1u << 20];
	static size_t nknown;
	struct scan s = { found, 0, recs, 0, sizeof(recs), known, &nknown };

	pthread_mutex_lock(&scan_lock);
	dl_iterate_phdr(scan_one, &s);

	pthread_mutex_lock(&mt_meta_lock);
	for (size_t i = 0; i < nknown; i++) {
		int still = 0;

		for (size_t j = 0; j < s.n && !still; j++)
			still = s.found[j].bias == known[i].bias &&
				s.found[j].name_hash == known[i].name_hash;
		if (!still) {
			uint64_t v[2] = { mt_module_gen + 1, known[i].bias };

			mt_meta_record(MT_REC_UNLOAD, 2, v, NULL, NULL);
			atomic_store(&mt_module_gen, v[0]);
		}
	}
	if (s.len)
		mt_meta_append(s.recs, s.len);
	memcpy(known, s.found, s.n * sizeof(struct module));
	nknown = s.n;
	pthread_mutex_unlock(&mt_meta_lock);
	pthread_mutex_unlock(&scan_lock);
}
