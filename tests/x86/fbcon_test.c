/*
 * fbcon_test.c - the framebuffer console drawn into plain memory at 24 and
 * 32 bits per pixel with pitches that are not width x bytes per pixel:
 * glyph pixels in the right place and colour, wrapping at the right edge,
 * tabs, CR and backspace, scrolling redrawn from the shadow (never from the
 * pixels), the scrollback view and its return, SGR colours and coloured
 * PANIC:/warning: lines, 2x scaling, formats it refuses, and the boot
 * framebuffer's console when the machine has one.
 */
#include "arch/x86_64/fbcon.h"
#include "arch/x86_64/x86.h"
#include "lib/lib.h"

/* 10 columns x 3 rows of 8x16 cells plus a 3- and 5-pixel margin. */
#define T_W 83
#define T_H 53
#define T_PAD 12 /* bytes after each pixel row: pitch != width x bytes */
#define T_GUARD 64
#define T_FILL 0xa5
#define T_MAXPITCH (T_W * 4 + T_PAD)

static uint8_t fbmem[T_MAXPITCH * T_H + T_GUARD];
static fbcon_cell cells[10 * 3 * (FBCON_HISTORY_SCREENS + 1)];
static fbcon con;

static const fbcon_format fmt32 = {16, 8, 8, 8, 0, 8}; /* x8r8g8b8 */
static const fbcon_format fmt24 = {0, 8, 8, 8, 16, 8}; /* bytes R, G, B */

typedef struct tfb {
	uint32_t bpp, pitch;
	fbcon_format fmt;
} tfb;
static tfb cur;

static uint32_t pack(uint32_t rgb)
{
	return ((rgb >> 16) & 0xff) << cur.fmt.red_pos | ((rgb >> 8) & 0xff) << cur.fmt.green_pos |
	       (rgb & 0xff) << cur.fmt.blue_pos;
}

static uint32_t pixel(uint32_t x, uint32_t y)
{
	const uint8_t *p = fbmem + y * cur.pitch + x * (cur.bpp / 8);
	uint32_t v = p[0] | p[1] << 8 | (uint32_t)p[2] << 16;
	return cur.bpp == 32 ? v | (uint32_t)p[3] << 24 : v;
}

static void start(uint32_t bpp)
{
	cur = (tfb){bpp, T_W * (bpp / 8) + T_PAD, bpp == 32 ? fmt32 : fmt24};
	memset(fbmem, T_FILL, sizeof fbmem);
	CHECK(fbcon_init_on(&con, fbmem, T_W, T_H, cur.pitch, bpp, cur.fmt, 1, cells,
			    ARRAY_SIZE(cells)));
	CHECK_EQ(con.cols, 10u);
	CHECK_EQ(con.rows, 3u);
}

static void put(const char *s) { fbcon_write(&con, s, strlen(s)); }

/* Cell (col, row) shows `ch` in rgb on black, pixel for pixel. */
static bool cell_shows(uint32_t col, uint32_t row, char ch, uint32_t rgb)
{
	const uint8_t *g = fbcon_font8x16[(uint8_t)ch - FBCON_FIRST_GLYPH];
	for (uint32_t y = 0; y < FBCON_FONT_H; y++)
		for (uint32_t x = 0; x < FBCON_FONT_W; x++) {
			uint32_t want = (g[y] & (0x80 >> x)) ? pack(rgb) : pack(0);
			uint32_t got = pixel(col * 8 + x, row * 16 + y);
			if (got != want) {
				kprintf("    cell %u,%u '%c' pixel %u,%u: 0x%x, want 0x%x\n", col,
					row, ch, x, y, got, want);
				return false;
			}
		}
	return true;
}

/* Screen row `row` shows text (then blanks) in rgb. */
static bool row_shows(uint32_t row, const char *text, uint32_t rgb)
{
	size_t n = strlen(text);
	for (uint32_t x = 0; x < con.cols; x++)
		if (!cell_shows(x, row, x < n ? text[x] : ' ', rgb))
			return false;
	return true;
}

