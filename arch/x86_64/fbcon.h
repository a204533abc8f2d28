/*
 * arch/x86_64/fbcon.h - the framebuffer console (fbcon.c): text drawn with
 * the built-in font (font8x16.c) on an RGB framebuffer of 24 or 32 bits per
 * pixel. The engine works on any memory (fbcon_init_on), so tests/x86 draws
 * into plain buffers and checks pixels; fbcon_boot_init() puts the boot
 * framebuffer behind it and console.c sends every console byte to it.
 */
#pragma once

#include "lib/lib.h"

#define FBCON_FONT_W 8
#define FBCON_FONT_H 16
#define FBCON_FIRST_GLYPH 0x20
#define FBCON_GLYPHS 95 /* 0x20-0x7e */
extern const uint8_t fbcon_font8x16[FBCON_GLYPHS][FBCON_FONT_H];

/* Screens wider than this get every font pixel drawn as 2x2. */
#define FBCON_SCALE2_MIN_WIDTH 1601
/* History kept per screen of rows: the live screen plus this many - 1
 * screens to look back at. */
#define FBCON_HISTORY_SCREENS 5

/* Colour indices (fbcon_cell.attr): the 8 ANSI colours, +8 = bright. */
enum {
	FBCON_BLACK = 0, FBCON_RED = 1, FBCON_GREEN = 2, FBCON_YELLOW = 3,
	FBCON_BLUE = 4, FBCON_MAGENTA = 5, FBCON_CYAN = 6, FBCON_GREY = 7,
	FBCON_BRIGHT = 8,
	FBCON_DEFAULT_FG = FBCON_GREY,
	FBCON_PANIC_FG = FBCON_RED | FBCON_BRIGHT,    /* lines starting "PANIC:" */
	FBCON_WARNING_FG = FBCON_YELLOW | FBCON_BRIGHT, /* lines starting "warning:" */
};
/* 0xRRGGBB of each colour index (the background is always index 0). */
extern const uint32_t fbcon_palette[16];

/* One character cell of the shadow: what is (or was) on screen. */
typedef struct fbcon_cell {
	uint8_t ch;   /* byte 0x20-0x7e; anything else is drawn as '?' */
	uint8_t attr; /* foreground colour index */
} fbcon_cell;

/* Where each colour channel sits in a pixel (multiboot2's RGB fields). */
typedef struct fbcon_format {
	uint8_t red_pos, red_size, green_pos, green_size, blue_pos, blue_size;
} fbcon_format;

/*
 * The console state. Invariants: the history is a ring of hist_rows rows
 * of `cols` cells; the live screen is the `rows` rows starting at ring row
 * `first`; the `back` rows before it (back <= hist_rows - rows) are
 * scrollback; `view` (0..back) is how many rows the screen shows above the
 * live screen. `shown` is exactly what the pixels show, cell by cell, so a
 * redraw writes only cells that differ and never reads video memory.
 */
typedef struct fbcon {
	volatile uint8_t *fb;
	uint32_t width, height, pitch, bytes_pp;
	fbcon_format fmt;
	uint32_t scale, cols, rows;
	fbcon_cell *hist, *shown;
	uint32_t hist_rows, first, back, view;
	uint32_t row, col;   /* cursor on the live screen; col == cols: wrap pending */
	uint8_t sgr_fg;      /* colour set by an SGR escape, 0xff = none */
	bool bright;         /* SGR 1 */
	uint8_t line_fg;     /* colour the line's prefix selected, 0xff = none */
	char prefix[8];      /* the line's first bytes, to recognise PANIC:/warning: */
	uint32_t prefix_len;
	int esc;             /* escape parser: 0 none, 1 after ESC, 2 in CSI */
	uint32_t esc_params[4], esc_count;
} fbcon;

/* The cells fbcon_init_on needs for a width x height screen at `scale`. */
size_t fbcon_cells_needed(uint32_t width, uint32_t height, uint32_t scale);
/* Starts a console on pixels at fb, with `cells` (fbcon_cells_needed of
 * them) for the shadow and history. Clears the screen. False (nothing
 * touched) when the format is not one this console draws: bpp other than
 * 24/32, a channel outside the pixel, a pitch too small, or a screen
 * smaller than one cell. */
bool fbcon_init_on(fbcon *c, void *fb, uint32_t width, uint32_t height, uint32_t pitch,
		   uint32_t bpp, fbcon_format fmt, uint32_t scale, fbcon_cell *cells,
		   size_t ncells);
/* Interprets bytes (text, \n \r \t \b, ESC[...m colours) and redraws what
 * changed. Output returns the view to the live screen. Never allocates. */
void fbcon_write(fbcon *c, const char *buf, size_t len);
/* Moves the view `lines` rows back into the scrollback (negative: toward
 * the live screen), clamped; returns the new view offset. */
uint32_t fbcon_scroll_view(fbcon *c, int lines);
/* The visible cell at (col, row) of the current view. */
fbcon_cell fbcon_visible_cell(const fbcon *c, uint32_t col, uint32_t row);
/* FNV-1a hash of the visible cells (characters and colours). */
uint64_t fbcon_hash(const fbcon *c);

/* The boot framebuffer's console; NULL when there is none. */
fbcon *fbcon_boot(void);
/* Maps the boot framebuffer (when it is RGB) and starts its console; needs
 * pmm and vmm. Prints why when it cannot. */
void fbcon_boot_init(void);
