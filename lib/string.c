/*
 * lib/string.c - the freestanding mem* and str* functions. The compiler
 * emits calls to memset/memcpy/memmove/memcmp on its own (struct copies,
 * zeroing), so these must exist and must not call themselves: loops that
 * look like memset are turned into memset calls unless loop distribution
 * is off. The hosted build uses libc's versions and compiles none of this.
 */
#include "lib/lib.h"

#ifndef TRICOLOR_HOSTED

/* A word that may alias anything, for word-at-a-time copies and fills. */
typedef uint64_t __attribute__((may_alias)) string_word;

#define STRING_WORD sizeof(string_word)
#define STRING_MISALIGNED(p) (((uintptr_t)(p)) & (STRING_WORD - 1))

/*
 * Keeps GCC from replacing the loops below with calls to these very
 * functions (infinite recursion). -ffreestanding happens to prevent that in
 * GCC 12, but only as a side effect; the attribute holds whatever the flags.
 * It is on every function because GCC 12 also recognises strlen loops.
 */
#define STRING_NO_LIBCALL \
	__attribute__((optimize("no-tree-loop-distribute-patterns")))

STRING_NO_LIBCALL void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	unsigned char byte = (unsigned char)c;

	while (n > 0 && STRING_MISALIGNED(d)) {
		*d++ = byte;
		n--;
	}
	string_word word = 0x0101010101010101ULL * byte;
	for (; n >= STRING_WORD; n -= STRING_WORD, d += STRING_WORD)
		*(string_word *)d = word;
	while (n-- > 0)
		*d++ = byte;
	return dst;
}

/* Copies low to high; safe for overlap when dst is below src. */
STRING_NO_LIBCALL static void string_copy_forward(unsigned char *d,
						  const unsigned char *s,
						  size_t n)
{
	if (STRING_MISALIGNED(d) == STRING_MISALIGNED(s)) {
		while (n > 0 && STRING_MISALIGNED(d)) {
			*d++ = *s++;
			n--;
		}
		for (; n >= STRING_WORD; n -= STRING_WORD) {
			*(string_word *)d = *(const string_word *)s;
			d += STRING_WORD;
			s += STRING_WORD;
		}
	}
	while (n-- > 0)
		*d++ = *s++;
}

/* Copies high to low; safe for overlap when dst is above src. */
STRING_NO_LIBCALL static void string_copy_backward(unsigned char *d,
						   const unsigned char *s,
						   size_t n)
{
	d += n;
	s += n;
	if (STRING_MISALIGNED(d) == STRING_MISALIGNED(s)) {
		while (n > 0 && STRING_MISALIGNED(d)) {
			*--d = *--s;
			n--;
		}
		for (; n >= STRING_WORD; n -= STRING_WORD) {
			d -= STRING_WORD;
			s -= STRING_WORD;
			*(string_word *)d = *(const string_word *)s;
		}
	}
	while (n-- > 0)
		*--d = *--s;
}

STRING_NO_LIBCALL void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	string_copy_forward(dst, src, n);
	return dst;
}

STRING_NO_LIBCALL void *memmove(void *dst, const void *src, size_t n)
{
	if ((uintptr_t)dst <= (uintptr_t)src)
		string_copy_forward(dst, src, n);
	else
		string_copy_backward(dst, src, n);
	return dst;
}

STRING_NO_LIBCALL int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++) {
		if (x[i] != y[i])
			return x[i] - y[i];
	}
	return 0;
}

STRING_NO_LIBCALL size_t strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return (size_t)(p - s);
}

STRING_NO_LIBCALL int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

STRING_NO_LIBCALL int strncmp(const char *a, const char *b, size_t n)
{
	for (; n > 0; n--, a++, b++) {
		if (*a != *b || *a == '\0')
			return (unsigned char)*a - (unsigned char)*b;
	}
	return 0;
}

STRING_NO_LIBCALL char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (*s == '\0')
			return NULL;
	}
}

char *strstr(const char *haystack, const char *needle)
{
	size_t n = strlen(needle);
	for (; *haystack; haystack++)
		if (strncmp(haystack, needle, n) == 0)
			return (char *)haystack;
	return n == 0 ? (char *)haystack : NULL;
}

#endif /* !TRICOLOR_HOSTED */
