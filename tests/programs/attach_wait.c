/*
 * attach_wait.c - a program for memtide attach: allocates OLD_BYTES in
 * make_old() at start (before any attach), prints "ready", then reads one
 * command a line from stdin and answers each with one line:
 *   alloc  make_a(): one malloc of A_BYTES; make_b(): B_COUNT callocs of
 *          B_BYTES; all kept
 *   old    frees the block make_old() made
 *   free   frees what alloc made
 *   got    whether the GOT slot of malloc (its address taken here) holds
 *          libc's malloc: "got libc" or "got other"
 * and exits at end of input.  Only read(2) and write(2) between commands:
 * no allocation but the ones named.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OLD_BYTES 30000000
#define A_BYTES 1000000
#define B_COUNT 4
#define B_BYTES 250000

#define NOINLINE __attribute__((noinline))

static void *old_block, *a_block, *b_blocks[B_COUNT];
/* read through the GOT (GLOB_DAT) each time: what the hooks change */
static void *(*volatile malloc_slot)(size_t);

NOINLINE void make_old(void)
{
	old_block = malloc(OLD_BYTES); /* @site:old */
	memset(old_block, 1, OLD_BYTES);
}

NOINLINE void make_a(void)
{
	a_block = malloc(A_BYTES); /* @site:a */
}

NOINLINE void make_b(void)
{
	for (int i = 0; i < B_COUNT; i++)
		b_blocks[i] = calloc(1, B_BYTES); /* @site:b */
}

static void say(const char *s)
{
	size_t n = strlen(s);

	if (write(1, s, n) != (ssize_t)n || write(1, "\n", 1) != 1)
		_exit(3);
}

/* One line of stdin into buf (without its newline); 0 at end of input. */
static int next_line(char *buf, size_t cap)
{
	size_t n = 0;
	char c;

	for (;;) {
		ssize_t r = read(0, &c, 1);

		if (r <= 0)
			return n > 0;
		if (c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return 1;
}

int main(void)
{
	char cmd[64];

	make_old();
	say("ready");
	while (next_line(cmd, sizeof(cmd))) {
		if (!strcmp(cmd, "alloc")) {
			make_a();
			make_b();
		} else if (!strcmp(cmd, "old")) {
			free(old_block);
		} else if (!strcmp(cmd, "free")) {
			free(a_block);
			for (int i = 0; i < B_COUNT; i++)
				free(b_blocks[i]);
		} else if (!strcmp(cmd, "got")) {
			malloc_slot = malloc;
			say(malloc_slot == dlsym(RTLD_DEFAULT, "malloc") ? "got libc" : "got other");
			continue;
		}
		say(cmd);
	}
	return 0;
}
