/*
 * assets.h - memtide's HTML report pages, embedded at build time.
 *
 * Defined in $(BUILD)/gen/assets.c, which `node web/embed.js $(BUILD)/gen`
 * writes (after `npm ci --prefix web`).  Each page is a complete HTML
 * document, NUL-terminated, with exactly two placeholders left, in this
 * order: {{TITLE}} (replace with HTML-escaped text) and {{DATA}} (replace
 * with the JSON document of docs/HTML.md, with every '<', '>' and '&'
 * written as \u003c, \u003e, \u0026).  Substitute in one left-to-right pass
 * so that nothing substituted is scanned again.
 */
#ifndef MEMTIDE_WEB_ASSETS_H
#define MEMTIDE_WEB_ASSETS_H

extern const char mt_asset_flamegraph_html[];
extern const unsigned long mt_asset_flamegraph_html_len;

extern const char mt_asset_table_html[];
extern const unsigned long mt_asset_table_html_len;

extern const char mt_asset_bench_html[];
extern const unsigned long mt_asset_bench_html_len;
extern const char mt_asset_plot_html[];
extern const unsigned long mt_asset_plot_html_len;

#endif
