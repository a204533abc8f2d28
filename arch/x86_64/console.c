/*
 * console.c - where console output goes: every console present gets every
 * byte. COM1 16550 UART at 115200 8N1 when a UART answers, the VGA text
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

static bool serial_present;

void serial_init(void)
{
	outb(COM1 + UART_IER, UART_IER_NONE);
	outb(COM1 + UART_LCR, UART_LCR_DLAB);
	outb(COM1 + UART_DIVISOR_LO, UART_BASE_CLOCK / UART_BAUD);
	outb(COM1 + UART_DIVISOR_HI, 0);
	outb(COM1 + UART_LCR, UART_LCR_8N1);
	outb(COM1 + UART_FCR,
	     UART_FCR_FIFO_ON | UART_FCR_CLEAR_RX | UART_FCR_CLEAR_TX | UART_FCR_TRIGGER_14);
	outb(COM1 + UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
	serial_present = inb(COM1 + UART_LSR) != UART_ABSENT;
}

static void serial_putc(char c)
{
	if (!serial_present)
		return;
	for (int i = 0; i < UART_SPIN_LIMIT; i++) {
		if (inb(COM1 + UART_LSR) & UART_LSR_THR_EMPTY)
			break;
		__asm__ volatile("pause");
	}
	outb(COM1 + UART_DATA, (uint8_t)c);
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
	fbcon *fb = fbcon_boot();
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
	if (serial_present && (inb(COM1 + UART_LSR) & UART_LSR_DATA_READY))
		return inb(COM1 + UART_DATA);
	return i8042_getc();
}
