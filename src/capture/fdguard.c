/*
 * fdguard.c - the descriptors libmemtide.so keeps in the profiled process
 * (the capture file, /proc/self/statm, the status pipe of memtide run).
 * They live at high numbers, close-on-exec, so that a program that
 * dup2()s onto or closes "its" low descriptors does not meet them; and
 * before each use their identity (device and inode) is checked, so that
 * a program that closes every descriptor, or dup2()s over all of them,
 * neither receives memtide's bytes nor loses the capture: a file of ours
 * that was closed or replaced is opened again by its path.  Only system
 * calls: safe in a signal handler.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdguard.h"

/* Far above what programs use, below their descriptor limit. */
static int high_base(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1000;
	if (rl.rlim_cur > 1100)
		return 1000;
	return rl.rlim_cur > 64 ? (int)(rl.rlim_cur * 3 / 4) : 3;
}

/* Moves fd to a high close-on-exec number (keeps fd when it cannot). */
static int move_high(int fd)
{
	int hi = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, high_base()) : -1;

	if (hi < 0)
		return fd;
	close(fd);
	return hi;
}

static int remember(struct mt_fdguard *g, int fd)
{
	struct stat sb;

	if (fd < 0 || fstat(fd, &sb) < 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		errno = err;
		g->fd = -1;
		return -1;
	}
	g->fd = fd;
	g->dev = sb.st_dev;
	g->ino = sb.st_ino;
	return fd;
}

int mt_fd_open(struct mt_fdguard *g, const char *path, int flags, int mode)
{
	size_t n = 0;

	g->path[0] = '\0';
	if (path[0] != '/' && getcwd(g->path, sizeof(g->path) - 1))
		n = strlen(g->path), g->path[n++] = '/';
	if (n + strlen(path) < sizeof(g->path))
		memcpy(g->path + n, path, strlen(path) + 1);
	else
		g->path[0] = '\0';
	g->flags = flags & ~(O_CREAT | O_TRUNC | O_EXCL);
	return remember(g, move_high(open(path, flags | O_CLOEXEC, mode)));
}

int mt_fd_adopt(struct mt_fdguard *g, int fd)
{
	g->path[0] = '\0';
	if (fcntl(fd, F_GETFD) < 0)
		return g->fd = -1;
	return remember(g, move_high(fd));
}

int mt_fd_check(struct mt_fdguard *g)
{
	struct stat sb;
	int fd;

	if (g->fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (fstat(g->fd, &sb) == 0 && sb.st_dev == g->dev && sb.st_ino == g->ino)
		return g->fd;
	/* Closed, or now the program's: ours is opened again, theirs left alone. */
	if (!g->path[0]) {
		g->fd = -1;
		errno = EBADF;
		return -1;
	}
	fd = move_high(open(g->path, g->flags | O_CLOEXEC));
	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_dev != g->dev || sb.st_ino != g->ino) {
		if (fd >= 0)
			close(fd);
		g->fd = -1;
		errno = fd < 0 ? errno : ESTALE;
		return -1;
	}
	g->fd = fd;
	return fd;
}

void mt_fd_drop_foreign(struct mt_fdguard *g)
{
	struct stat sb;

	if (g->fd >= 0 && fstat(g->fd, &sb) == 0 && (sb.st_dev != g->dev || sb.st_ino != g->ino))
		close(g->fd);
}

void mt_fd_close(struct mt_fdguard *g)
{
	if (g->fd >= 0 && mt_fd_check(g) >= 0)
		close(g->fd);
	g->fd = -1;
}
