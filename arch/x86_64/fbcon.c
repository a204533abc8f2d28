/*
 * fbcon.c - the framebuffer console: owns the text state of a console drawn
 * on an RGB framebuffer (24 or 32 bits per pixel, any pitch) and the boot
 * framebuffer's instance.
 *
 * Memory: every character lives in a ring of cell rows (the history: the
 * live screen plus scrollback) and `shown` records what the pixels show.
 * Writing changes cells only; fbcon_flush then draws each visible cell that
 * differs from `shown`, so scrolling is a change of ring index followed by
 * a redraw from the shadow, and video memory is written, never read. All of
 * it is handed to fbcon_init_on up front, so the write path (the panic path
 * included) never allocates. The boot instance takes its cells from pmm
 * frames (the direct map), not from the heap, and maps the framebuffer
 * write-combining (vmm_map_framebuffer): drawing only writes it.
 *
 * Colours: kprintf output is a byte stream, so colours come in two ways.
 * A line whose first bytes are "PANIC:" or "warning:" is drawn bright red
 * or bright yellow (the serial text stays byte-for-byte what scripts grep
 * for), and the ANSI SGR escapes ESC[0m, 1m, 22m, 30-37m, 39m and 90-97m set
 * the colour explicitly; other escapes are consumed and ignored.
 *
 * Bytes: 0x20-0x7e are drawn ('?' for others >= 0x80 or DEL), \n moves to
 * the next line's start, \r to the line's start, \t to the next multiple of
 * 8 columns, \b one column left (without erasing). A line that fills the
 * last column wraps when the next character arrives (so exactly `cols`
 * characters and \n give one row, not a row and a blank one).
 */
#include "arch/x86_64/fbcon.h"
#include "arch/x86_64/x86.h"

const uint32_t fbcon_palette[16] = {
	0x000000, 0xaa0000, 0x00aa00, 0xaa5500, 0x0000aa, 0xaa00aa, 0x00aaaa, 0xaaaaaa,
	0x555555, 0xff5555, 0x55ff55, 0xffff55, 0x5555ff, 0xff55ff, 0x55ffff, 0xffffff,
};

#define FBCON_NO_COLOUR 0xff
#define FBCON_TAB 8
#define ESC_NONE 0
#define ESC_SEEN 1
#define ESC_CSI 2

static uint32_t grid_cols(uint32_t width, uint32_t scale) { return width / (FBCON_FONT_W * scale); }
static uint32_t grid_rows(uint32_t height, uint32_t scale) { return height / (FBCON_FONT_H * scale); }

size_t fbcon_cells_needed(uint32_t width, uint32_t height, uint32_t scale)
{
	size_t cols = grid_cols(width, scale), rows = grid_rows(height, scale);
	return cols * rows * (FBCON_HISTORY_SCREENS + 1); /* history + shown */
}

static bool channel_fits(uint8_t pos, uint8_t size, uint32_t bpp)
{
	return size >= 1 && size <= 8 && pos + size <= bpp;
}

static fbcon_cell *hist_row(const fbcon *c, uint32_t ring_row)
{
	return &c->hist[(size_t)(ring_row % c->hist_rows) * c->cols];
}

/* Ring row of live-screen row r. */
static uint32_t live_ring(const fbcon *c, uint32_t r) { return c->first + r; }

/* Ring row shown on screen row r in the current view. */
static uint32_t view_ring(const fbcon *c, uint32_t r)
{
	return c->first + c->hist_rows - c->view + r;
}

static void clear_row(fbcon_cell *row, uint32_t cols)
{
	for (uint32_t i = 0; i < cols; i++)
		row[i] = (fbcon_cell){' ', FBCON_DEFAULT_FG};
}

static uint32_t channel(uint32_t rgb8, uint8_t pos, uint8_t size)
{
	return (rgb8 >> (8 - size)) << pos;
}

static uint32_t pixel_of(const fbcon *c, unsigned index)
{
	uint32_t rgb = fbcon_palette[index & 15];
	return channel((rgb >> 16) & 0xff, c->fmt.red_pos, c->fmt.red_size) |
	       channel((rgb >> 8) & 0xff, c->fmt.green_pos, c->fmt.green_size) |
	       channel(rgb & 0xff, c->fmt.blue_pos, c->fmt.blue_size);
}

