/*
 * kbd_test.c - the PS/2 keyboard (arch/x86_64/i8042.c) without touching
 * the machine's controller: scan code set 1 through the translator (shift,
 * caps lock, ctrl, 0xe0 extended keys, releases, the Pause sequence,
 * unknown codes), the ring (order, all-or-nothing puts, drops counted),
 * Shift+PgUp/PgDn on a console drawn into memory, and the controller setup
 * against a simulated 8042: the working path, no controller (0xff), a
 * controller that never answers, a failed self-test, and the FADT's "no
 * 8042" (no port touched) - every wait bounded.
 */
#include "arch/x86_64/fbcon.h"
#include "arch/x86_64/x86.h"
#include "tests/x86/qemu.h"
#include "lib/lib.h"

/* Set 1 make codes used below. */
enum {
	K_A = 0x1e, K_C = 0x2e, K_H = 0x23, K_I = 0x17, K_Z = 0x2c, K_1 = 0x02, K_MINUS = 0x0c,
	K_SLASH = 0x35, K_ENTER = 0x1c, K_BACKSPACE = 0x0e, K_SPACE = 0x39, K_ESC = 0x01,
	K_LSHIFT = 0x2a, K_RSHIFT = 0x36, K_LCTRL = 0x1d, K_CAPS = 0x3a, K_F1 = 0x3b,
	K_KP7 = 0x47, K_KPDOT = 0x53, K_UP = 0x48, K_PGUP = 0x49, K_PGDN = 0x51, K_DEL = 0x53,
	REL = 0x80, E0 = 0xe0,
};

/* Feeds codes through a translator and collects the bytes; the last
 * non-NONE action other than bytes goes to *special. */
static size_t type_codes(kbd_state *s, const uint8_t *codes, size_t n, char *out, size_t cap,
			 kbd_action *special)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		kbd_event ev = kbd_translate(s, codes[i]);
		if (ev.action == KBD_BYTES) {
			CHECK(ev.len >= 1 && ev.len <= KBD_SEQ_MAX);
			CHECK(len + ev.len < cap);
			memcpy(out + len, ev.bytes, ev.len);
			len += ev.len;
		} else if (ev.action != KBD_NONE && special) {
			*special = ev.action;
		}
	}
	out[len] = '\0';
	return len;
}

#define TYPE(state, buf, ...)                                                        \
	({                                                                           \
		static const uint8_t codes_[] = {__VA_ARGS__};                       \
		type_codes(state, codes_, sizeof codes_, buf, sizeof buf, NULL);    \
	})

TEST(kbd, plain_and_shift)
{
	kbd_state s = {0};
	char out[32];
	TYPE(&s, out, K_H, K_H | REL, K_I, K_I | REL, K_1, K_1 | REL, K_MINUS, K_SLASH, K_SPACE);
	CHECK(strcmp(out, "hi1-/ ") == 0);
	/* Either shift; released, back to lower case. */
	TYPE(&s, out, K_LSHIFT, K_A, K_1, K_MINUS, K_SLASH, K_LSHIFT | REL, K_A,
	     K_RSHIFT, K_Z, K_RSHIFT | REL, K_Z);
	CHECK_MSG(strcmp(out, "A!_?aZz") == 0, "got '%s'", out);
	TYPE(&s, out, K_ENTER, K_BACKSPACE);
	CHECK(strcmp(out, "\r\x7f") == 0);
	/* Esc and F1 type nothing (Esc would start an escape sequence). */
	CHECK_EQ(TYPE(&s, out, K_ESC, K_F1), 0u);
	/* The keypad types digits (num lock is not tracked). */
	TYPE(&s, out, K_KP7, K_KPDOT);
	CHECK(strcmp(out, "7.") == 0);
}

TEST(kbd, caps_lock)
{
	kbd_state s = {0};
	char out[32];
	/* Caps on: letters upper case, digits and punctuation unchanged;
	 * shift inverts it back for letters only. The key's typematic
	 * repeat (more makes before the release) does not toggle again. */
	TYPE(&s, out, K_CAPS, K_CAPS, K_CAPS | REL, K_A, K_1, K_MINUS, K_LSHIFT, K_A, K_1,
	     K_LSHIFT | REL);
	CHECK_MSG(strcmp(out, "A1-a!") == 0, "got '%s'", out);
	CHECK(s.caps);
	TYPE(&s, out, K_CAPS, K_CAPS | REL, K_A);
	CHECK(strcmp(out, "a") == 0);
	CHECK(!s.caps);
}

