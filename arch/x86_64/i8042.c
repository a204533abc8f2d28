/*
 * i8042.c - the PS/2 keyboard behind an 8042-compatible controller: its
 * setup, the scan code translator, and the ring that carries keyboard
 * bytes to arch_console_getc (console.c), so a person at the PC can use
 * the shell.
 *
 * Setup (i8042_setup, bounded waits on the status register throughout):
 *   0. the FADT's IAPC_BOOT_ARCH says there is no 8042: skip, touch nothing;
 *      the status port reads 0xff (nothing decodes it): skip.
 *   1. disable both ports (0xad, 0xa7) so no byte arrives meanwhile, and
 *      throw away what waits in the output buffer;
 *   2. read the configuration byte (0x20), write it back with both
 *      interrupts off, port 1's clock on and translation on (0x60);
 *   3. controller self-test (0xaa -> 0x55), then the configuration again
 *      (some controllers reset it in the self-test);
 *   4. enable port 1 (0xae), tell the keyboard to scan (0xf4; its 0xfa
 *      acknowledgement is waited for, a missing one only noted), then
 *      port 1's interrupt on.
 * Translation stays on, so the keyboard's scan code set 2 reaches us as
 * set 1, whatever set the keyboard speaks; only set 1 is decoded.
 *
 * Input: IRQ 1, routed through the I/O APIC to IRQ_KEYBOARD_VECTOR (or,
 * when it cannot be routed, a poll from every timer tick) drains the
 * output buffer; each byte goes
 * through kbd_translate (pure: US layout, shift, ctrl+letter, caps lock,
 * 0xe0 extended keys as ANSI escape sequences, 0xe1 Pause swallowed) and
 * kbd_feed puts the bytes into the ring, or scrolls the framebuffer
 * console for Shift+PgUp/PgDn. Key repeat is the keyboard's own typematic
 * repeat. Not handled: the caps lock LED, num lock (the keypad always
 * types digits), Alt, layouts other than US, the second (mouse) port.
 */
#include "arch/x86_64/fbcon.h"
#include "arch/x86_64/x86.h"

#define I8042_ST_OUT_FULL 0x01 /* a byte waits at the data port */
#define I8042_ST_IN_FULL 0x02  /* the controller has not taken our last byte */
#define I8042_ST_AUX 0x20      /* the waiting byte is from port 2 */
#define I8042_CMD_READ_CONFIG 0x20
#define I8042_CMD_WRITE_CONFIG 0x60
#define I8042_CMD_DISABLE_AUX 0xa7
#define I8042_CMD_SELF_TEST 0xaa
#define I8042_CMD_DISABLE_KBD 0xad
#define I8042_CMD_ENABLE_KBD 0xae
#define I8042_SELF_TEST_OK 0x55
#define KBD_CMD_ENABLE_SCANNING 0xf4
#define KBD_ACK 0xfa
#define I8042_DRAIN_MAX 16 /* bytes one interrupt takes at most */
#define I8042_ISA_IRQ 1

/* ---- scan code set 1 -------------------------------------------------- */
#define SC_RELEASE 0x80
#define SC_PREFIX_E0 0xe0
#define SC_PREFIX_E1 0xe1 /* Pause: e1 1d 45 e1 9d c5, no release */
#define SC_E1_TAIL 2
#define SC_LCTRL 0x1d
#define SC_LSHIFT 0x2a
#define SC_RSHIFT 0x36
#define SC_CAPS 0x3a
#define SC_PGUP 0x49 /* with 0xe0; without: keypad 9 */
#define SC_PGDN 0x51 /* with 0xe0; without: keypad 3 */
#define BS_DEL 0x7f /* Backspace sends DEL, as terminals do */

/* Codes 0x00-0x39 without a prefix: unshifted and shifted; 0 = nothing
 * (Esc too: the shell would take the next key as part of an escape). */
#define SC_MAIN_KEYS 0x3a
static const char sc_plain[SC_MAIN_KEYS + 1] =
	"\0\0" "1234567890-=" "\x7f" "\t" "qwertyuiop[]" "\r" "\0" "asdfghjkl;'`"
	"\0" "\\zxcvbnm,./" "\0" "*" "\0" " ";
static const char sc_shift[SC_MAIN_KEYS + 1] =
	"\0\0" "!@#$%^&*()_+" "\x7f" "\t" "QWERTYUIOP{}" "\r" "\0" "ASDFGHJKL:\"~"
	"\0" "|ZXCVBNM<>?" "\0" "*" "\0" " ";
_Static_assert(sizeof(sc_plain) == SC_MAIN_KEYS + 1 && sizeof(sc_shift) == SC_MAIN_KEYS + 1,
	       "the set 1 tables cover 0x00-0x39");