static void put_pixel(const fbcon *c, volatile uint8_t *p, uint32_t v)
{
	if (c->bytes_pp == 4) {
		*(volatile uint32_t *)p = v;
	} else {
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
		p[2] = (uint8_t)(v >> 16);
	}
}

static void draw_cell(fbcon *c, uint32_t col, uint32_t row, fbcon_cell cell)
{
	uint8_t ch = cell.ch >= FBCON_FIRST_GLYPH && cell.ch < FBCON_FIRST_GLYPH + FBCON_GLYPHS
			     ? cell.ch : '?';
	const uint8_t *glyph = fbcon_font8x16[ch - FBCON_FIRST_GLYPH];
	uint32_t fg = pixel_of(c, cell.attr), bg = pixel_of(c, FBCON_BLACK);
	uint32_t x0 = col * FBCON_FONT_W * c->scale, y0 = row * FBCON_FONT_H * c->scale;
	for (uint32_t gy = 0; gy < FBCON_FONT_H * c->scale; gy++) {
		uint8_t bits = glyph[gy / c->scale];
		volatile uint8_t *line = c->fb + (size_t)(y0 + gy) * c->pitch +
					 (size_t)x0 * c->bytes_pp;
		for (uint32_t gx = 0; gx < FBCON_FONT_W * c->scale; gx++)
			put_pixel(c, line + (size_t)gx * c->bytes_pp,
				  (bits & (0x80 >> (gx / c->scale))) ? fg : bg);
	}
}

/* Draws every visible cell that differs from what the pixels show. */
static void fbcon_flush(fbcon *c)
{
	for (uint32_t r = 0; r < c->rows; r++) {
		const fbcon_cell *src = hist_row(c, view_ring(c, r));
		fbcon_cell *shown = &c->shown[(size_t)r * c->cols];
		for (uint32_t x = 0; x < c->cols; x++) {
			if (src[x].ch == shown[x].ch && src[x].attr == shown[x].attr)
				continue;
			draw_cell(c, x, r, src[x]);
			shown[x] = src[x];
		}
	}
}

bool fbcon_init_on(fbcon *c, void *fb, uint32_t width, uint32_t height, uint32_t pitch,
		   uint32_t bpp, fbcon_format fmt, uint32_t scale, fbcon_cell *cells,
		   size_t ncells)
{
	if ((bpp != 24 && bpp != 32) || (scale != 1 && scale != 2) ||
	    !channel_fits(fmt.red_pos, fmt.red_size, bpp) ||
	    !channel_fits(fmt.green_pos, fmt.green_size, bpp) ||
	    !channel_fits(fmt.blue_pos, fmt.blue_size, bpp) ||
	    (uint64_t)width * (bpp / 8) > pitch || grid_cols(width, scale) == 0 ||
	    grid_rows(height, scale) == 0 || ncells < fbcon_cells_needed(width, height, scale))
		return false;
	*c = (fbcon){
		.fb = fb, .width = width, .height = height, .pitch = pitch,
		.bytes_pp = bpp / 8, .fmt = fmt, .scale = scale,
		.cols = grid_cols(width, scale), .rows = grid_rows(height, scale),
		.sgr_fg = FBCON_NO_COLOUR, .line_fg = FBCON_NO_COLOUR,
	};
	c->hist_rows = c->rows * FBCON_HISTORY_SCREENS;
	c->hist = cells;
	c->shown = cells + (size_t)c->hist_rows * c->cols;
	for (uint32_t r = 0; r < c->hist_rows; r++)
		clear_row(hist_row(c, r), c->cols);
	clear_row(c->shown, c->cols * c->rows);
	/* Blank the whole screen, margins included; `shown` says blank. */
	uint32_t bg = pixel_of(c, FBCON_BLACK);
	for (uint32_t y = 0; y < height; y++)
		for (uint32_t x = 0; x < width; x++)
			put_pixel(c, c->fb + (size_t)y * pitch + (size_t)x * c->bytes_pp, bg);
	return true;
}

static void newline(fbcon *c)
{
	c->col = 0;
	c->line_fg = FBCON_NO_COLOUR;
	c->prefix_len = 0;
	if (c->row + 1 < c->rows) {
		c->row++;
		return;
	}
	/* Scroll: the live screen moves down the ring one row; the row that
	 * falls off its top becomes scrollback. */
	c->first = (c->first + 1) % c->hist_rows;
	if (c->back < c->hist_rows - c->rows)
		c->back++;
	clear_row(hist_row(c, live_ring(c, c->rows - 1)), c->cols);
}

