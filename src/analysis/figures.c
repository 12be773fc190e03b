/*
 * figures.c - one capture's headline figures (figures.h): one replay, the
 * interpreter's arenas taken out of the leaks as every report does, and
 * the sites of the memory live at the peak folded as `stats` folds its
 * sites.
 */
#include <stdio.h>
#include <string.h>

#include "figures.h"
#include "hiding.h"
#include "replay.h"
#include "stats.h"
#include "../format/xalloc.h"

int mt_figures_read(const char *path, struct mt_figures *f, char *err, size_t errlen)
{
	struct mt_replay_opts o = { .temporary_threshold = 1 };
	struct mt_replay r;
	struct mt_usage arenas;
	struct mt_stats s;

	memset(f, 0, sizeof(*f));
	if (mt_replay_run(path, &o, &r, err, errlen) < 0) {
		mt_replay_release(&r);
		return -1;
	}
	mt_hide_interpreter_arenas(&r, &arenas);
	f->peak_bytes = r.peak_bytes;
	f->peak_rss_bytes = r.c.peak_rss;
	f->total_bytes = r.total_bytes;
	f->allocations = r.total_allocations;
	f->leaked_bytes = r.leaked_bytes;
	f->duration_ns = r.c.end_ns;
	f->truncated = r.c.truncated;
	f->cwd = r.c.cwd ? mt_xstrdup(r.c.cwd) : NULL;

	mt_stats_sites_of(&r, r.peak, 1, 0, &s);
	if (s.nsites && s.by_size[0].bytes) {
		f->top_function = mt_xstrdup(s.by_size[0].function);
		f->top_file = mt_xstrdup(s.by_size[0].file);
		f->top_line = s.by_size[0].line;
		f->top_bytes = s.by_size[0].bytes;
	}
	mt_stats_release(&s);

	f->steps = mt_xcalloc(r.nsteps, sizeof(*f->steps));
	for (uint32_t i = 0; i < r.nsteps; i++) {
		const struct mt_step *st = &r.steps[i];

		f->steps[i].name = mt_xstrdup(mt_capture_string(&r.c, st->name));
		f->steps[i].peak = st->peak;
		f->steps[i].above_start = st->peak > st->heap_start ? st->peak - st->heap_start : 0;
	}
	f->nsteps = r.nsteps;
	mt_replay_release(&r);
	return 0;
}

void mt_figures_release(struct mt_figures *f)
{
	free(f->top_function);
	free(f->top_file);
	free(f->cwd);
	for (uint32_t i = 0; i < f->nsteps; i++)
		free(f->steps[i].name);
	free(f->steps);
	memset(f, 0, sizeof(*f));
}
