/*
 * fdguard.h - descriptors of libmemtide.so kept out of the program's way
 * (fdguard.c).
 */
#ifndef MT_FDGUARD_H
#define MT_FDGUARD_H

#include <sys/types.h>

struct mt_fdguard {
	int fd;			/* -1: none */
	int flags;		/* for re-opening: O_CREAT and O_TRUNC dropped */
	dev_t dev;
	ino_t ino;
	char path[4096];	/* absolute; "" when it cannot be re-opened */
};

/* Opens path (made absolute) onto a high close-on-exec descriptor. */
int mt_fd_open(struct mt_fdguard *g, const char *path, int flags, int mode);
/* Adopts an inherited descriptor (no path: it is never re-opened). */
int mt_fd_adopt(struct mt_fdguard *g, int fd);
/* The descriptor to use now, re-opened if the program closed or replaced
 * it; -1 with errno set when it is gone for good.  Async-signal-safe. */
int mt_fd_check(struct mt_fdguard *g);
/* In a descriptor table of memtide's own: closes the descriptor if it is
 * the program's by now (the next check opens ours again). */
void mt_fd_drop_foreign(struct mt_fdguard *g);
void mt_fd_close(struct mt_fdguard *g);

#endif
