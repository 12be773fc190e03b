/*
 * bench_store.c - a benchmark matrix's directory (bench_store.h): the
 * paths of its runs, the matrix and status files (key=value lines), and
 * loading all of it back for the report.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_store.h"
#include "../format/xalloc.h"

#define MATRIX_FILE "matrix"
#define MATRIX_HEADER "# memtide bench matrix"
#define STATUS_HEADER "# memtide bench run"

/* ------------------------------------------------------------- key=value */

struct kv {
	char **keys, **values;
	size_t n, cap;
};

static void kv_put(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s=", key);
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fputc('\n', f);
}

static void kv_add(struct kv *kv, const char *key, size_t klen, const char *v, size_t vlen)
{
	char *value = mt_xcalloc(vlen + 1, 1), *o = value;

	for (size_t i = 0; i < vlen; i++) {
		if (v[i] == '\\' && i + 1 < vlen) {
			*o++ = v[i + 1] == 'n' ? '\n' : v[i + 1];
			i++;
		} else {
			*o++ = v[i];
		}
	}
	if (kv->n == kv->cap) {
		kv->cap = kv->cap ? kv->cap * 2 : 16;
		kv->keys = mt_xrealloc(kv->keys, kv->cap * sizeof(char *));
		kv->values = mt_xrealloc(kv->values, kv->cap * sizeof(char *));
	}
	kv->keys[kv->n] = strndup(key, klen);
	if (!kv->keys[kv->n])
		mt_oom();
	kv->values[kv->n++] = value;
}

static void kv_release(struct kv *kv)
{
	for (size_t i = 0; i < kv->n; i++) {
		free(kv->keys[i]);
		free(kv->values[i]);
	}
	free(kv->keys);
	free(kv->values);
	memset(kv, 0, sizeof(*kv));
}

/* Reads path, which must start with the header line: 0, or -1 (errno set). */
static int kv_read(const char *path, const char *header, struct kv *kv)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int first = 1, bad = 0;

	memset(kv, 0, sizeof(*kv));
	if (!f)
		return -1;
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *eq;

		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (first) {
			first = 0;
			bad = strcmp(line, header) != 0;
			if (bad)
				break;
			continue;
		}
		if (!len || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			bad = 1;
			break;
		}
		kv_add(kv, line, (size_t)(eq - line), eq + 1, strlen(eq + 1));
	}
	free(line);
	fclose(f);
	if (bad || first) {
		kv_release(kv);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static const char *kv_get(const struct kv *kv, const char *key)
{
	for (size_t i = 0; i < kv->n; i++)
		if (!strcmp(kv->keys[i], key))
			return kv->values[i];
	return NULL;
}

/* Writes text to path through a temporary file renamed into place. */
static int write_file(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
	char tmp[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) || rename(tmp, path)) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
		return -1;
	}
	return 0;
}

/* ----------------------------------------------------------------- paths */

int bench_mkdirs(const char *path, char *err, size_t errlen)
{
	char buf[4096];
	struct stat sb;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1;; p++) {
		int end = *p == '\0';

		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if ((mkdir(buf, 0755) && errno != EEXIST) || stat(buf, &sb) ||
		    (!S_ISDIR(sb.st_mode) && (errno = ENOTDIR))) {
			snprintf(err, errlen, "cannot create '%s': %s", buf, strerror(errno));
			return -1;
		}
		if (end)
			return 0;
		*p = '/';
	}
}

/* ---------------------------------------------------------------- quoting */

char *bench_quote(char *const *argv, int argc)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789_-+./=:,@%{}";
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		mt_oom();
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (i)
			fputc(' ', f);
		if (*a && strspn(a, safe) == strlen(a)) {
			fputs(a, f);
			continue;
		}
		fputc('\'', f);
		for (; *a; a++) {
			if (*a == '\'')
				fputs("'\\''", f);
			else
				fputc(*a, f);
		}
		fputc('\'', f);
	}
	fclose(f);
	return out;
}

/* ---------------------------------------------------------------- files */