/* The keypad, 0x47-0x53 without a prefix (num lock is not tracked). */
#define SC_KEYPAD_FIRST 0x47
static const char sc_keypad[] = "789-456+1230.";
#define SC_KEYPAD_LAST (SC_KEYPAD_FIRST + (int)sizeof(sc_keypad) - 2)

/* Keys after 0xe0 that type something. */
static const struct {
	uint8_t code;
	const char *seq;
} sc_extended[] = {
	{0x1c, "\r"},     /* keypad Enter */
	{0x35, "/"},      /* keypad / */
	{0x47, "\x1b[H"}, /* Home */
	{0x48, "\x1b[A"}, /* Up */
	{0x49, "\x1b[5~"}, /* PgUp */
	{0x4b, "\x1b[D"}, /* Left */
	{0x4d, "\x1b[C"}, /* Right */
	{0x4f, "\x1b[F"}, /* End */
	{0x50, "\x1b[B"}, /* Down */
	{0x51, "\x1b[6~"}, /* PgDn */
	{0x52, "\x1b[2~"}, /* Insert */
	{0x53, "\x1b[3~"}, /* Delete */
};

static kbd_event event_bytes(const char *seq)
{
	kbd_event ev = {.action = KBD_BYTES};
	size_t n = strlen(seq);
	ASSERT(n <= KBD_SEQ_MAX);
	memcpy(ev.bytes, seq, n);
	ev.len = (uint8_t)n;
	return ev;
}

static kbd_event event_byte(char c)
{
	return (kbd_event){.action = KBD_BYTES, .len = 1, .bytes = {c}};
}

static kbd_event translate_extended(kbd_state *s, uint8_t key, bool release)
{
	if (key == SC_LCTRL) { /* 0xe0 0x1d: right Ctrl */
		s->rctrl = !release;
		return (kbd_event){0};
	}
	/* 0xe0 0x2a / 0xe0 0x36: the "fake shifts" around extended keys;
	 * the real shift state is unchanged. */
	if (release)
		return (kbd_event){0};
	bool shift = s->lshift || s->rshift;
	if (shift && key == SC_PGUP)
		return (kbd_event){.action = KBD_SCROLL_BACK};
	if (shift && key == SC_PGDN)
		return (kbd_event){.action = KBD_SCROLL_FORWARD};
	for (size_t i = 0; i < ARRAY_SIZE(sc_extended); i++)
		if (sc_extended[i].code == key)
			return event_bytes(sc_extended[i].seq);
	return (kbd_event){0};
}

kbd_event kbd_translate(kbd_state *s, uint8_t code)
{
	if (s->skip) {
		s->skip--;
		return (kbd_event){0};
	}
	if (code == SC_PREFIX_E0) {
		s->prefix = SC_PREFIX_E0;
		return (kbd_event){0};
	}
	if (code == SC_PREFIX_E1) {
		s->prefix = 0;
		s->skip = SC_E1_TAIL;
		return (kbd_event){0};
	}
	bool release = code & SC_RELEASE;
	uint8_t key = code & (uint8_t)~SC_RELEASE;
	if (s->prefix == SC_PREFIX_E0) {
		s->prefix = 0;
		return translate_extended(s, key, release);
	}
	switch (key) {
	case SC_LSHIFT:
		s->lshift = !release;
		return (kbd_event){0};
	case SC_RSHIFT:
		s->rshift = !release;
		return (kbd_event){0};
	case SC_LCTRL:
		s->lctrl = !release;
		return (kbd_event){0};
	case SC_CAPS:
		/* Typematic repeat sends more makes while the key is down:
		 * only the first toggles. */
		if (!release && !s->caps_held)
			s->caps = !s->caps;
		s->caps_held = !release;
		return (kbd_event){0};
	}
	if (release)
		return (kbd_event){0};
	if (key >= SC_KEYPAD_FIRST && key <= SC_KEYPAD_LAST)
		return event_byte(sc_keypad[key - SC_KEYPAD_FIRST]);
	if (key >= SC_MAIN_KEYS || !sc_plain[key])
		return (kbd_event){0};
	char c = sc_plain[key];
	bool shift = s->lshift || s->rshift;
	if (c >= 'a' && c <= 'z') {
		if (s->lctrl || s->rctrl)
			return event_byte((char)(c & 0x1f)); /* Ctrl+C = 0x03 */
		/* Caps lock inverts shift for letters only. */
		return event_byte(shift != s->caps ? (char)(c - 'a' + 'A') : c);
	}
	return event_byte(shift ? sc_shift[key] : c);
}