static uint8_t current_fg(const fbcon *c)
{
	uint8_t fg = c->sgr_fg != FBCON_NO_COLOUR ? c->sgr_fg
		     : c->line_fg != FBCON_NO_COLOUR ? c->line_fg : FBCON_DEFAULT_FG;
	return c->bright ? fg | FBCON_BRIGHT : fg;
}

/* Stops recognising a line prefix (the line is no longer plain text
 * written from its first column). */
static void end_prefix(fbcon *c) { c->prefix_len = sizeof c->prefix; }

/* Colours the line by its first bytes: PANIC: and warning: lines. Called
 * after `ch` was put at column col - 1 of the current row. */
static void note_prefix(fbcon *c, char ch)
{
	static const struct { const char *text; uint8_t fg; } prefixes[] = {
		{"PANIC:", FBCON_PANIC_FG},
		{"warning:", FBCON_WARNING_FG},
	};
	if (c->prefix_len >= sizeof c->prefix || c->line_fg != FBCON_NO_COLOUR)
		return;
	c->prefix[c->prefix_len++] = ch;
	if (c->col != c->prefix_len) { /* the prefix wrapped: not tracked */
		end_prefix(c);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		size_t n = strlen(prefixes[i].text);
		if (n != c->prefix_len || memcmp(c->prefix, prefixes[i].text, n) != 0)
			continue;
		c->line_fg = prefixes[i].fg;
		/* Recolour the prefix already on the row, unless an escape
		 * chose a colour explicitly. */
		if (c->sgr_fg == FBCON_NO_COLOUR && !c->bright) {
			fbcon_cell *row = hist_row(c, live_ring(c, c->row));
			for (size_t x = 0; x < n; x++)
				row[x].attr = c->line_fg;
		}
		return;
	}
}

static void put_char(fbcon *c, uint8_t ch)
{
	if (c->col == c->cols) {
		newline(c);
		end_prefix(c); /* a wrapped continuation is not a line start */
	}
	hist_row(c, live_ring(c, c->row))[c->col] = (fbcon_cell){ch, current_fg(c)};
	c->col++;
	note_prefix(c, (char)ch);
}

static void apply_sgr(fbcon *c)
{
	if (c->esc_count == 0)
		c->esc_params[c->esc_count++] = 0; /* ESC[m is ESC[0m */
	for (uint32_t i = 0; i < c->esc_count; i++) {
		uint32_t p = c->esc_params[i];
		if (p == 0) {
			c->sgr_fg = FBCON_NO_COLOUR;
			c->bright = false;
		} else if (p == 1) {
			c->bright = true;
		} else if (p == 22) {
			c->bright = false;
		} else if (p >= 30 && p <= 37) {
			c->sgr_fg = (uint8_t)(p - 30);
		} else if (p == 39) {
			c->sgr_fg = FBCON_NO_COLOUR;
		} else if (p >= 90 && p <= 97) {
			c->sgr_fg = (uint8_t)(p - 90 + FBCON_BRIGHT);
		}
		/* others (background, underline, ...) are ignored */
	}
}

/* One byte after ESC: ESC [ params final; only SGR ('m') acts. */
static void escape_byte(fbcon *c, uint8_t b)
{
	if (c->esc == ESC_SEEN) {
		if (b == '[') {
			c->esc = ESC_CSI;
			c->esc_count = 0;
			c->esc_params[0] = 0;
		} else {
			c->esc = ESC_NONE; /* a two-byte escape: ignored */
		}
		return;
	}
	if (b >= '0' && b <= '9') {
		if (c->esc_count == 0)
			c->esc_count = 1;
		uint32_t *p = &c->esc_params[c->esc_count - 1];
		if (*p < 1000)
			*p = *p * 10 + (b - '0');
		return;
	}
	if (b == ';') {
		if (c->esc_count == 0)
			c->esc_count = 1;
		if (c->esc_count < ARRAY_SIZE(c->esc_params))
			c->esc_params[c->esc_count++] = 0;
		return;
	}
	if (b >= 0x40 && b <= 0x7e) { /* the final byte */
		if (b == 'm')
			apply_sgr(c);
		c->esc = ESC_NONE;
		return;
	}
	if (b < 0x20 || b > 0x7e) /* not an escape after all: drop it */
		c->esc = ESC_NONE;
	/* intermediate bytes (0x20-0x3f other than digits and ';') wait */
}

