/*
 * run_outputs.c - the capture files of one `memtide run`: the -o pattern
 * (%p, %h, %r, %%), the run's session id, and the list of captures the
 * run's processes wrote (the program's, and <stem>.<pid>.tide of every
 * child it was told to follow), printed when the program ends.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "run_outputs.h"
#include "../report/output.h"

/* The launchers' variables for a process's rank, in the order tried. */
static const char *const rank_vars[] = {
	"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID",
};

int run_output_name(const char *pattern, long pid, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = pattern; *p; p++) {
		char val[256];
		const char *v = val;

		if (*p != '%') {
			val[0] = *p;
			val[1] = '\0';
		} else if (p[1] == 'p') {
			snprintf(val, sizeof(val), "%ld", pid);
			p++;
		} else if (p[1] == 'h') {
			if (gethostname(val, sizeof(val)) < 0)
				return mt_error("-o '%s': cannot read the host name: %s", pattern,
						strerror(errno));
			val[sizeof(val) - 1] = '\0';
			p++;
		} else if (p[1] == 'r') {
			v = NULL;
			for (size_t i = 0; !v && i < sizeof(rank_vars) / sizeof(rank_vars[0]); i++)
				v = getenv(rank_vars[i]);
			if (!v || !*v)
				return mt_error("-o '%s': %%r is the MPI rank, but none of "
						"OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK, "
						"SLURM_PROCID is set (run it under mpirun or srun)",
						pattern);
			p++;
		} else if (p[1] == '%') {
			val[0] = '%';
			val[1] = '\0';
			p++;
		} else {
			return mt_error("-o '%s': unknown pattern '%%%.1s' (%%p pid, %%h host, "
					"%%r MPI rank, %%%% a %%)", pattern, p + 1);
		}
		if (n + strlen(v) >= cap)
			return mt_error("-o '%s': the name is too long", pattern);
		memcpy(out + n, v, strlen(v));
		n += strlen(v);
	}
	out[n] = '\0';
	return 0;
}

int run_output_has_pid(const char *pattern)
{
	for (const char *p = pattern; *p; p++)
		if (*p == '%' && p[1]) {
			if (p[1] == 'p')
				return 1;
			p++;
		}
	return 0;
}

void run_session_id(char *buf, size_t cap)
{
	const char *job = getenv("PMIX_NAMESPACE"), *step = NULL;
	unsigned char r[8] = { 0 };
	size_t n = 0;

	/* the ranks of one MPI job, each under its own memtide run */
	if (!job || !*job)
		job = getenv("OMPI_MCA_ess_base_jobid");
	if (!job || !*job) {
		job = getenv("SLURM_JOB_ID");
		step = getenv("SLURM_STEP_ID");
	}
	if (job && *job) {
		snprintf(buf, cap, "job-%s%s%s", job, step ? "." : "", step ? step : "");
		return;
	}
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		unsigned long long x = (unsigned long long)getpid() ^
				       ((unsigned long long)time(NULL) << 20);

		memcpy(r, &x, sizeof(r));
	}
	for (size_t i = 0; i < sizeof(r) && n + 3 <= cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%02x", r[i]);
}

/* name is <stem>.<digits>[.<digits>...].tide */
static int is_child_name(const char *name, const char *stem, size_t len)
{
	const char *p = name + len, *end = name + strlen(name) - 5;

	if (strncmp(name, stem, len) || *p != '.' || end <= p || strcmp(end, ".tide"))
		return 0;
	for (p++; p < end; p++)
		if (!(*p >= '0' && *p <= '9') && !(*p == '.' && p[-1] != '.' && p[1] != '.'))
			return 0;
	return end[-1] != '.';
}

/* Version order of the names without ".tide": a capture before its
 * children's (<stem>.<pid>.tide before <stem>.<pid>.<pid2>.tide). */
static int by_version(const void *a, const void *b)
{
	char x[NAME_MAX + 1], y[NAME_MAX + 1];

	snprintf(x, sizeof(x), "%.*s", (int)strlen(*(char *const *)a) - 5, *(char *const *)a);
	snprintf(y, sizeof(y), "%.*s", (int)strlen(*(char *const *)b) - 5, *(char *const *)b);
	return strverscmp(x, y);
}

int run_list_captures(const char *out, time_t since)
{
	char dir[4096], stem[4096], path[8300], size[32];
	const char *slash = strrchr(out, '/'), *base = slash ? slash + 1 : out;
	size_t len = strlen(base), n = 0, cap = 0;
	char **names = NULL;
	struct dirent *e;
	struct stat sb;
	DIR *d;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - out) : 1, slash ? out : ".");
	if (slash == out)
		snprintf(dir, sizeof(dir), "/");
	if (len > 5 && !strcmp(base + len - 5, ".tide"))
		len -= 5;
	snprintf(stem, sizeof(stem), "%.*s", (int)len, base);
	if (!(d = opendir(dir)))
		return 0;
	while ((e = readdir(d))) {
		if (!is_child_name(e->d_name, stem, len))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &sb) || !S_ISREG(sb.st_mode) || sb.st_mtime < since)
			continue;
		if (n == cap) {
			size_t more = cap ? 2 * cap : 16;
			char **grown = realloc(names, more * sizeof(*names));

			if (!grown)
				break;
			names = grown;
			cap = more;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_version);
	fprintf(stderr, "memtide: %zu %s written:\n", n + 1, n ? "captures" : "capture");
	fprintf(stderr, "memtide:   %s (%s)\n", out,
		stat(out, &sb) ? "missing" : mt_fmt_size(size, sizeof(size), (uint64_t)sb.st_size));
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fprintf(stderr, "memtide:   %s (%s)\n", slash ? path : names[i],
			stat(path, &sb) ? "missing" : mt_fmt_size(size, sizeof(size),
								 (uint64_t)sb.st_size));
		free(names[i]);
	}
	free(names);
	fprintf(stderr, "memtide: look at the process tree with: memtide stats %s %s%s%s.*.tide\n",
		out, slash ? dir : "", slash && strcmp(dir, "/") ? "/" : "", stem);
	return (int)n + 1;
}