/* ---- the ring --------------------------------------------------------- */
bool kbd_ring_put(kbd_ring *r, const char *bytes, size_t n)
{
	uint32_t head = r->head; /* only this side writes it */
	uint32_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	if (n > KBD_RING_SIZE - (head - tail)) {
		__atomic_store_n(&r->dropped, r->dropped + (uint32_t)n, __ATOMIC_RELAXED);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		r->buf[(head + i) % KBD_RING_SIZE] = (uint8_t)bytes[i];
	__atomic_store_n(&r->head, head + (uint32_t)n, __ATOMIC_RELEASE);
	return true;
}

int kbd_ring_get(kbd_ring *r)
{
	uint32_t tail = r->tail; /* only this side writes it */
	if (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == tail)
		return -1;
	int c = r->buf[tail % KBD_RING_SIZE];
	__atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
	return c;
}

size_t kbd_ring_count(const kbd_ring *r)
{
	return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) -
	       __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
}

void kbd_feed(kbd_state *s, kbd_ring *r, fbcon *fb, uint8_t code)
{
	kbd_event ev = kbd_translate(s, code);
	int page = fb ? (int)(fb->rows > 1 ? fb->rows / 2 : 1) : 0;
	switch (ev.action) {
	case KBD_NONE:
		return;
	case KBD_SCROLL_BACK:
		if (fb)
			fbcon_scroll_view(fb, page);
		return;
	case KBD_SCROLL_FORWARD:
		if (fb)
			fbcon_scroll_view(fb, -page);
		return;
	case KBD_BYTES:
		if (fb && fb->view)
			fbcon_scroll_view(fb, -(int)fb->view);
		kbd_ring_put(r, ev.bytes, ev.len);
		return;
	}
}

/* ---- the controller --------------------------------------------------- */
typedef struct i8042_session {
	const i8042_io *io;
	char *why;
	size_t whylen;
} i8042_session;

static uint8_t rd(const i8042_session *x, uint16_t port) { return x->io->in(x->io->ctx, port); }
static void wr(const i8042_session *x, uint16_t port, uint8_t v) { x->io->out(x->io->ctx, port, v); }

/* Waits until the controller takes a byte; false with a reason if not. */
static bool wait_writable(const i8042_session *x, const char *what)
{
	for (int i = 0; i < I8042_WAIT_POLLS; i++) {
		uint8_t st = rd(x, I8042_STATUS);
		if (st == I8042_ABSENT)
			break;
		if (!(st & I8042_ST_IN_FULL))
			return true;
	}
	ksnprintf(x->why, x->whylen, "the controller does not take %s (input buffer stays full)",
		  what);
	return false;
}

static bool send(const i8042_session *x, uint16_t port, uint8_t v, const char *what)
{
	if (!wait_writable(x, what))
		return false;
	wr(x, port, v);
	return true;
}

/* Waits for a byte at the data port; false (why set) if none comes. */
static bool receive(const i8042_session *x, uint8_t *out, const char *what)
{
	for (int i = 0; i < I8042_WAIT_POLLS; i++) {
		uint8_t st = rd(x, I8042_STATUS);
		if (st == I8042_ABSENT)
			break;
		if (st & I8042_ST_OUT_FULL) {
			*out = rd(x, I8042_DATA);
			return true;
		}
	}
	ksnprintf(x->why, x->whylen, "no answer to %s", what);
	return false;
}

static bool write_config(const i8042_session *x, uint8_t config)
{
	return send(x, I8042_COMMAND, I8042_CMD_WRITE_CONFIG, "the write-config command") &&
	       send(x, I8042_DATA, config, "the configuration byte");
}