/* The padding after each pixel row and the guard are never written. */
static bool outside_untouched(void)
{
	for (uint32_t y = 0; y < T_H; y++)
		for (uint32_t b = T_W * (cur.bpp / 8); b < cur.pitch; b++)
			if (fbmem[y * cur.pitch + b] != T_FILL)
				return false;
	for (size_t i = (size_t)cur.pitch * T_H; i < sizeof fbmem; i++)
		if (fbmem[i] != T_FILL)
			return false;
	return true;
}

#define GREY 0xaaaaaa

static void glyphs_at(uint32_t bpp)
{
	start(bpp);
	/* The whole screen, margins included, is black after init. */
	for (uint32_t y = 0; y < T_H; y++)
		for (uint32_t x = 0; x < T_W; x++)
			CHECK_EQ(pixel(x, y), 0u);
	put("A|_");
	CHECK(cell_shows(0, 0, 'A', GREY));
	/* Independent of the font table: '|' is pixel column 3 of its cell on
	 * every row, '_' is columns 1-5 of the last two rows. */
	for (uint32_t y = 0; y < 16; y++)
		for (uint32_t x = 0; x < 8; x++) {
			CHECK_EQ(pixel(8 + x, y), (x == 3 ? pack(GREY) : 0u));
			CHECK_EQ(pixel(16 + x, y), (y >= 14 && x >= 1 && x <= 5 ? pack(GREY) : 0u));
		}
	CHECK(row_shows(0, "A|_", GREY));
	CHECK(row_shows(1, "", GREY));
	CHECK(outside_untouched());
}

TEST(fbcon, glyph_pixels_32bpp) { glyphs_at(32); }
TEST(fbcon, glyph_pixels_24bpp) { glyphs_at(24); }

static void wrap_tab_cr_at(uint32_t bpp)
{
	start(bpp);
	put("0123456789AB");
	CHECK(row_shows(0, "0123456789", GREY));
	CHECK(row_shows(1, "AB", GREY));
	/* Exactly a full row and a newline: one row, no blank one. */
	start(bpp);
	put("abcdefghij\nx");
	CHECK(row_shows(0, "abcdefghij", GREY));
	CHECK(row_shows(1, "x", GREY));
	/* Tabs stop at multiples of 8; a tab at column 8 reaches the edge and
	 * the next character wraps. */
	start(bpp);
	put("a\tb\tc");
	CHECK(row_shows(0, "a       b ", GREY));
	CHECK(row_shows(1, "c", GREY));
	/* CR returns to the line start, backspace moves left without erasing. */
	start(bpp);
	put("abc\rX\nab\bY\n\b\bZ");
	CHECK(row_shows(0, "Xbc", GREY));
	CHECK(row_shows(1, "aY", GREY));
	CHECK(row_shows(2, "Z", GREY));
	/* Control bytes other than these draw nothing; DEL draws '?'. */
	put("\x01\x7f");
	CHECK(row_shows(2, "Z?", GREY));
	CHECK(outside_untouched());
}

TEST(fbcon, wrap_tab_cr_backspace_32bpp) { wrap_tab_cr_at(32); }
TEST(fbcon, wrap_tab_cr_backspace_24bpp) { wrap_tab_cr_at(24); }

static void scroll_at(uint32_t bpp)
{
	start(bpp);
	put("aa\nbb\ncc");
	CHECK(row_shows(2, "cc", GREY));
	/* Scribble over the pixels of "cc" on the bottom row: a scroll that
	 * moved pixels would carry the scribble up; a redraw from the shadow
	 * does not. (The scribble is the test's doing: the console trusts
	 * that the pixels show what `shown` says, so it covers only cells
	 * that change.) */
	for (uint32_t y = 32; y < 48; y++)
		for (uint32_t x = 0; x < 16; x++)
			fbmem[y * cur.pitch + x * (bpp / 8)] = 0x77;
	put("\ndd");
	CHECK(row_shows(0, "bb", GREY));
	CHECK(row_shows(1, "cc", GREY));
	CHECK(row_shows(2, "dd", GREY));
	CHECK(outside_untouched());
}

TEST(fbcon, scroll_redraws_from_shadow_32bpp) { scroll_at(32); }
TEST(fbcon, scroll_redraws_from_shadow_24bpp) { scroll_at(24); }