TEST(kbd, ctrl)
{
	kbd_state s = {0};
	char out[32];
	/* Ctrl+letter is the control character, also under shift or caps;
	 * right Ctrl (0xe0 0x1d) the same. */
	TYPE(&s, out, K_LCTRL, K_C, K_A, K_LCTRL | REL, K_C);
	CHECK(out[0] == 0x03 && out[1] == 0x01 && out[2] == 'c' && out[3] == 0);
	TYPE(&s, out, E0, K_LCTRL, K_LSHIFT, K_Z, K_LSHIFT | REL, E0, K_LCTRL | REL, K_Z);
	CHECK(out[0] == 0x1a && out[1] == 'z' && out[2] == 0);
	CHECK(!s.lctrl && !s.rctrl && !s.lshift);
}

TEST(kbd, extended)
{
	kbd_state s = {0};
	char out[32];
	TYPE(&s, out, E0, K_UP, E0, K_UP | REL);
	CHECK(strcmp(out, "\x1b[A") == 0);
	TYPE(&s, out, E0, K_PGUP, E0, K_PGDN, E0, K_DEL);
	CHECK_MSG(strcmp(out, "\x1b[5~\x1b[6~\x1b[3~") == 0, "got '%s'", out + 1);
	/* Keypad Enter and / ; the same codes without 0xe0 are Enter and /.
	 * 0xe0 0x53 is Delete, 0x53 alone the keypad's '.'. */
	TYPE(&s, out, E0, K_ENTER, E0, K_SLASH, K_KPDOT);
	CHECK(strcmp(out, "\r/.") == 0);
	/* The fake shifts around extended keys leave the real shift alone. */
	TYPE(&s, out, E0, K_LSHIFT, E0, K_UP, E0, K_UP | REL, E0, K_LSHIFT | REL, K_A);
	CHECK(strcmp(out, "\x1b[Aa") == 0);
	CHECK(!s.lshift);
	/* The prefix applies to one code only. */
	TYPE(&s, out, E0, K_UP | REL, K_H);
	CHECK(strcmp(out, "h") == 0);
}

TEST(kbd, releases_unknown_and_pause)
{
	kbd_state s = {0};
	char out[32];
	/* Releases alone type nothing; nor do codes no key has, the
	 * controller's answers (0xfa ack, 0xfe resend, 0xee echo, 0x00/0xff
	 * errors), or unknown extended keys. */
	CHECK_EQ(TYPE(&s, out, K_A | REL, K_H | REL, 0x7a, 0x7e, 0x60, 0x00, 0xfa, 0xfe, 0xee,
		      0xff, E0, 0x10, E0, 0x5b, E0, 0x5b | REL),
		 0u);
	/* Pause: e1 1d 45 e1 9d c5 types nothing, changes no modifier, and
	 * the key after it types normally. */
	CHECK_EQ(TYPE(&s, out, 0xe1, 0x1d, 0x45), 0u);
	CHECK(!s.lctrl); /* the 0x1d inside is not Ctrl */
	TYPE(&s, out, 0xe1, 0x9d, 0xc5, K_H);
	CHECK(strcmp(out, "h") == 0);
	CHECK(!s.lctrl && !s.rctrl && s.skip == 0 && s.prefix == 0);
}

TEST(kbd, scroll_keys)
{
	kbd_state s = {0};
	char out[32];
	kbd_action special = KBD_NONE;
	static const uint8_t back[] = {K_LSHIFT, E0, K_PGUP, E0, K_PGUP | REL};
	CHECK_EQ(type_codes(&s, back, sizeof back, out, sizeof out, &special), 0u);
	CHECK_EQ(special, KBD_SCROLL_BACK);
	static const uint8_t fwd[] = {E0, K_PGDN};
	special = KBD_NONE;
	CHECK_EQ(type_codes(&s, fwd, sizeof fwd, out, sizeof out, &special), 0u);
	CHECK_EQ(special, KBD_SCROLL_FORWARD);
	/* Without shift they are keys like any other; shift + keypad 9 is '9'. */
	static const uint8_t plain[] = {K_LSHIFT | REL, E0, K_PGUP, K_LSHIFT, K_PGUP};
	special = KBD_NONE;
	type_codes(&s, plain, sizeof plain, out, sizeof out, &special);
	CHECK_EQ(special, KBD_NONE);
	CHECK(strcmp(out, "\x1b[5~9") == 0);
}

