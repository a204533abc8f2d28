/*
 * console.c - where console output goes: every console present gets every
 * byte. A 16550 UART at 115200 8N1: COM1 (0x3f8) when a UART answers
 * there, else the first 16550-compatible PCI serial card (pci.c; legacy-free
 * machines have no COM1), else no serial console. The VGA text
 * screen when GRUB left the machine in text mode, the framebuffer console
 * (fbcon.c) when it left an RGB framebuffer. Output polls the UART (no
 * interrupts) and nothing on the path allocates, so it works from any
 * context, panics included. The framebuffer can be drawn on only once pmm
 * and vmm are up, so the first bytes of output wait in a small buffer and
 * are replayed to it then. Input: the UART's received byte, polled, else
 * the PS/2 keyboard's ring (i8042.c).
 */
#include "arch/x86_64/fbcon.h"
#include "arch/x86_64/x86.h"

#define COM1 0x3f8
#define UART_DATA 0
#define UART_IER 1
#define UART_DIVISOR_LO 0
#define UART_DIVISOR_HI 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCRATCH 7
#define UART_SCRATCH_PATTERN 0xa5
#define UART_IER_NONE 0x00 /* no UART interrupts: output polls */
#define UART_FCR_FIFO_ON 0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
#define UART_FCR_TRIGGER_14 0xc0
#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT2 0x08
#define UART_LCR_DLAB 0x80
#define UART_LCR_8N1 0x03
#define UART_LSR_DATA_READY 0x01
#define UART_LSR_THR_EMPTY 0x20
#define UART_ABSENT 0xff /* what a port with no UART behind it reads */
#define UART_BASE_CLOCK 115200
#define UART_BAUD 115200
#define UART_SPIN_LIMIT 100000 /* no UART (some real machines): give up */

static uint16_t uart;             /* I/O base of the console's UART; 0 = none */
static const char *uart_how = "none";

bool uart_answers(uint16_t base)
{
	if (inb(base + UART_LSR) == UART_ABSENT)
		return false;
	outb(base + UART_SCRATCH, UART_SCRATCH_PATTERN);
	return inb(base + UART_SCRATCH) == UART_SCRATCH_PATTERN;
}

uint16_t serial_select(bool (*answers)(uint16_t base), bool (*find_pci)(uint16_t *base),
		       const char **how)
{
	uint16_t base;
	if (answers(COM1)) {
		*how = "COM1";
		return COM1;
	}
	if (find_pci(&base) && answers(base)) {
		*how = "PCI";
		return base;
	}
	*how = "none";
	return 0;
}