TEST(fbcon, scrollback_view_and_return)
{
	char line[8];
	start(32);
	for (int i = 0; i < 20; i++) {
		ksnprintf(line, sizeof line, "%sL%02d", i ? "\n" : "", i);
		put(line);
	}
	CHECK(row_shows(0, "L17", GREY));
	CHECK(row_shows(2, "L19", GREY));
	uint64_t live = fbcon_hash(&con);
	/* 5 screens of 3 rows: 12 rows of scrollback above the live screen. */
	CHECK_EQ(fbcon_scroll_view(&con, 1), 1u);
	CHECK(row_shows(0, "L16", GREY));
	CHECK(row_shows(2, "L18", GREY));
	CHECK_NE(fbcon_hash(&con), live);
	CHECK_EQ(fbcon_scroll_view(&con, 100), 12u);
	CHECK(row_shows(0, "L05", GREY));
	CHECK(row_shows(2, "L07", GREY));
	CHECK_EQ(fbcon_visible_cell(&con, 2, 0).ch, '5');
	CHECK_EQ(fbcon_scroll_view(&con, -5), 7u);
	CHECK(row_shows(0, "L10", GREY));
	CHECK_EQ(fbcon_scroll_view(&con, -100), 0u);
	CHECK(row_shows(0, "L17", GREY));
	CHECK_EQ(fbcon_hash(&con), live);
	/* New output returns the view to the live screen. */
	CHECK_EQ(fbcon_scroll_view(&con, 3), 3u);
	put("!");
	CHECK_EQ(con.view, 0u);
	CHECK(row_shows(2, "L19!", GREY));
	/* Nothing written yet: no scrollback to move into. */
	start(24);
	put("x");
	CHECK_EQ(fbcon_scroll_view(&con, 5), 0u);
	CHECK(row_shows(0, "x", GREY));
}

TEST(fbcon, sgr_colours)
{
	start(24);
	put("\x1b[31mR\x1b[0mD\x1b[1;32mG\x1b[93mY\x1b[39mW\x1b[mN\x1b[2Jz\x1b" "cq");
	CHECK(cell_shows(0, 0, 'R', 0xaa0000));
	CHECK(cell_shows(1, 0, 'D', GREY));
	CHECK(cell_shows(2, 0, 'G', 0x55ff55));
	CHECK(cell_shows(3, 0, 'Y', 0xffff55));
	CHECK(cell_shows(4, 0, 'W', 0xffffff)); /* bright default */
	CHECK(cell_shows(5, 0, 'N', GREY));
	/* Escapes it does not act on are consumed, not drawn. */
	CHECK(cell_shows(6, 0, 'z', GREY));
	CHECK(cell_shows(7, 0, 'q', GREY));
	CHECK(cell_shows(8, 0, ' ', GREY));
	/* The colour carries across lines until reset. */
	put("\n\x1b[34mb\nc\x1b[22;0m");
	CHECK(cell_shows(0, 1, 'b', 0x0000aa));
	CHECK(cell_shows(0, 2, 'c', 0x0000aa));
	CHECK(outside_untouched());
}

TEST(fbcon, panic_and_warning_lines_coloured)
{
	start(32);
	put("PANIC: x\nwarning: y\nPANICKY");
	CHECK(row_shows(0, "PANIC: x", 0xff5555));
	for (uint32_t x = 0; x < 8; x++)
		CHECK_EQ(fbcon_visible_cell(&con, x, 0).attr, FBCON_PANIC_FG);
	put("\nz");
	CHECK(row_shows(0, "warning: y", 0xffff55));
	CHECK(row_shows(1, "PANICKY", GREY));
	CHECK(row_shows(2, "z", GREY));
	/* Only at a line's start, and an explicit colour wins. */
	start(32);
	put(" PANIC: \n\x1b[32mPANIC: g");
	CHECK(row_shows(0, " PANIC:", GREY));
	CHECK(row_shows(1, "PANIC: g", 0x00aa00));
}