int bench_save_matrix(const struct mt_matrix *m, char *err, size_t errlen)
{
	char path[4096], num[32], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (!f)
		mt_oom();
	fputs(MATRIX_HEADER "\n", f);
	kv_put(f, "command", m->command);
	snprintf(num, sizeof(num), "%u", m->repeat);
	kv_put(f, "repeat", num);
	for (uint32_t p = 0; p < m->nparams; p++) {
		char *joined = NULL;
		size_t jlen = 0;
		FILE *j = open_memstream(&joined, &jlen);

		if (!j)
			mt_oom();
		for (uint32_t v = 0; v < m->params[p].nvalues; v++)
			fprintf(j, "%s%s", v ? "," : "", m->params[p].values[v]);
		fclose(j);
		kv_put(f, "param", m->params[p].name);
		kv_put(f, "values", joined);
		free(joined);
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/" MATRIX_FILE, m->dir);
	rc = write_file(path, text, len, err, errlen);
	free(text);
	return rc;
}

/* Splits "a,b,c" into values. */
static void split_values(struct mt_matrix_param *p, const char *s)
{
	p->nvalues = 0;
	p->values = NULL;
	for (;;) {
		size_t n = strcspn(s, ",");

		p->values = mt_xrealloc(p->values, (p->nvalues + 1) * sizeof(char *));
		p->values[p->nvalues] = strndup(s, n);
		if (!p->values[p->nvalues++])
			mt_oom();
		if (!s[n])
			return;
		s += n + 1;
	}
}

/* The matrix file's contents into m; 0, or -1 when it is not one. */
static int parse_matrix(const struct kv *kv, struct mt_matrix *m)
{
	const char *command = kv_get(kv, "command"), *repeat = kv_get(kv, "repeat");
	uint64_t cells = 1;

	if (!command || !repeat || atoi(repeat) < 1)
		return -1;
	m->command = mt_xstrdup(command);
	m->repeat = (uint32_t)atoi(repeat);
	for (size_t i = 0; i < kv->n; i++) {
		struct mt_matrix_param *p;

		if (strcmp(kv->keys[i], "param"))
			continue;
		if (i + 1 >= kv->n || strcmp(kv->keys[i + 1], "values") || !kv->values[i + 1][0])
			return -1;
		m->params = mt_xrealloc(m->params, (m->nparams + 1) * sizeof(*m->params));
		p = &m->params[m->nparams++];
		p->name = mt_xstrdup(kv->values[i]);
		split_values(p, kv->values[i + 1]);
		cells *= p->nvalues;
		if (cells > 1000000)
			return -1;
	}
	if (!m->nparams)
		return -1;
	m->ncells = (uint32_t)cells;
	return 0;
}

int bench_load(const char *dir, struct mt_matrix *m, char *err, size_t errlen)
{
	char path[4096], cerr[512];
	struct kv kv;
	uint32_t done = 0;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "%s/" MATRIX_FILE, dir);
	if (kv_read(path, MATRIX_HEADER, &kv) < 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "'%s' holds no benchmark runs (no %s file: "
				 "memtide bench -o DIR runs a matrix into DIR)", dir, MATRIX_FILE);
		else
			snprintf(err, errlen, "cannot read '%s': %s", path,
				 errno == EINVAL ? "not a memtide bench matrix" : strerror(errno));
		return -1;
	}
	if (parse_matrix(&kv, m) < 0) {
		kv_release(&kv);
		mt_matrix_release(m);
		snprintf(err, errlen, "cannot read '%s': not a memtide bench matrix", path);
		return -1;
	}
	kv_release(&kv);
	m->dir = mt_xstrdup(dir);
	m->runs = mt_xcalloc((size_t)m->ncells * m->repeat, sizeof(*m->runs));
	for (uint32_t cell = 0; cell < m->ncells; cell++)
		for (uint32_t k = 0; k < m->repeat; k++) {
			struct mt_matrix_run *run = mt_matrix_run(m, cell, k);
			struct bench_status s;

			mt_matrix_run_file(m, cell, k, "status", path, sizeof(path));
			if (bench_read_status(path, &s) < 0)
				continue;
			done++;
			run->state = s.state;
			run->exit_status = s.exit_status;
			run->signal = s.signal;
			run->wall_s = s.wall_s;
			run->jobs = s.jobs;
			bench_status_release(&s);
			mt_matrix_run_file(m, cell, k, "tide", path, sizeof(path));
			if (access(path, F_OK))
				continue;
			if (mt_figures_read(path, &run->fig, cerr, sizeof(cerr)) == 0)
				run->measured = 1;
			else if (run->state == MT_RUN_OK)
				fprintf(stderr, "memtide: %s\n", cerr);
		}
	if (!done) {
		snprintf(err, errlen, "'%s' holds no finished benchmark runs yet", dir);
		mt_matrix_release(m);
		return -1;
	}
	return 0;
}

int bench_read_status(const char *path, struct bench_status *s)
{
	struct kv kv;
	const char *state, *v;

	memset(s, 0, sizeof(*s));
	if (kv_read(path, STATUS_HEADER, &kv) < 0)
		return -1;
	state = kv_get(&kv, "status");
	if (!state || (strcmp(state, "ok") && strcmp(state, "failed"))) {
		kv_release(&kv);
		return -1;
	}
	s->state = strcmp(state, "ok") ? MT_RUN_FAILED : MT_RUN_OK;
	s->exit_status = (v = kv_get(&kv, "exit_status")) ? atoi(v) : 0;
	s->signal = (v = kv_get(&kv, "signal")) ? atoi(v) : 0;
	s->wall_s = (v = kv_get(&kv, "wall_s")) ? strtod(v, NULL) : 0;
	s->jobs = (v = kv_get(&kv, "jobs")) ? atoi(v) : 1;
	s->capture_bytes = (v = kv_get(&kv, "capture_bytes")) ? strtoull(v, NULL, 10) : 0;
	s->command = mt_xstrdup((v = kv_get(&kv, "command")) ? v : "");
	kv_release(&kv);
	return 0;
}

int bench_write_status(const char *path, const struct bench_status *s, char *err,
		       size_t errlen)
{
	char *text = NULL, num[64];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (!f)
		mt_oom();
	fputs(STATUS_HEADER "\n", f);
	kv_put(f, "status", s->state == MT_RUN_OK ? "ok" : "failed");
	snprintf(num, sizeof(num), "%d", s->exit_status);
	kv_put(f, "exit_status", num);
	snprintf(num, sizeof(num), "%d", s->signal);
	kv_put(f, "signal", num);
	snprintf(num, sizeof(num), "%.6f", s->wall_s);
	kv_put(f, "wall_s", num);
	snprintf(num, sizeof(num), "%d", s->jobs);
	kv_put(f, "jobs", num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)s->capture_bytes);
	kv_put(f, "capture_bytes", num);
	kv_put(f, "command", s->command);
	fclose(f);
	rc = write_file(path, text, len, err, errlen);
	free(text);
	return rc;
}

void bench_status_release(struct bench_status *s)
{
	free(s->command);
	memset(s, 0, sizeof(*s));
}