TEST(kbd, ring_order_and_drops)
{
	static kbd_ring r;
	memset(&r, 0, sizeof r);
	CHECK_EQ(kbd_ring_get(&r), -1);
	/* Around the end of the buffer several times, order kept. */
	int next_in = 0, next_out = 0;
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < KBD_RING_SIZE - 3; i++) {
			char c = (char)(next_in++ & 0x7f);
			CHECK(kbd_ring_put(&r, &c, 1));
		}
		CHECK_EQ(kbd_ring_count(&r), (size_t)(KBD_RING_SIZE - 3));
		for (int i = 0; i < KBD_RING_SIZE - 3; i++)
			CHECK_EQ(kbd_ring_get(&r), next_out++ & 0x7f);
		CHECK_EQ(kbd_ring_get(&r), -1);
	}
	CHECK_EQ(r.dropped, 0u);
	/* Full: a byte that does not fit is dropped and counted; a sequence
	 * that does not fit whole is dropped whole (never split). */
	for (int i = 0; i < KBD_RING_SIZE - 2; i++)
		CHECK(kbd_ring_put(&r, "x", 1));
	CHECK(!kbd_ring_put(&r, "\x1b[A", 3));
	CHECK_EQ(r.dropped, 3u);
	CHECK(kbd_ring_put(&r, "yz", 2));
	CHECK(!kbd_ring_put(&r, "w", 1));
	CHECK_EQ(r.dropped, 4u);
	CHECK_EQ(kbd_ring_count(&r), (size_t)KBD_RING_SIZE);
	for (int i = 0; i < KBD_RING_SIZE - 2; i++)
		CHECK_EQ(kbd_ring_get(&r), 'x');
	CHECK_EQ(kbd_ring_get(&r), 'y');
	CHECK_EQ(kbd_ring_get(&r), 'z');
	CHECK_EQ(kbd_ring_get(&r), -1);
}

/* ---- Shift+PgUp/PgDn on a console in memory --------------------------- */
#define S_W 80 /* 10 x 4 cells */
#define S_H 64
static uint8_t scr_fb[S_W * 4 * S_H];
static fbcon_cell scr_cells[10 * 4 * (FBCON_HISTORY_SCREENS + 1)];

TEST(kbd, feed_scrolls_and_queues)
{
	static fbcon con;
	static kbd_ring r;
	memset(&r, 0, sizeof r);
	kbd_state s = {0};
	const fbcon_format fmt = {16, 8, 8, 8, 0, 8};
	CHECK(fbcon_init_on(&con, scr_fb, S_W, S_H, S_W * 4, 32, fmt, 1, scr_cells,
			    ARRAY_SIZE(scr_cells)));
	CHECK_EQ(con.rows, 4u);
	for (int i = 0; i < 12; i++)
		fbcon_write(&con, "line\n", 5);
	CHECK(con.back >= 8);
	/* Shift+PgUp: half a screen back, nothing for the reader. */
	static const uint8_t up[] = {K_LSHIFT, E0, K_PGUP, E0, K_PGUP | REL};
	for (size_t i = 0; i < sizeof up; i++)
		kbd_feed(&s, &r, &con, up[i]);
	CHECK_EQ(con.view, 2u);
	kbd_feed(&s, &r, &con, E0);
	kbd_feed(&s, &r, &con, K_PGUP);
	CHECK_EQ(con.view, 4u);
	kbd_feed(&s, &r, &con, E0);
	kbd_feed(&s, &r, &con, K_PGDN);
	CHECK_EQ(con.view, 2u);
	CHECK_EQ(kbd_ring_count(&r), 0u);
	/* A modifier alone leaves the view; a key that types returns to the
	 * live screen and its byte is queued. */
	kbd_feed(&s, &r, &con, K_LSHIFT | REL);
	kbd_feed(&s, &r, &con, K_LCTRL);
	kbd_feed(&s, &r, &con, K_LCTRL | REL);
	CHECK_EQ(con.view, 2u);
	kbd_feed(&s, &r, &con, K_H);
	CHECK_EQ(con.view, 0u);
	CHECK_EQ(kbd_ring_get(&r), 'h');
	CHECK_EQ(kbd_ring_get(&r), -1);
	/* No console: scroll keys do nothing, bytes still queue. */
	kbd_feed(&s, &r, NULL, K_LSHIFT);
	kbd_feed(&s, &r, NULL, E0);
	kbd_feed(&s, &r, NULL, K_PGUP);
	kbd_feed(&s, &r, NULL, K_A);
	CHECK_EQ(kbd_ring_get(&r), 'A');
	CHECK_EQ(kbd_ring_get(&r), -1);
}

