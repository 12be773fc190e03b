/*
 * cairo_dl.h - cairo, loaded when a command draws (memtide plot), never
 * at start-up: libcairo and the libraries it needs (pixman, freetype,
 * fontconfig, png, X11...) would add to the start-up of every memtide
 * command, `memtide run` included (bench/startup.py).  The declarations
 * come from cairo's headers; the functions are looked up in libcairo.so.2
 * with dlsym and called through the table below, with the same names.
 */
#ifndef MT_CAIRO_DL_H
#define MT_CAIRO_DL_H

#include <cairo.h>
#include <cairo-pdf.h>
#include <cairo-svg.h>

/* Every cairo function memtide calls. */
#define MT_CAIRO_FUNCTIONS(X)							\
	X(cairo_image_surface_create) X(cairo_surface_write_to_png_stream)	\
	X(cairo_pdf_surface_create_for_stream) X(cairo_pdf_surface_set_metadata) \
	X(cairo_svg_surface_create_for_stream) X(cairo_svg_surface_set_document_unit) \
	X(cairo_surface_finish) X(cairo_surface_destroy) X(cairo_surface_status) \
	X(cairo_create) X(cairo_destroy) X(cairo_status) X(cairo_status_to_string) \
	X(cairo_save) X(cairo_restore) X(cairo_scale)				\
	X(cairo_set_source_rgba) X(cairo_paint) X(cairo_new_path)		\
	X(cairo_move_to) X(cairo_line_to) X(cairo_rectangle) X(cairo_arc)	\
	X(cairo_close_path) X(cairo_fill) X(cairo_stroke) X(cairo_clip)		\
	X(cairo_set_line_width) X(cairo_set_line_join) X(cairo_set_dash)	\
	X(cairo_select_font_face) X(cairo_set_font_size) X(cairo_text_extents)	\
	X(cairo_show_text) X(cairo_rotate) X(cairo_debug_reset_static_data)

struct mt_cairo {
#define MT_CAIRO_MEMBER(name) __typeof__(name) *name;
	MT_CAIRO_FUNCTIONS(MT_CAIRO_MEMBER)
#undef MT_CAIRO_MEMBER
	/*
	 * fontconfig's, which cairo uses for text: frees its caches after
	 * cairo_debug_reset_static_data(), so that a leak checker sees none.
	 * NULL when cairo was built without fontconfig.
	 */
	void (*FcFini)(void);
};

/*
 * Loads libcairo.so.2 once and returns its function table, or NULL with a
 * one-line reason in err (the library or a function is missing).
 */
const struct mt_cairo *mt_cairo_load(char *err, size_t errlen);

#endif