bool i8042_setup(const i8042_io *io, int has_8042, uint8_t *config, char *why, size_t whylen)
{
	i8042_session x = {io, why, whylen};
	if (has_8042 == ACPI_NO) {
		ksnprintf(why, whylen, "the FADT says there is no 8042 (IAPC_BOOT_ARCH)");
		return false;
	}
	if (rd(&x, I8042_STATUS) == I8042_ABSENT) {
		ksnprintf(why, whylen, "no controller: port 0x64 reads 0xff");
		return false;
	}
	if (!send(&x, I8042_COMMAND, I8042_CMD_DISABLE_KBD, "commands") ||
	    !send(&x, I8042_COMMAND, I8042_CMD_DISABLE_AUX, "commands"))
		return false;
	int flushed = 0;
	while (rd(&x, I8042_STATUS) & I8042_ST_OUT_FULL) {
		if (++flushed > I8042_FLUSH_MAX) {
			ksnprintf(why, whylen, "the output buffer does not empty");
			return false;
		}
		(void)rd(&x, I8042_DATA);
	}
	uint8_t cfg;
	if (!send(&x, I8042_COMMAND, I8042_CMD_READ_CONFIG, "commands") ||
	    !receive(&x, &cfg, "read-config (0x20)"))
		return false;
	cfg &= (uint8_t)~(I8042_CFG_KBD_IRQ | I8042_CFG_AUX_IRQ | I8042_CFG_KBD_CLOCK_OFF);
	cfg |= I8042_CFG_TRANSLATE;
	if (!write_config(&x, cfg))
		return false;
	uint8_t result;
	if (!send(&x, I8042_COMMAND, I8042_CMD_SELF_TEST, "commands") ||
	    !receive(&x, &result, "the self-test (0xaa)"))
		return false;
	if (result != I8042_SELF_TEST_OK) {
		ksnprintf(why, whylen, "the self-test failed: 0x%02x (0x55 is a pass)", result);
		return false;
	}
	if (!write_config(&x, cfg) ||
	    !send(&x, I8042_COMMAND, I8042_CMD_ENABLE_KBD, "commands"))
		return false;
	/* The keyboard's acknowledgement only says one is attached; a
	 * controller without one still counts (one may be plugged in). */
	uint8_t ack = 0;
	char note[64];
	i8042_session quiet = {io, note, sizeof note};
	if (send(&x, I8042_DATA, KBD_CMD_ENABLE_SCANNING, "the keyboard's enable command"))
		(void)receive(&quiet, &ack, "enable-scanning");
	cfg |= I8042_CFG_KBD_IRQ;
	if (!write_config(&x, cfg))
		return false;
	*config = cfg;
	ksnprintf(why, whylen, ack == KBD_ACK ? "" : "no keyboard acknowledged enable-scanning");
	return true;
}

/* ---- the machine's controller ----------------------------------------- */
static bool kbd_present;
static char kbd_reason[96];
static kbd_state kbd_boot_state;
static kbd_ring kbd_boot_ring;
static bool kbd_polled; /* no interrupt route: timer_tick polls */

static uint8_t port_in(void *ctx, uint16_t port)
{
	(void)ctx;
	return inb(port);
}

static void port_out(void *ctx, uint16_t port, uint8_t v)
{
	(void)ctx;
	outb(port, v);
}

void i8042_poll(void)
{
	if (!kbd_present)
		return;
	for (int i = 0; i < I8042_DRAIN_MAX; i++) {
		uint8_t st = inb(I8042_STATUS);
		if (!(st & I8042_ST_OUT_FULL))
			return;
		uint8_t code = inb(I8042_DATA);
		if (st & I8042_ST_AUX)
			continue; /* port 2 is off; a stray mouse byte */
		kbd_feed(&kbd_boot_state, &kbd_boot_ring, fbcon_boot(), code);
	}
}

void i8042_init(void)
{
	static const i8042_io io = {port_in, port_out, NULL};
	uint8_t config = 0;
	char why[sizeof kbd_reason];
	kbd_present = i8042_setup(&io, acpi_boot_platform.has_8042, &config, why, sizeof why);
	if (!kbd_present) {
		ksnprintf(kbd_reason, sizeof kbd_reason, "%s", why);
		kprintf("keyboard: none: %s\n", kbd_reason);
		return;
	}
	kbd_reason[0] = '\0';
	/* The handler first: the entry is live once routed. IRQ 1 is edge
	 * triggered, so a byte that came before the route would never raise
	 * another edge: drain once after routing. */
	idt_set_irq_handler(IRQ_KEYBOARD_VECTOR, i8042_poll);
	kbd_polled = !ioapic_route_isa(I8042_ISA_IRQ, IRQ_KEYBOARD_VECTOR);
	if (kbd_polled)
		idt_set_irq_handler(IRQ_KEYBOARD_VECTOR, NULL);
	i8042_poll();
	if (kbd_polled)
		kprintf("keyboard: i8042 PS/2, scan code set 1 (translated), config 0x%02x, "
			"polled from the timer tick (IRQ 1 has no route)%s%s\n",
			config, why[0] ? "; " : "", why);
	else
		kprintf("keyboard: i8042 PS/2, scan code set 1 (translated), config 0x%02x, "
			"IRQ 1 -> vector 0x%x%s%s\n", config, IRQ_KEYBOARD_VECTOR,
			why[0] ? "; " : "", why);
}

void i8042_tick(void)
{
	if (kbd_polled)
		i8042_poll();
}

bool i8042_present(void)
{
	return kbd_present;
}

const char *i8042_skip_reason(void)
{
	return kbd_reason;
}

int i8042_getc(void)
{
	return kbd_ring_get(&kbd_boot_ring);
}

uint32_t i8042_dropped(void)
{
	return __atomic_load_n(&kbd_boot_ring.dropped, __ATOMIC_RELAXED);
}