/* ---- the setup against a simulated controller -------------------------- */
typedef enum {
	SIM_WORKING,
	SIM_ABSENT,          /* every port reads 0xff */
	SIM_SILENT,          /* idle status, but no command is ever answered */
	SIM_STUCK_FULL,      /* the output buffer never empties */
	SIM_SELF_TEST_FAILS,
	SIM_NO_KEYBOARD,     /* the controller works; no keyboard acknowledges */
} sim_kind;

typedef struct sim8042 {
	sim_kind kind;
	uint8_t config;        /* the controller's configuration byte */
	uint8_t out[8];        /* bytes waiting at the data port */
	size_t out_len;
	bool next_is_config;   /* the last command was 0x60 */
	bool kbd_enabled, aux_enabled, self_tested, scanning;
	unsigned reads, writes;
	bool irq_written;      /* a configuration with port 1's interrupt was written */
	uint8_t config_after_self_test; /* what the self-test resets it to */
} sim8042;

static void sim_push(sim8042 *c, uint8_t v)
{
	if (c->out_len < sizeof c->out)
		c->out[c->out_len++] = v;
}

static uint8_t sim_in(void *ctx, uint16_t port)
{
	sim8042 *c = ctx;
	c->reads++;
	if (c->kind == SIM_ABSENT)
		return I8042_ABSENT;
	if (c->kind == SIM_STUCK_FULL)
		return port == I8042_STATUS ? 0x01 : 0x00;
	if (port == I8042_STATUS)
		return c->out_len ? 0x01 : 0x00; /* input buffer always empty */
	if (port != I8042_DATA || !c->out_len)
		return 0;
	uint8_t v = c->out[0];
	memmove(c->out, c->out + 1, --c->out_len);
	return v;
}

static void sim_out(void *ctx, uint16_t port, uint8_t v)
{
	sim8042 *c = ctx;
	c->writes++;
	if (c->kind == SIM_SILENT || c->kind == SIM_ABSENT)
		return;
	if (port == I8042_DATA) {
		if (c->next_is_config) {
			c->config = v;
			c->irq_written |= v & I8042_CFG_KBD_IRQ;
			c->next_is_config = false;
		} else if (v == 0xf4 && c->kind != SIM_NO_KEYBOARD) {
			c->scanning = true;
			sim_push(c, 0xfa);
		}
		return;
	}
	switch (v) {
	case 0x20: sim_push(c, c->config); break;
	case 0x60: c->next_is_config = true; break;
	case 0xa7: c->aux_enabled = false; break;
	case 0xad: c->kbd_enabled = false; break;
	case 0xae: c->kbd_enabled = true; break;
	case 0xaa:
		c->self_tested = true;
		c->config = c->config_after_self_test;
		sim_push(c, c->kind == SIM_SELF_TEST_FAILS ? 0xfc : 0x55);
		break;
	}
}

static sim8042 sim;
static const i8042_io sim_io = {sim_in, sim_out, &sim};

static void sim_start(sim_kind kind)
{
	memset(&sim, 0, sizeof sim);
	sim.kind = kind;
	/* As firmware might leave it: both interrupts on, the mouse clock
	 * off, translation off, and stale bytes waiting. */
	sim.config = I8042_CFG_KBD_IRQ | I8042_CFG_AUX_IRQ | I8042_CFG_AUX_CLOCK_OFF |
		     I8042_CFG_KBD_CLOCK_OFF;
	sim.config_after_self_test = I8042_CFG_KBD_IRQ | I8042_CFG_AUX_IRQ;
	sim.kbd_enabled = sim.aux_enabled = true;
	sim_push(&sim, 0x1e);
	sim_push(&sim, 0x9e);
}

/* A run that gives up polls at most a few bounded waits' worth. */
#define SIM_READ_BOUND (4u * I8042_WAIT_POLLS + I8042_FLUSH_MAX + 16)