static void write_byte(fbcon *c, uint8_t b)
{
	if (c->esc != ESC_NONE) {
		escape_byte(c, b);
		return;
	}
	switch (b) {
	case '\n': /* also ends a pending wrap: one row, not two */
		newline(c);
		return;
	case '\r':
		c->col = 0;
		end_prefix(c);
		return;
	case '\t':
		if (c->col == c->cols)
			put_char(c, ' ');
		do
			hist_row(c, live_ring(c, c->row))[c->col++] =
				(fbcon_cell){' ', current_fg(c)};
		while (c->col % FBCON_TAB != 0 && c->col < c->cols);
		end_prefix(c);
		return;
	case '\b':
		if (c->col > 0)
			c->col--;
		end_prefix(c);
		return;
	case 0x1b:
		c->esc = ESC_SEEN;
		return;
	default:
		if (b < 0x20)
			return; /* other control bytes draw nothing */
		put_char(c, b);
	}
}

void fbcon_write(fbcon *c, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		write_byte(c, (uint8_t)buf[i]);
	c->view = 0;
	fbcon_flush(c);
}

uint32_t fbcon_scroll_view(fbcon *c, int lines)
{
	int64_t v = (int64_t)c->view + lines;
	if (v < 0)
		v = 0;
	if (v > c->back)
		v = c->back;
	c->view = (uint32_t)v;
	fbcon_flush(c);
	return c->view;
}

fbcon_cell fbcon_visible_cell(const fbcon *c, uint32_t col, uint32_t row)
{
	return hist_row(c, view_ring(c, row))[col];
}

uint64_t fbcon_hash(const fbcon *c)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 */
	for (uint32_t r = 0; r < c->rows; r++) {
		const fbcon_cell *row = hist_row(c, view_ring(c, r));
		for (uint32_t x = 0; x < c->cols; x++) {
			h = (h ^ row[x].ch) * 0x100000001b3ULL;
			h = (h ^ row[x].attr) * 0x100000001b3ULL;
		}
	}
	return h;
}

/* ---- the boot framebuffer --------------------------------------------- */
static fbcon boot_console;
static bool boot_console_up;

fbcon *fbcon_boot(void)
{
	return boot_console_up ? &boot_console : NULL;
}

void fbcon_boot_init(void)
{
	if (!boot.framebuffer.present || boot.framebuffer.type != BOOT_FRAMEBUFFER_RGB)
		return;
	uint32_t w = boot.framebuffer.width, h = boot.framebuffer.height;
	uint32_t scale = w >= FBCON_SCALE2_MIN_WIDTH ? 2 : 1;
	fbcon_format fmt = {
		boot.framebuffer.red_pos, boot.framebuffer.red_size,
		boot.framebuffer.green_pos, boot.framebuffer.green_size,
		boot.framebuffer.blue_pos, boot.framebuffer.blue_size,
	};
	size_t ncells = fbcon_cells_needed(w, h, scale);
	size_t frames = (ncells * sizeof(fbcon_cell) + PAGE_SIZE - 1) / PAGE_SIZE;
	uint64_t cells_phys = ncells ? pmm_alloc_run(frames, 1) : 0;
	void *fb = vmm_map_framebuffer(boot.framebuffer.addr, (size_t)boot.framebuffer.pitch * h);
	if (!cells_phys || !fb ||
	    !fbcon_init_on(&boot_console, fb, w, h, boot.framebuffer.pitch,
			   boot.framebuffer.bpp, fmt, scale, phys_to_virt(cells_phys), ncells)) {
		kprintf("fbcon: no framebuffer console on %ux%ux%u (pitch %u)\n", w, h,
			boot.framebuffer.bpp, boot.framebuffer.pitch);
		if (cells_phys)
			pmm_free_run(cells_phys, frames);
		return;
	}
	boot_console_up = true;
	kprintf("fbcon: %ux%ux%u pitch %u: %ux%u cells, scale %u, %u rows of scrollback\n",
		w, h, boot.framebuffer.bpp, boot.framebuffer.pitch, boot_console.cols,
		boot_console.rows, scale, boot_console.hist_rows - boot_console.rows);
}
