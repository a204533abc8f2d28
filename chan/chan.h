/*
 * chan/chan.h - Go's channels and select, built on the task layer's
 * sched_block_on / sched_wake; the overview is at the top of chan/chan.c.
 * Above the collector: every element copied into or out of a channel
 * buffer goes through the write barrier (gc_copy), so the collector never
 * misses a pointer in transit. Misuse that Go reports with a panic (send
 * on a closed channel, closing a closed or nil channel) kills the calling
 * task with task_panic.
 *
 * Locks: one per channel, several at once only in address order (select);
 * the order is the lock-rank table in arch/arch.h.
 */
#pragma once

#include "gc/gc.h"
#include "lib/lib.h"
#include "sched/sched.h"

typedef struct chan chan;

/* Largest element; Go's limit too. */
#define CHAN_MAX_ELEM_SIZE (64 * 1024)
/* Most cases one chan_select takes. */
#define CHAN_SELECT_MAX_CASES 128

/* A channel of cap elements of elem_size bytes (cap 0: unbuffered). The
 * header is a typed heap object; the buffer is scanned conservatively, so
 * elements may hold pointers. NULL with heap_last_error() when out of
 * memory or elem_size > CHAN_MAX_ELEM_SIZE or the buffer size overflows. */
chan *chan_make(size_t elem_size, size_t cap);
/* Same, elements of type elem_type: the buffer is scanned precisely (or
 * not at all if the type has no pointers). */
chan *chan_make_typed(const struct gc_type *elem_type, size_t cap);

/* Blocks until a receiver takes *elem or it is buffered ("chan send",
 * SWITCH_CHAN_SEND). Closed channel: the caller dies ("send on closed
 * channel"), also when the close comes while it waits. NULL channel:
 * blocks forever ("chan send (nil chan)"). */
void chan_send(chan *c, const void *elem);
/* Blocks until a value arrives ("chan receive", SWITCH_CHAN_RECV) and
 * stores it in *elem (elem may be NULL: value dropped). Returns false when
 * the channel is closed and drained; *elem is then zeroed. NULL channel:
 * blocks forever ("chan receive (nil chan)"). */
bool chan_recv(chan *c, void *elem);
/* Non-blocking forms: false when the operation would block (always for a
 * NULL channel). try_recv returns true if it received or found the channel
 * closed and drained, with *ok (may be NULL) false in the second case. */
bool chan_try_send(chan *c, const void *elem);
bool chan_try_recv(chan *c, void *elem, bool *ok);
/* Wakes every receiver (zero value, !ok) and every sender (they die).
 * NULL: "close of nil channel"; closed: "close of closed channel". */
void chan_close(chan *c);
size_t chan_len(chan *c);  /* buffered elements; 0 for NULL */
size_t chan_cap(chan *c);  /* 0 for NULL and unbuffered */
bool chan_closed(chan *c); /* false for NULL */
/* Checks the channel's invariants (chan/chan.c, next to struct chan)
 * under its lock; false with the first violation in why. */
bool chan_validate(chan *c, char *why, size_t n);

typedef enum select_dir { SELECT_SEND, SELECT_RECV } select_dir;
typedef struct select_case {
	chan *c;        /* NULL: the case is never ready */
	select_dir dir;
	void *elem;     /* send: the value; receive: where it goes (or NULL) */
	bool *ok;       /* receive: false if closed and drained (may be NULL) */
} select_case;

/*
 * Go's select: among the cases ready now, picks one uniformly at random
 * and does it; if none is ready returns -1 when has_default, else blocks
 * ("select", SWITCH_SELECT; the wait object is the cases array) until one
 * channel operation completes and returns that case's index. A send case
 * whose channel is closed kills the caller, as chan_send does. n == 0 without default blocks forever
 * ("select (no cases)"). At most CHAN_SELECT_MAX_CASES cases.
 */
int chan_select(select_case *cases, size_t n, bool has_default);
/* The channels a blocked task waits on (its send, receive or select
 * cases); 0 if it is not blocked in a channel operation. World stopped. */
size_t chan_waited_channels(const task *t, const chan **out, size_t max);