TEST(fbcon, scale2_doubles_every_pixel)
{
	/* 2 columns x 1 row of 16x32 cells plus a margin. */
	cur = (tfb){32, 35 * 4 + T_PAD, fmt32};
	memset(fbmem, T_FILL, sizeof fbmem);
	CHECK(fbcon_init_on(&con, fbmem, 35, 33, cur.pitch, 32, fmt32, 2, cells,
			    ARRAY_SIZE(cells)));
	CHECK_EQ(con.cols, 2u);
	CHECK_EQ(con.rows, 1u);
	put("A|");
	const uint8_t *a = fbcon_font8x16['A' - FBCON_FIRST_GLYPH];
	for (uint32_t y = 0; y < 32; y++)
		for (uint32_t x = 0; x < 16; x++) {
			CHECK_EQ(pixel(x, y), ((a[y / 2] & (0x80 >> (x / 2))) ? pack(GREY) : 0u));
			CHECK_EQ(pixel(16 + x, y), (x / 2 == 3 ? pack(GREY) : 0u));
		}
}

TEST(fbcon, refuses_formats_it_cannot_draw)
{
	cur = (tfb){32, T_W * 4 + T_PAD, fmt32};
	memset(fbmem, T_FILL, sizeof fbmem);
	fbcon_format outside = {28, 8, 8, 8, 0, 8}, empty = {16, 0, 8, 8, 0, 8};
	CHECK(!fbcon_init_on(&con, fbmem, T_W, T_H, cur.pitch, 16, fmt32, 1, cells, ARRAY_SIZE(cells)));
	CHECK(!fbcon_init_on(&con, fbmem, T_W, T_H, cur.pitch, 32, outside, 1, cells, ARRAY_SIZE(cells)));
	CHECK(!fbcon_init_on(&con, fbmem, T_W, T_H, cur.pitch, 32, empty, 1, cells, ARRAY_SIZE(cells)));
	CHECK(!fbcon_init_on(&con, fbmem, T_W, T_H, T_W * 4 - 1, 32, fmt32, 1, cells, ARRAY_SIZE(cells)));
	CHECK(!fbcon_init_on(&con, fbmem, 7, T_H, cur.pitch, 32, fmt32, 1, cells, ARRAY_SIZE(cells)));
	CHECK(!fbcon_init_on(&con, fbmem, T_W, T_H, cur.pitch, 32, fmt32, 3, cells, ARRAY_SIZE(cells)));
	CHECK(!fbcon_init_on(&con, fbmem, T_W, T_H, cur.pitch, 32, fmt32, 1, cells,
			     fbcon_cells_needed(T_W, T_H, 1) - 1));
	for (size_t i = 0; i < sizeof fbmem; i++)
		CHECK_EQ(fbmem[i], T_FILL);
}

TEST(fbcon, boot_framebuffer)
{
	/* With an RGB framebuffer from the loader, the console is up and
	 * shows what the console printed; otherwise there is none. */
	bool rgb = boot.framebuffer.present && boot.framebuffer.type == BOOT_FRAMEBUFFER_RGB &&
		   (boot.framebuffer.bpp == 24 || boot.framebuffer.bpp == 32);
	fbcon *fb = fbcon_boot();
	if (!rgb) {
		CHECK(fb == NULL);
		kprintf("    no RGB framebuffer: no framebuffer console\n");
		return;
	}
	CHECK(fb != NULL);
	int flags = vmm_flags((uintptr_t)fb->fb);
	CHECK(flags == (VMM_WRITE | VMM_WRITE_COMBINING) || flags == (VMM_WRITE | VMM_UNCACHED));
	kprintf("fbcon-check-line\n");
	uint32_t row = fb->row - 1; /* the line just printed */
	for (uint32_t x = 0; x < 16; x++)
		CHECK_EQ(fbcon_visible_cell(fb, x, row).ch, (uint8_t)"fbcon-check-line"[x]);
	kprintf("    fbcon: %ux%u cells, visible hash 0x%lx\n", fb->cols, fb->rows,
		(unsigned long)fbcon_hash(fb));
}

/* ---- the boot output kept until the console starts (console.c) -------- */
typedef struct replay_sink {
	char buf[CONSOLE_EARLY_SIZE + 256];
	size_t len;
} replay_sink;

