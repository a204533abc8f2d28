/*
 * lib/kprintf.c - formatted output: one formatting engine feeding two
 * sinks, a caller's buffer (ksnprintf) or the console (kprintf). The console
 * sink formats into a small buffer on the caller's stack and flushes it when
 * full, so kprintf takes no lock and never allocates: it is safe from
 * interrupt handlers and from panic. Concurrent callers may interleave their
 * chunks, which is the price of never blocking.
 */
#include "lib/lib.h"

/* Bytes formatted on the stack between two console writes. */
#define KPRINTF_CHUNK 256

typedef struct kprintf_sink {
	char *buf;    /* the chunk (console) or the caller's buffer */
	size_t cap;   /* bytes buf holds */
	size_t pos;   /* bytes stored in buf */
	size_t total; /* characters produced, stored or not */
	bool console; /* flush to the console when full; else truncate */
} kprintf_sink;

/* Format flags and field width of one conversion. */
typedef struct kprintf_spec {
	bool left;      /* '-': pad on the right */
	bool zero;      /* '0': pad numbers with zeros after the sign */
	unsigned width; /* minimum field width */
} kprintf_spec;

static void kprintf_putc(kprintf_sink *sink, char c)
{
	if (sink->console) {
		if (sink->pos == sink->cap) {
			lib_console_write(sink->buf, sink->pos);
			sink->pos = 0;
		}
		sink->buf[sink->pos++] = c;
	} else if (sink->pos + 1 < sink->cap) {
		/* The last byte is kept for the terminating NUL. */
		sink->buf[sink->pos++] = c;
	}
	sink->total++;
}

static void kprintf_repeat(kprintf_sink *sink, char c, size_t count)
{
	while (count-- > 0)
		kprintf_putc(sink, c);
}

/* Takes a length rather than stopping at NUL, so %c can print '\0'. */
static void kprintf_chars(kprintf_sink *sink, const char *s, size_t len,
			  const kprintf_spec *spec)
{
	size_t pad = spec->width > len ? spec->width - len : 0;

	if (!spec->left)
		kprintf_repeat(sink, ' ', pad);
	for (size_t i = 0; i < len; i++)
		kprintf_putc(sink, s[i]);
	if (spec->left)
		kprintf_repeat(sink, ' ', pad);
}

/*
 * Prints magnitude `mag` in `base`, preceded by '-' if `negative` and by
 * `prefix` ("0x" for %p), with at least `min_digits` digits. Zero padding
 * goes between the sign/prefix and the digits, as in printf.
 */
static void kprintf_number(kprintf_sink *sink, uint64_t mag, bool negative,
			   unsigned base, bool upper, const char *prefix,
			   size_t min_digits, const kprintf_spec *spec)
{
	const char *digit_set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char digits[20]; /* UINT64_MAX has 20 decimal digits, 16 hex */
	size_t ndigits = 0;

	do {
		digits[ndigits++] = digit_set[mag % base];
		mag /= base;
	} while (mag != 0);

	size_t zeros = min_digits > ndigits ? min_digits - ndigits : 0;
	size_t len = (negative ? 1 : 0) + strlen(prefix) + zeros + ndigits;
	size_t pad = spec->width > len ? spec->width - len : 0;

	if (!spec->left && !spec->zero)
		kprintf_repeat(sink, ' ', pad);
	if (negative)
		kprintf_putc(sink, '-');
	while (*prefix)
		kprintf_putc(sink, *prefix++);
	if (!spec->left && spec->zero)
		zeros += pad;
	kprintf_repeat(sink, '0', zeros);
	while (ndigits > 0)
		kprintf_putc(sink, digits[--ndigits]);
	if (spec->left)
		kprintf_repeat(sink, ' ', pad);
}

/* Length modifiers; the value says how wide the va_arg is. */
enum { KPRINTF_INT, KPRINTF_LONG, KPRINTF_LLONG, KPRINTF_SIZE };

