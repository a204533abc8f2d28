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
#define VGA_COLS 80
#define VGA_ROWS 25
#define VGA_ATTR 0x07 /* light grey on black */

static volatile uint16_t *vga;
static unsigned vga_row, vga_col;

void vga_init(bool text_mode, uint64_t phys)
{
	if (!text_mode)
		return;
	vga = phys_to_virt(phys);
	for (unsigned i = 0; i < VGA_COLS * VGA_ROWS; i++)
		vga[i] = (uint16_t)(VGA_ATTR << 8 | ' ');
	vga_row = vga_col = 0;
}

static void vga_newline(void)
{
	vga_col = 0;
	if (++vga_row < VGA_ROWS)
		return;
	for (unsigned i = 0; i < VGA_COLS * (VGA_ROWS - 1); i++)
		vga[i] = vga[i + VGA_COLS];
	for (unsigned i = 0; i < VGA_COLS; i++)
		vga[(VGA_ROWS - 1) * VGA_COLS + i] = (uint16_t)(VGA_ATTR << 8 | ' ');
	vga_row = VGA_ROWS - 1;
}

static void vga_putc(char c)
{
	if (!vga)
		return;
	if (c == '\n') {
		vga_newline();
		return;
	}
	if (c == '\r') {
		vga_col = 0;
		return;
	}
	vga[vga_row * VGA_COLS + vga_col] = (uint16_t)(VGA_ATTR << 8 | (uint8_t)c);
	if (++vga_col == VGA_COLS)
		vga_newline();
}

/* ---- framebuffer console -------------------------------------------- */
#define EARLY_LOG_SIZE 8192 /* boot output before the framebuffer is mapped */

static char early_log[EARLY_LOG_SIZE];
static size_t early_len;
static bool early_done; /* console_fb_start ran: nothing more to keep */
/* Set while fbcon_write runs. A fault inside it (and the panic that
 * follows) must not draw on a half-updated console: such output goes to
 * the other consoles only, and the framebuffer stays as it was. */
static bool fb_in_write;

static void early_keep(const char *buf, size_t len)
{
	if (early_done)
		return;
	size_t n = len < EARLY_LOG_SIZE - early_len ? len : EARLY_LOG_SIZE - early_len;
	memcpy(early_log + early_len, buf, n);
	early_len += n;
}

void console_fb_start(void)
{
	fbcon_boot_init();
	arch_irqflags_t flags = arch_irq_save();
	early_done = true;
	fbcon *fb = fbcon_boot();
	if (fb)
		fbcon_write(fb, early_log, early_len);
	arch_irq_restore(flags);
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
		vga_putc(buf[i]);
	}
	/* Until console_fb_start has replayed the early log, even a started
	 * framebuffer console gets nothing directly (fbcon_boot_init's own
	 * line would come out above the boot log): the bytes wait in order. */
	fbcon *fb = early_done ? fbcon_boot() : NULL;
	if (fb && !fb_in_write) {
		fb_in_write = true;
		fbcon_write(fb, buf, len);
		fb_in_write = false;
	} else if (!fb) {
		early_keep(buf, len);
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