TEST(kbd, setup_working_controller)
{
	char why[96];
	uint8_t cfg = 0;
	sim_start(SIM_WORKING);
	CHECK_MSG(i8042_setup(&sim_io, ACPI_YES, &cfg, why, sizeof why), "%s", why);
	CHECK_MSG(why[0] == '\0', "%s", why);
	/* The stale bytes are gone, the self-test ran, port 1 is on and
	 * scanning, port 2 off; the byte written has port 1's interrupt and
	 * translation on, port 2's interrupt off, port 1's clock on. */
	CHECK_EQ(sim.out_len, 0u);
	CHECK(sim.self_tested && sim.kbd_enabled && !sim.aux_enabled && sim.scanning);
	CHECK_EQ(sim.config, cfg);
	CHECK(cfg & I8042_CFG_KBD_IRQ);
	CHECK(sim.irq_written);
	CHECK(cfg & I8042_CFG_TRANSLATE);
	CHECK(!(cfg & I8042_CFG_AUX_IRQ));
	CHECK(!(cfg & I8042_CFG_KBD_CLOCK_OFF));
	/* ACPI_UNKNOWN (FADT before revision 3) probes the same way. */
	sim_start(SIM_WORKING);
	CHECK(i8042_setup(&sim_io, ACPI_UNKNOWN, &cfg, why, sizeof why));
	/* No keyboard answering enable-scanning: still a controller, noted. */
	sim_start(SIM_NO_KEYBOARD);
	CHECK(i8042_setup(&sim_io, ACPI_YES, &cfg, why, sizeof why));
	CHECK_MSG(strstr(why, "no keyboard acknowledged") != NULL, "%s", why);
	CHECK(sim.config & I8042_CFG_KBD_IRQ);
	CHECK_LE(sim.reads, SIM_READ_BOUND);
}

TEST(kbd, setup_without_controller)
{
	char why[96];
	uint8_t cfg = 0xaa;
	/* The FADT says none: no port is touched. */
	sim_start(SIM_WORKING);
	CHECK(!i8042_setup(&sim_io, ACPI_NO, &cfg, why, sizeof why));
	CHECK(strstr(why, "FADT") != NULL);
	CHECK_EQ(sim.reads + sim.writes, 0u);
	/* Nothing decodes the ports (QEMU -machine i8042=off, many new PCs):
	 * one read of 0xff and out, nothing written. */
	sim_start(SIM_ABSENT);
	CHECK(!i8042_setup(&sim_io, ACPI_UNKNOWN, &cfg, why, sizeof why));
	CHECK_MSG(strstr(why, "0xff") != NULL, "%s", why);
	CHECK_EQ(sim.reads, 1u);
	CHECK_EQ(sim.writes, 0u);
	CHECK_EQ(cfg, 0xaa); /* untouched on failure */
}

TEST(kbd, setup_bounded_when_silent)
{
	char why[96];
	uint8_t cfg = 0;
	/* Status reads as an idle controller but nothing ever answers. */
	sim_start(SIM_SILENT);
	sim.out_len = 0;
	CHECK(!i8042_setup(&sim_io, ACPI_YES, &cfg, why, sizeof why));
	CHECK_MSG(strstr(why, "no answer to read-config") != NULL, "%s", why);
	CHECK_LE(sim.reads, SIM_READ_BOUND);
	/* An output buffer that never empties: the flush gives up. */
	sim_start(SIM_STUCK_FULL);
	CHECK(!i8042_setup(&sim_io, ACPI_YES, &cfg, why, sizeof why));
	CHECK_MSG(strstr(why, "output buffer does not empty") != NULL, "%s", why);
	CHECK_LE(sim.reads, SIM_READ_BOUND);
	/* A failing self-test is named with its result. */
	sim_start(SIM_SELF_TEST_FAILS);
	CHECK(!i8042_setup(&sim_io, ACPI_YES, &cfg, why, sizeof why));
	CHECK_MSG(strstr(why, "self-test failed: 0xfc") != NULL, "%s", why);
	CHECK(!sim.irq_written); /* the interrupt never enabled */
}

/* The boot's controller: either present, or skipped with a reason; on
 * QEMU, exactly as the machine was started. */
TEST(kbd, boot_state)
{
	if (i8042_present()) {
		CHECK_EQ(i8042_skip_reason()[0], '\0');
		test_log("keyboard present; %u bytes dropped so far", i8042_dropped());
	} else {
		CHECK(i8042_skip_reason()[0] != '\0');
		test_log("no keyboard: %s", i8042_skip_reason());
	}
	if (acpi_boot_platform.has_8042 == ACPI_NO)
		CHECK(!i8042_present());
	/* QEMU's pc and q35 have an 8042 unless the matrix turned it off. */
	if (test_on_qemu())
		CHECK_EQ(i8042_present(), !expect_legacy_free);
}