static void replay_into(void *ctx, const char *s, size_t n)
{
	replay_sink *k = ctx;
	ASSERT(k->len + n <= sizeof k->buf);
	memcpy(k->buf + k->len, s, n);
	k->len += n;
}

static console_early early_test_log; /* 16 KiB: not on the test's stack */
static replay_sink early_test_sink;

/* Up to its size the log replays byte for byte; past it, the last lines
 * stay, the first partial line is dropped, and a note says how many bytes
 * only the serial console has. */
TEST(fbcon, early_log_keeps_the_tail)
{
	console_early *e = &early_test_log;
	replay_sink *k = &early_test_sink;
	memset(e, 0, sizeof *e);
	k->len = 0;
	console_early_keep(e, "boot line 1\n", 12);
	console_early_keep(e, "boot line 2\n", 12);
	console_early_replay(e, replay_into, k);
	CHECK_EQ(k->len, 24);
	CHECK(memcmp(k->buf, "boot line 1\nboot line 2\n", 24) == 0);

	/* 1000 numbered lines of 24 bytes: 24000 bytes, 16384 kept. */
	memset(e, 0, sizeof *e);
	k->len = 0;
	char line[32];
	for (int i = 0; i < 1000; i++) {
		int n = ksnprintf(line, sizeof line, "memory map entry: %05d\n", i);
		CHECK_EQ(n, 24);
		console_early_keep(e, line, (size_t)n);
	}
	CHECK_EQ(e->total, 24000);
	console_early_replay(e, replay_into, k);
	/* The oldest kept byte is 24000 - 16384 = 7616, inside line 317
	 * (7608..7631): the rest of it goes, line 318 starts the screen. */
	const char *note = "[the first 7632 bytes of the boot log are on the serial console only]\n";
	size_t nl = strlen(note);
	CHECK_GE(k->len, nl);
	CHECK(memcmp(k->buf, note, nl) == 0);
	CHECK(memcmp(k->buf + nl, "memory map entry: 00318\n", 24) == 0);
	CHECK_EQ(k->len - nl, (1000 - 318) * 24);
	CHECK(memcmp(k->buf + k->len - 24, "memory map entry: 00999\n", 24) == 0);
}

/* ---- the VGA text screen (console.c) ----------------------------------- */
static uint16_t vga_test_cells[VGA_COLS * VGA_ROWS];

static char vga_at(unsigned row, unsigned col)
{
	return (char)(vga_test_cells[row * VGA_COLS + col] & 0xff);
}

static void vga_puts(vga_text *t, const char *s)
{
	while (*s)
		vga_text_put(t, *s++);
}

/* Backspace, tab, CR and escapes as the shell and the fbcon use them; the
 * screen scrolls at the bottom. */
TEST(fbcon, vga_text_controls)
{
	vga_text t;
	vga_text_init(&t, vga_test_cells);
	vga_puts(&t, "> helq\b \bp");
	CHECK_EQ(vga_at(0, 2), 'h');
	CHECK_EQ(vga_at(0, 5), 'p'); /* the q erased, then overwritten */
	CHECK_EQ(t.col, 6);
	vga_puts(&t, "\rX");
	CHECK_EQ(vga_at(0, 0), 'X');
	CHECK_EQ(t.col, 1);
	vga_puts(&t, "\ta\tb");
	CHECK_EQ(vga_at(0, 8), 'a');
	CHECK_EQ(vga_at(0, 16), 'b');
	CHECK_EQ(vga_at(0, 7), ' ');
	vga_puts(&t, "\n\b\bz"); /* backspace stops at the line's start */
	CHECK_EQ(vga_at(1, 0), 'z');
	vga_puts(&t, "\x1b[1;31mred\x1b[0m!");
	CHECK_EQ(vga_at(1, 1), 'r');
	CHECK_EQ(vga_at(1, 4), '!');
	CHECK_EQ((vga_test_cells[VGA_COLS + 1] >> 8), 0x07); /* one attribute */
	for (int i = 0; i < VGA_ROWS; i++)
		vga_puts(&t, "\n");
	CHECK_EQ(t.row, VGA_ROWS - 1);
	CHECK_EQ(vga_at(0, 0), ' '); /* everything scrolled off */
}