static int64_t kprintf_arg_signed(va_list *ap, int length)
{
	switch (length) {
	case KPRINTF_LONG:
		return va_arg(*ap, long);
	case KPRINTF_LLONG:
		return va_arg(*ap, long long);
	case KPRINTF_SIZE:
		/* %zd: the signed type of size_t's width (ssize_t). */
		return (int64_t)va_arg(*ap, size_t);
	default:
		return va_arg(*ap, int);
	}
}

static uint64_t kprintf_arg_unsigned(va_list *ap, int length)
{
	switch (length) {
	case KPRINTF_LONG:
		return va_arg(*ap, unsigned long);
	case KPRINTF_LLONG:
		return va_arg(*ap, unsigned long long);
	case KPRINTF_SIZE:
		return va_arg(*ap, size_t);
	default:
		return va_arg(*ap, unsigned int);
	}
}

static void kprintf_format(kprintf_sink *sink, const char *fmt, va_list ap_in)
{
	va_list ap; /* a local copy, so helpers can take its address */

	va_copy(ap, ap_in);
	while (*fmt) {
		if (*fmt != '%') {
			kprintf_putc(sink, *fmt++);
			continue;
		}
		const char *conversion_start = fmt++;
		kprintf_spec spec = { 0 };

		for (;; fmt++) {
			if (*fmt == '-')
				spec.left = true;
			else if (*fmt == '0')
				spec.zero = true;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			spec.width = spec.width * 10 + (unsigned)(*fmt++ - '0');

		int length = KPRINTF_INT;
		if (fmt[0] == 'l' && fmt[1] == 'l') {
			length = KPRINTF_LLONG;
			fmt += 2;
		} else if (*fmt == 'l') {
			length = KPRINTF_LONG;
			fmt++;
		} else if (*fmt == 'z') {
			length = KPRINTF_SIZE;
			fmt++;
		}

		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = kprintf_arg_signed(&ap, length);
			/* Negate in unsigned arithmetic: -INT64_MIN overflows. */
			uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
			kprintf_number(sink, mag, v < 0, 10, false, "", 1, &spec);
			break;
		}
		case 'u':
			kprintf_number(sink, kprintf_arg_unsigned(&ap, length),
				       false, 10, false, "", 1, &spec);
			break;
		case 'x':
		case 'X':
			kprintf_number(sink, kprintf_arg_unsigned(&ap, length),
				       false, 16, *fmt == 'X', "", 1, &spec);
			break;
		case 'p':
			/* Full width, so addresses line up in backtraces. */
			kprintf_number(sink, (uintptr_t)va_arg(ap, void *),
				       false, 16, false, "0x", 16, &spec);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			kprintf_chars(sink, s, strlen(s), &spec);
			break;
		}
		case 'c': {
			char c = (char)va_arg(ap, int);
			kprintf_chars(sink, &c, 1, &spec);
			break;
		}
		case '%':
			kprintf_putc(sink, '%');
			break;
		default:
			/*
			 * Unknown conversion (or '%' at the end): print it as
			 * written, so the mistake shows in the output.
			 */
			while (conversion_start < fmt)
				kprintf_putc(sink, *conversion_start++);
			if (*fmt == '\0')
				continue;
			kprintf_putc(sink, *fmt);
			break;
		}
		fmt++;
	}
	va_end(ap);
}

int kvsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	kprintf_sink sink = { .buf = buf, .cap = n, .console = false };

	kprintf_format(&sink, fmt, ap);
	if (n > 0)
		buf[sink.pos] = '\0';
	return (int)sink.total;
}

int ksnprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int len = kvsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return len;
}

int kvprintf(const char *fmt, va_list ap)
{
	char chunk[KPRINTF_CHUNK];
	kprintf_sink sink = { .buf = chunk, .cap = sizeof chunk, .console = true };

	kprintf_format(&sink, fmt, ap);
	if (sink.pos > 0)
		lib_console_write(chunk, sink.pos);
	return (int)sink.total;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int len = kvprintf(fmt, ap);
	va_end(ap);
	return len;
}
