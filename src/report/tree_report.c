/*
 * tree_report.c - text and JSON output of call trees.  The text form draws
 * the branches with box characters, biggest first, one line per node:
 * size, share of the total, allocations, function at file:line.
 */
#include <string.h>

#include "output.h"
#include "tree_report.h"

static void text_node(FILE *f, const struct mt_calltree *t, uint32_t n,
		      char *prefix, size_t plen, int last)
{
	const struct mt_tnode *node = &t->nodes[n];
	const struct mt_dframe *fr = node->frame ? &t->frames[node->frame] : NULL;
	size_t plen0 = plen;
	char size[32], count[32];
	double pct = t->total_bytes ? 100.0 * (double)node->bytes / (double)t->total_bytes : 0;

	fprintf(f, "%10s %5.1f%% %10s  %s%s", mt_fmt_size(size, sizeof(size), node->bytes), pct,
		mt_fmt_count(count, sizeof(count), node->count), prefix,
		n == 1 ? "" : last ? "\u2514\u2500\u2500 " : "\u251c\u2500\u2500 ");
	if (fr && !fr->file[0])		/* [no Python frame] */
		fprintf(f, "%s\n", fr->function);
	else if (fr)
		fprintf(f, "%s at %s:%u%s\n", fr->function, fr->file, fr->line,
			fr->native ? " [native]" : "");
	else
		fprintf(f, "<root>\n");
	if (n != 1 && plen + 8 < 4096) {
		strcpy(prefix + plen, last ? "    " : "\u2502   ");
		plen += strlen(prefix + plen);
	}
	for (uint32_t c = node->child; c; c = t->nodes[c].next)
		text_node(f, t, c, prefix, plen, t->nodes[c].next == 0);
	prefix[plen0] = '\0';
}

void mt_tree_print_text(FILE *f, const struct mt_calltree *t, const char *title)
{
	char prefix[4096] = "";

	fprintf(f, "%s\n\n%10s %6s %10s  %s\n", title, "memory", "share", "allocs", "function at file:line");
	if (t->nnodes < 2 || !t->total_count) {
		fprintf(f, "(nothing)\n");
		return;
	}
	text_node(f, t, 1, prefix, 0, 1);
}

static void json_node(FILE *f, const struct mt_calltree *t, uint32_t n, int depth)
{
	const struct mt_tnode *node = &t->nodes[n];
	const struct mt_dframe *fr = node->frame ? &t->frames[node->frame] : NULL;

	fprintf(f, "%*s{\"function\": ", depth * 2, "");
	mt_json_str(f, fr ? fr->function : "<root>");
	fputs(", \"file\": ", f);
	mt_json_str(f, fr ? fr->file : "");
	fprintf(f, ", \"line\": %u, \"native\": %s, \"bytes\": %llu, \"count\": %llu, \"children\": [",
		fr ? fr->line : 0, fr && fr->native ? "true" : "false",
		(unsigned long long)node->bytes, (unsigned long long)node->count);
	for (uint32_t c = node->child; c; c = t->nodes[c].next) {
		fputc('\n', f);
		json_node(f, t, c, depth + 1);
		if (t->nodes[c].next)
			fputc(',', f);
	}
	fputs(node->child ? "\n" : "", f);
	fprintf(f, "%*s]}", node->child ? depth * 2 : 0, "");
}

void mt_tree_print_json(FILE *f, const struct mt_calltree *t, const char *view)
{
	fputs("{\"view\": ", f);
	mt_json_str(f, view);
	fprintf(f, ", \"bytes\": %llu, \"count\": %llu, \"root\":\n",
		(unsigned long long)t->total_bytes, (unsigned long long)t->total_count);
	if (t->nnodes >= 2)
		json_node(f, t, 1, 0);
	else
		fputs("null", f);
	fputs("}\n", f);
}