static void uart_setup(uint16_t base)
{
	outb(base + UART_IER, UART_IER_NONE);
	outb(base + UART_LCR, UART_LCR_DLAB);
	outb(base + UART_DIVISOR_LO, UART_BASE_CLOCK / UART_BAUD);
	outb(base + UART_DIVISOR_HI, 0);
	outb(base + UART_LCR, UART_LCR_8N1);
	outb(base + UART_FCR,
	     UART_FCR_FIFO_ON | UART_FCR_CLEAR_RX | UART_FCR_CLEAR_TX | UART_FCR_TRIGGER_14);
	outb(base + UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
}

void serial_init(void)
{
	uart = serial_select(uart_answers, pci_find_serial, &uart_how);
	if (uart)
		uart_setup(uart);
}

uint16_t serial_base(void) { return uart; }

void serial_print(void)
{
	if (uart)
		kprintf("serial: %s 16550 at I/O port 0x%x\n", uart_how, uart);
	else
		kprintf("serial: none (no UART at COM1, no PCI serial card)\n");
}

static void serial_putc(char c)
{
	if (!uart)
		return;
	for (int i = 0; i < UART_SPIN_LIMIT; i++) {
		if (inb(uart + UART_LSR) & UART_LSR_THR_EMPTY)
			break;
		__asm__ volatile("pause");
	}
	outb(uart + UART_DATA, (uint8_t)c);
}

/* ---- VGA text mode ---------------------------------------------------- */
#define VGA_ATTR 0x07 /* light grey on black */
#define VGA_TAB 8

static vga_text boot_vga; /* cells == NULL: not in text mode */

void vga_text_init(vga_text *t, volatile uint16_t *cells)
{
	*t = (vga_text){ .cells = cells };
	for (unsigned i = 0; i < VGA_COLS * VGA_ROWS; i++)
		cells[i] = (uint16_t)(VGA_ATTR << 8 | ' ');
}

void vga_init(bool text_mode, uint64_t phys)
{
	if (text_mode)
		vga_text_init(&boot_vga, phys_to_virt(phys));
}

static void vga_newline(vga_text *t)
{
	t->col = 0;
	if (++t->row < VGA_ROWS)
		return;
	for (unsigned i = 0; i < VGA_COLS * (VGA_ROWS - 1); i++)
		t->cells[i] = t->cells[i + VGA_COLS];
	for (unsigned i = 0; i < VGA_COLS; i++)
		t->cells[(VGA_ROWS - 1) * VGA_COLS + i] = (uint16_t)(VGA_ATTR << 8 | ' ');
	t->row = VGA_ROWS - 1;
}

/* The same control characters the framebuffer console understands: \n,
 * \r, \b (back one column, within the line: the shell erases with
 * "\b \b"), \t (to the next multiple of 8); ANSI escape sequences
 * (ESC [ ... final byte) are swallowed, as text mode has one colour here. */
void vga_text_put(vga_text *t, char c)
{
	if (!t->cells)
		return;
	if (t->in_escape) {
		/* ESC, then '[' and parameters, then a final byte 0x40-0x7e. */
		if (t->in_escape == 1 && c != '[')
			t->in_escape = 0; /* not a CSI: drop the pair */
		else if (t->in_escape == 2 && c >= 0x40 && c <= 0x7e)
			t->in_escape = 0;
		else
			t->in_escape = 2;
		return;
	}
	switch (c) {
	case '\x1b':
		t->in_escape = 1;
		return;
	case '\n':
		vga_newline(t);
		return;
	case '\r':
		t->col = 0;
		return;
	case '\b':
		if (t->col > 0)
			t->col--;
		return;
	case '\t':
		do
			vga_text_put(t, ' ');
		while (t->col % VGA_TAB != 0);
		return;
	default:
		break;
	}
	t->cells[t->row * VGA_COLS + t->col] = (uint16_t)(VGA_ATTR << 8 | (uint8_t)c);
	if (++t->col == VGA_COLS)
		vga_newline(t);
}

/* ---- framebuffer console -------------------------------------------- */
static console_early early_log; /* boot output before the framebuffer is mapped */
static bool early_done; /* console_fb_start ran: nothing more to keep */
/* Set while fbcon_write runs. A fault inside it (and the panic that
 * follows) must not draw on a half-updated console: such output goes to
 * the other consoles only, and the framebuffer stays as it was. */
static bool fb_in_write;

void console_early_keep(console_early *e, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		e->buf[(e->total + i) % CONSOLE_EARLY_SIZE] = buf[i];
	e->total += len;
}

void console_early_replay(const console_early *e, void (*write)(void *ctx, const char *, size_t),
			  void *ctx)
{
	if (e->total <= CONSOLE_EARLY_SIZE) {
		write(ctx, e->buf, (size_t)e->total);
		return;
	}
	/* Wrapped: the oldest byte kept is at total % size. Drop the rest of
	 * its line, so the screen starts on a whole one, and say so. */
	size_t oldest = (size_t)(e->total % CONSOLE_EARLY_SIZE), skip = 0;
	while (skip < CONSOLE_EARLY_SIZE && e->buf[(oldest + skip) % CONSOLE_EARLY_SIZE] != '\n')
		skip++;
	if (skip < CONSOLE_EARLY_SIZE)
		skip++;
	char note[112];
	int n = ksnprintf(note, sizeof note,
			  "[the first %llu bytes of the boot log are on the serial console only]\n",
			  (unsigned long long)(e->total - CONSOLE_EARLY_SIZE + skip));
	write(ctx, note, (size_t)n);
	size_t from = (oldest + skip) % CONSOLE_EARLY_SIZE, count = CONSOLE_EARLY_SIZE - skip;
	size_t first = MIN(count, CONSOLE_EARLY_SIZE - from);
	write(ctx, e->buf + from, first);
	write(ctx, e->buf, count - first);
}

static void fb_write_cb(void *ctx, const char *buf, size_t len)
{
	fbcon_write(ctx, buf, len);
}

static bool fb_starting; /* inside console_fb_start */

void console_fb_start(void)
{
	fb_starting = true;
	fbcon_boot_init();
	arch_irqflags_t flags = arch_irq_save();
	early_done = true;
	fbcon *fb = fbcon_boot();
	if (fb)
		console_early_replay(&early_log, fb_write_cb, fb);
	fb_starting = false;
	arch_irq_restore(flags);
}

void console_fb_start_on_exit(void)
{
	static bool tried;
	if (tried || early_done || fb_starting || !vmm_ready())
		return;
	tried = true;
	console_fb_start();
}

void arch_console_write(const char *buf, size_t len)
{
	/* Interrupts off so lines from an interrupt handler do not split a
	 * character sequence on the VGA cursor state. */
	arch_irqflags_t flags = arch_irq_save();
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n')
			serial_putc('\r');
		serial_putc(buf[i]);
		vga_text_put(&boot_vga, buf[i]);
	}
	/* Until console_fb_start has replayed the early log, even a started
	 * framebuffer console gets nothing directly (fbcon_boot_init's own
	 * line would come out above the boot log): the bytes wait in order. */
	fbcon *fb = early_done ? fbcon_boot() : NULL;
	if (fb && !fb_in_write) {
		fb_in_write = true;
		fbcon_write(fb, buf, len);
		fb_in_write = false;
	} else if (!fb && !early_done) {
		console_early_keep(&early_log, buf, len);
	}
	arch_irq_restore(flags);
}

/* The serial line first, then the PS/2 keyboard's ring (i8042.c). */
int arch_console_getc(void)
{
	if (uart && (inb(uart + UART_LSR) & UART_LSR_DATA_READY))
		return inb(uart + UART_DATA);
	return i8042_getc();
}
