/*
 * got.c - hooking without LD_PRELOAD, for a tracker started inside a
 * running program (memtide.Tracker): the global offset table slots through
 * which each loaded object calls the allocator are pointed at memtide's
 * hooks, and put back at stop.  Objects loaded later are patched by the
 * dlopen hook.  Runs in the profiled process.
 *
 * Both kinds of relocation that bind a function are handled: JUMP_SLOT
 * (calls through the PLT) and GLOB_DAT (-fno-plt calls and function
 * pointers taken).  The loader, the vdso, libc itself and memtide are left
 * alone.  A slot under RELRO (read-only once the loader has relocated it)
 * is made writable for the moment of the write and read-only again after,
 * when installing and when putting back: a stopped tracker leaves every
 * page as protected as it found it.
 */
#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tracker.h"

#define MAX_PATCHES 65536

struct patch {
	void **slot;
	void *old;
	int relro;		/* its page is read-only between writes */
};

static struct patch *patches;
static size_t npatches;
static pthread_mutex_t got_lock = PTHREAD_MUTEX_INITIALIZER;
static int installed;

static void *hook_for(const char *name)
{
	for (const struct mt_hook *h = mt_hooks; h->name; h++)
		if (!strcmp(h->name, name))
			return h->fn;
	return NULL;
}

static void write_slot(void **slot, void *value, int relro)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)slot & ~((uintptr_t)page - 1);

	if (*slot == value)
		return;
	/* a writable page stays as it is (and an unmapped one is skipped) */
	if (mt_real.mprotect((void *)start, (size_t)page, PROT_READ | PROT_WRITE) == 0) {
		__atomic_store_n(slot, value, __ATOMIC_RELEASE);
		if (relro)
			mt_real.mprotect((void *)start, (size_t)page, PROT_READ);
	}
}

/*
 * The pages the loader made read-only after relocating an object: from
 * PT_GNU_RELRO's first page to the page its end falls in, exclusive, as
 * _dl_protect_relro rounds them.
 */
static void relro_pages(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

	*lo = *hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
			uintptr_t start = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;

			*lo = start & ~(page - 1);
			*hi = (start + info->dlpi_phdr[i].p_memsz) & ~(page - 1);
		}
}

static int skip_object(const struct dl_phdr_info *info)
{
	const char *name = info->dlpi_name, *base = strrchr(name, '/');

	base = base ? base + 1 : name;
	return info->dlpi_addr == mt_self_base || !strncmp(base, "linux-vdso", 10) ||
	       !strncmp(base, "ld-linux", 8) || !strncmp(base, "libc.so", 7) ||
	       !strncmp(base, "libmemtide", 10);
}

static void patch_relocs(const struct dl_phdr_info *info, const ElfW(Rela) *rel, size_t size,
			 const ElfW(Sym) *symtab, const char *strtab)
{
	uintptr_t lo, hi;

	relro_pages(info, &lo, &hi);
	for (size_t i = 0; i < size / sizeof(*rel); i++) {
		unsigned type = ELF64_R_TYPE(rel[i].r_info);
		const char *name;
		void **slot, *hook;

		if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
			continue;
		name = strtab + symtab[ELF64_R_SYM(rel[i].r_info)].st_name;
		hook = hook_for(name);
		if (!hook)
			continue;
		slot = (void **)(info->dlpi_addr + rel[i].r_offset);
		for (size_t k = 0; k < npatches; k++)
			if (patches[k].slot == slot)
				goto next;	/* already ours */
		if (npatches < MAX_PATCHES) {
			int relro = (uintptr_t)slot >= lo && (uintptr_t)slot < hi;

			patches[npatches++] = (struct patch){ slot, *slot, relro };
			write_slot(slot, hook, relro);
		}
next:;
	}
}

static uintptr_t dyn_ptr(const struct dl_phdr_info *info, uintptr_t p)
{
	/* the loader relocates these in place on most targets, not all */
	return p < info->dlpi_addr ? p + info->dlpi_addr : p;
}

static int patch_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	const ElfW(Dyn) *dyn = NULL;
	const ElfW(Sym) *symtab = NULL;
	const char *strtab = NULL;
	const ElfW(Rela) *jmprel = NULL, *rela = NULL;
	size_t jmprel_size = 0, rela_size = 0;

	(void)size;
	(void)arg;
	if (skip_object(info))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB: symtab = (const void *)dyn_ptr(info, dyn->d_un.d_ptr); break;
		case DT_STRTAB: strtab = (const void *)dyn_ptr(info, dyn->d_un.d_ptr); break;
		case DT_JMPREL: jmprel = (const void *)dyn_ptr(info, dyn->d_un.d_ptr); break;
		case DT_PLTRELSZ: jmprel_size = dyn->d_un.d_val; break;
		case DT_RELA: rela = (const void *)dyn_ptr(info, dyn->d_un.d_ptr); break;
		case DT_RELASZ: rela_size = dyn->d_un.d_val; break;
		}
	}
	if (!symtab || !strtab)
		return 0;
	if (jmprel)
		patch_relocs(info, jmprel, jmprel_size, symtab, strtab);
	if (rela)
		patch_relocs(info, rela, rela_size, symtab, strtab);
	return 0;
}

/* Points every loaded object's allocator calls at the hooks. */
int mt_got_install(void)
{
	pthread_mutex_lock(&got_lock);
	if (!patches)
		patches = mt_real.mmap(NULL, MAX_PATCHES * sizeof(*patches), PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (patches == MAP_FAILED)
		patches = NULL;
	if (patches) {
		installed = 1;
		dl_iterate_phdr(patch_object, NULL);
	}
	pthread_mutex_unlock(&got_lock);
	return patches ? 0 : -1;
}

/* Patches objects loaded since (called from the dlopen hook). */
void mt_got_refresh(void)
{
	pthread_mutex_lock(&got_lock);
	if (installed)
		dl_iterate_phdr(patch_object, NULL);
	pthread_mutex_unlock(&got_lock);
}

/* Puts every slot back as it was. */
void mt_got_remove(void)
{
	pthread_mutex_lock(&got_lock);
	for (size_t i = 0; i < npatches; i++)
		write_slot(patches[i].slot, patches[i].old, patches[i].relro);
	npatches = 0;
	installed = 0;
	pthread_mutex_unlock(&got_lock);
}
