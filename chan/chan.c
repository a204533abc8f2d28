/*
 * chan/chan.c - Go's channels and select, after runtime/chan.go and
 * runtime/select.go.
 *
 * Overview. A channel is a heap object (typed: the collector follows its
 * buffer pointer) with its own spinlock, a ring buffer of cap elements
 * (none when unbuffered) and two queues of waiting tasks: sendq and recvq.
 * A waiting task is represented by a sudog ("pseudo-g"): the task, where
 * its element lives (the value it sends, or where the value it receives
 * goes), a success flag, queue links, and for select the select it belongs
 * to. Sudogs come from a fixalloc pool, never from task stacks: a heap
 * object (the channel) must not point into a stack, and the collector must
 * not scan them (their elem pointers point into stacks; the stacks are
 * roots anyway).
 *
 * Send, step by step (receive is the mirror image):
 *   1. closed channel: the sender dies ("send on closed channel");
 *   2. a receiver waits in recvq: copy the value straight into its
 *      element (its stack), mark it successful, wake it - the rendezvous
 *      of an unbuffered channel, and the fast path of an empty buffered one;
 *   3. room in the buffer: copy the value in at sendx;
 *   4. else queue a sudog on sendq and block; whoever completes the send
 *      (a receiver) copies from our element, or close wakes us with
 *      success false and we die.
 * A receiver that finds a sender waiting on a full buffered channel takes
 * the oldest element from the buffer and moves the sender's value into
 * the slot freed, so FIFO order holds.
 *
 * Select (chan_select): lock every channel of the cases in address order,
 * poll the cases in a random order and do the first that is ready; else
 * return -1 if there is a default; else queue one sudog per case, all
 * pointing to one select_wait, and block. The first operation to take any
 * of those sudogs claims the select (an atomic flag: on SMP two channels
 * could race for it), completes that case and wakes the task; sudogs of a
 * claimed select met later in other queues are stale and skipped. Woken,
 * the task locks all channels again and unlinks its other sudogs.
 *
 * Locking. One lock per channel, guarding everything mutable in it and the
 * queue links of the sudogs on its queues. Several channel locks are only
 * held together by select, always in address order, so two selects over
 * the same channels cannot deadlock on SMP. Under channel locks a task
 * takes a select_wait lock, the sudog pool lock and sched_lock (through
 * sched_wake / sched_block_on); the order is the lock-rank table in
 * arch/arch.h.
 *
 * Write barrier: element copies into the buffer or another task's stack
 * all go through chan_copy_elem(), which copies with the collector's bulk
 * barrier, gc_copy (Go: typedmemmove / sendDirect). The header's own
 * pointer (buf) is stored once, before the channel is published.
 */
#include "chan/chan.h"
#include "gc/gc.h"
#include "sched/sched.h"

/* ---- sudogs ------------------------------------------------------------- */

struct select_wait;

struct sudog_queue;

typedef struct sudog {
	task *task;
	void *elem;            /* send: the value; receive: destination or NULL */
	chan *c;
	struct select_wait *sel; /* NULL for a plain send or receive */
	struct sudog *waitlink;  /* the owner's list of its sudogs (select) */
	int case_index;          /* select: the case this sudog stands for */
	/* guarded by c->lock */
	struct sudog *next, *prev; /* in c->sendq or c->recvq */
	struct sudog_queue *queue; /* the one it is on; NULL if none */
	/* written by the task that completes or closes, before the wake */
	bool success;              /* true: done; false: woken by close */
} sudog;

typedef struct sudog_queue {
	sudog *first, *last;
} sudog_queue;

/* One blocked select. Lives on the selecting task's stack: it cannot
 * return before relocking every channel of its cases, which the task that
 * wakes it still holds while it touches this. */
typedef struct select_wait {
	/* Held from before the channel locks are dropped until the task is
	 * blocked, so a waker on another CPU (which takes it before waking
	 * the task) cannot wake it too early and be lost. */
	spinlock lock;
	bool done;      /* claimed, by an atomic exchange under a channel lock */
	sudog *winner;  /* written by the claimer, read after the wake */
} select_wait;

static spinlock sudog_lock = SPINLOCK_INIT("sudog", LOCK_RANK_SUDOG);
static fixalloc sudog_pool; /* guarded by sudog_lock */

static sudog *sudog_get(void)
{
	spin_lock(&sudog_lock);
	if (sudog_pool.size == 0)
		fixalloc_init(&sudog_pool, "sudog", sizeof(sudog), _Alignof(sudog));
	sudog *sg = fixalloc_alloc(&sudog_pool); /* zeroed */
	spin_unlock(&sudog_lock);
	return sg;
}

static void sudog_put(sudog *sg)
{
	spin_lock(&sudog_lock);
	fixalloc_free(&sudog_pool, sg);
	spin_unlock(&sudog_lock);
}

/* ---- the channel --------------------------------------------------------- */

/*
 * Invariants (chan_validate checks them under lock):
 *   count <= cap;  cap > 0 => sendx < cap && recvx < cap &&
 *                             (recvx + count) % cap == sendx
 *   count > 0   => recvq empty      (a sender hands to a waiting receiver)
 *   count < cap => sendq empty      (a receiver takes a waiting sender)
 *   closed      => sendq and recvq empty (close wakes everyone)
 *   every sudog on sendq/recvq: sg->queue is that queue, sg->c == this
 */
struct chan {
	void *buf;          /* cap * elem_size bytes; NULL if that is 0 */
	size_t elem_size;
	size_t cap;
	spinlock lock;
	/* guarded by lock */
	size_t count;       /* elements in buf */
	size_t sendx, recvx;/* next slot to fill / to take */
	bool closed;
	sudog_queue sendq, recvq;
};

/* buf is the only heap pointer: the queue links and the lock's owner (a
 * task's context) point at fixalloc'd records outside the heap arena, which
 * the collector never follows. */
static GC_TYPE_DEFINE(chan_header_type, struct chan, buf);

static chan *chan_new(size_t elem_size, size_t cap, const gc_type *elem_type)
{
	size_t bytes;

	if (elem_size > CHAN_MAX_ELEM_SIZE) {
		heap_set_error("chan_make: element of %zu bytes (limit %d)", elem_size,
			       CHAN_MAX_ELEM_SIZE);
		return NULL;
	}
	if (__builtin_mul_overflow(elem_size, cap, &bytes)) {
		heap_set_error("chan_make: %zu elements of %zu bytes overflow", cap, elem_size);
		return NULL;
	}
	void *buf = NULL;
	if (bytes > 0) {
		buf = elem_type ? gc_alloc_array(elem_type, cap) : gc_alloc_conservative(bytes);
		if (!buf)
			return NULL;
	}
	/* The buffer is reachable only from the stack until the header
	 * holds it; the stack is a root. */
	chan *c = gc_alloc(&chan_header_type);
	if (!c)
		return NULL;
	c->buf = buf;
	c->elem_size = elem_size;
	c->cap = cap;
	c->lock = (spinlock)SPINLOCK_INIT("chan", LOCK_RANK_CHAN);
	return c;
}

chan *chan_make(size_t elem_size, size_t cap)
{
	return chan_new(elem_size, cap, NULL);
}

chan *chan_make_typed(const gc_type *elem_type, size_t cap)
{
	if (!elem_type) {
		heap_set_error("chan_make_typed: NULL type");
		return NULL;
	}
	return chan_new(elem_type->size, cap, elem_type);
}

/* ---- queues (c->lock) --------------------------------------------------- */

static void sudog_enqueue(sudog_queue *q, sudog *sg)
{
	sg->next = NULL;
	sg->prev = q->last;
	if (q->last)
		q->last->next = sg;
	else
		q->first = sg;
	q->last = sg;
	sg->queue = q;
}

static void sudog_unlink(sudog *sg)
{
	sudog_queue *q = sg->queue;
	if (sg->prev)
		sg->prev->next = sg->next;
	else
		q->first = sg->next;
	if (sg->next)
		sg->next->prev = sg->prev;
	else
		q->last = sg->prev;
	sg->next = sg->prev = NULL;
	sg->queue = NULL;
}

/* The first waiter of q that can still be completed, unlinked. A sudog of
 * a select is claimed here; one whose select another channel already
 * claimed is dropped (its owner frees it). */
static sudog *sudog_dequeue_locked(chan *c, sudog_queue *q)
{
	ASSERT_HELD(&c->lock);
	for (;;) {
		sudog *sg = q->first;
		if (!sg)
			return NULL;
		sudog_unlink(sg);
		if (!sg->sel)
			return sg;
		if (!__atomic_exchange_n(&sg->sel->done, true, __ATOMIC_ACQ_REL)) {
			sg->sel->winner = sg;
			return sg;
		}
	}
}

/* Wakes the owner of a dequeued sudog; success is already set. The caller
 * holds sg->c's lock, so a select owner cannot have returned yet. After
 * this the sudog belongs to its (running) owner again: not touched. */
static void sudog_wake_locked(sudog *sg)
{
	ASSERT_HELD(&sg->c->lock);
	task *t = sg->task;
	select_wait *sel = sg->sel;

	if (sel) {
		spin_lock(&sel->lock); /* waits until the owner is blocked */
		sched_wake(t);
		spin_unlock(&sel->lock);
	} else {
		sched_wake(t);
	}
}

/* ---- element copies ------------------------------------------------------ */

/* Every element copy: into the buffer, out of it, and between stacks. The
 * collector's bulk write barrier belongs here once gc/ exports one. */
/* Elements made of whole, aligned words may hold pointers the collector
 * sees: they are copied with the write barrier. Others cannot hold a
 * pointer the collector would find (its scans read aligned words). */
static bool chan_elem_words(const chan *c, const void *dst, const void *src)
{
	return c->elem_size % sizeof(void *) == 0 && (uintptr_t)dst % sizeof(void *) == 0 &&
	       (uintptr_t)src % sizeof(void *) == 0;
}

static void chan_copy_elem(const chan *c, void *dst, const void *src)
{
	if (!c->elem_size || !dst)
		return;
	if (chan_elem_words(c, dst, src))
		gc_copy(dst, src, c->elem_size);
	else
		memcpy(dst, src, c->elem_size);
}

static void chan_zero_elem(const chan *c, void *dst)
{
	if (!c->elem_size || !dst)
		return;
	if (chan_elem_words(c, dst, dst)) {
		/* Overwriting pointers: the deletion half of the barrier. */
		for (size_t w = 0; w < c->elem_size / sizeof(void *); w++)
			gc_write((void **)dst + w, NULL);
	} else {
		memset(dst, 0, c->elem_size);
	}
}

static void *chan_slot(const chan *c, size_t i)
{
	return (char *)c->buf + i * c->elem_size;
}

/* ---- the operations, lock held ------------------------------------------ */

/* Completes a send to the waiting receiver sg: the rendezvous. */
static void chan_send_to_locked(chan *c, sudog *sg, const void *elem)
{
	ASSERT_HELD(&c->lock);
	chan_copy_elem(c, sg->elem, elem);
	sg->success = true;
	sudog_wake_locked(sg);
}

/* Completes a receive from the waiting sender sg. */
static void chan_recv_from_locked(chan *c, sudog *sg, void *elem)
{
	ASSERT_HELD(&c->lock);
	if (c->cap == 0) {
		chan_copy_elem(c, elem, sg->elem);
	} else {
		/* Full buffer: take the oldest element, put the sender's in
		 * the slot it leaves, which is now the newest. */
		void *slot = chan_slot(c, c->recvx);
		chan_copy_elem(c, elem, slot);
		chan_copy_elem(c, slot, sg->elem);
		c->recvx = (c->recvx + 1) % c->cap;
		c->sendx = c->recvx;
	}
	sg->success = true;
	sudog_wake_locked(sg);
}

static void chan_buffer_put_locked(chan *c, const void *elem)
{
	ASSERT_HELD(&c->lock);
	ASSERT(c->count < c->cap);
	chan_copy_elem(c, chan_slot(c, c->sendx), elem);
	c->sendx = (c->sendx + 1) % c->cap;
	c->count++;
}

static void chan_buffer_take_locked(chan *c, void *elem)
{
	ASSERT_HELD(&c->lock);
	ASSERT(c->count > 0);
	void *slot = chan_slot(c, c->recvx);
	chan_copy_elem(c, elem, slot);
	/* Go clears the slot too: the collector must not keep what the
	 * element pointed to alive through a stale copy. */
	chan_zero_elem(c, slot);
	c->recvx = (c->recvx + 1) % c->cap;
	c->count--;
}

/* Tries a send without blocking; false if it would block. */
static bool chan_try_send_locked(chan *c, const void *elem)
{
	ASSERT_HELD(&c->lock);
	sudog *sg = sudog_dequeue_locked(c, &c->recvq);
	if (sg) {
		chan_send_to_locked(c, sg, elem);
		return true;
	}
	if (c->count < c->cap) {
		chan_buffer_put_locked(c, elem);
		return true;
	}
	return false;
}

/* Tries a receive without blocking; false if it would block, else *ok. */
static bool chan_try_recv_locked(chan *c, void *elem, bool *ok)
{
	ASSERT_HELD(&c->lock);
	sudog *sg = sudog_dequeue_locked(c, &c->sendq);
	if (sg) {
		chan_recv_from_locked(c, sg, elem);
		*ok = true;
		return true;
	}
	if (c->count > 0) {
		chan_buffer_take_locked(c, elem);
		*ok = true;
		return true;
	}
	if (c->closed) {
		chan_zero_elem(c, elem);
		*ok = false;
		return true;
	}
	return false;
}

/* ---- send, receive, close ------------------------------------------------ */

/* A nil channel (or an empty select): nobody can ever wake us. */
static _Noreturn void chan_block_forever(switch_reason why, wait_reason wait)
{
	for (;;)
		sched_block_on(NULL, NULL, why, wait, NULL);
}

static _Noreturn void chan_panic_out_of_memory(void)
{
	task_panic("channel: out of memory for a waiter record: %s", heap_last_error());
}

/* Blocks on q with a sudog for elem; returns its success flag. Called with
 * c->lock held, returns without it. */
static bool chan_wait_locked(chan *c, sudog_queue *q, void *elem, switch_reason why,
			     wait_reason wait)
{
	ASSERT_HELD(&c->lock);
	task *self = task_self();
	sudog *sg = sudog_get();

	if (!sg) {
		spin_unlock(&c->lock);
		chan_panic_out_of_memory();
	}
	sg->task = self;
	sg->elem = elem;
	sg->c = c;
	sudog_enqueue(q, sg);
	task_set_wait_data(self, sg); /* for diagnostics: what we wait in */
	sched_block_on(NULL, &c->lock, why, wait, c);
	/* Dequeued and woken by the completer or by close. */
	bool success = sg->success;
	task_set_wait_data(self, NULL);
	sudog_put(sg);
	return success;
}

static bool chan_send_internal(chan *c, const void *elem, bool block)
{
	if (!c) {
		if (!block)
			return false;
		chan_block_forever(SWITCH_CHAN_SEND, WAIT_REASON_CHAN_SEND_NIL_CHAN);
	}
	ASSERT(elem || c->elem_size == 0);
	spin_lock(&c->lock);
	if (c->closed) {
		spin_unlock(&c->lock);
		task_panic("send on closed channel");
	}
	if (chan_try_send_locked(c, elem)) {
		spin_unlock(&c->lock);
		return true;
	}
	if (!block) {
		spin_unlock(&c->lock);
		return false;
	}
	/* The sudog only reads through elem. */
	if (!chan_wait_locked(c, &c->sendq, (void *)elem, SWITCH_CHAN_SEND, WAIT_REASON_CHAN_SEND))
		task_panic("send on closed channel");
	return true;
}

void chan_send(chan *c, const void *elem)
{
	chan_send_internal(c, elem, true);
}

bool chan_try_send(chan *c, const void *elem)
{
	return chan_send_internal(c, elem, false);
}

/* Returns false if it would block (non-blocking only), else *ok. */
static bool chan_recv_internal(chan *c, void *elem, bool block, bool *ok)
{
	if (!c) {
		if (!block)
			return false;
		chan_block_forever(SWITCH_CHAN_RECV, WAIT_REASON_CHAN_RECEIVE_NIL_CHAN);
	}
	spin_lock(&c->lock);
	if (chan_try_recv_locked(c, elem, ok)) {
		spin_unlock(&c->lock);
		return true;
	}
	if (!block) {
		spin_unlock(&c->lock);
		return false;
	}
	/* close zeroes *elem when it wakes us with success false. */
	*ok = chan_wait_locked(c, &c->recvq, elem, SWITCH_CHAN_RECV, WAIT_REASON_CHAN_RECEIVE);
	return true;
}

bool chan_recv(chan *c, void *elem)
{
	bool ok = false;
	chan_recv_internal(c, elem, true, &ok);
	return ok;
}

bool chan_try_recv(chan *c, void *elem, bool *ok)
{
	bool got_ok = false;
	bool done = chan_recv_internal(c, elem, false, &got_ok);
	if (done && ok)
		*ok = got_ok;
	return done;
}

void chan_close(chan *c)
{
	if (!c)
		task_panic("close of nil channel");
	spin_lock(&c->lock);
	if (c->closed) {
		spin_unlock(&c->lock);
		task_panic("close of closed channel");
	}
	c->closed = true;
	sudog *sg;
	/* Receivers get the zero value and !ok; senders wake to die. The
	 * buffer keeps its elements for receivers to drain. */
	while ((sg = sudog_dequeue_locked(c, &c->recvq)) != NULL) {
		chan_zero_elem(c, sg->elem);
		sg->success = false;
		sudog_wake_locked(sg);
	}
	while ((sg = sudog_dequeue_locked(c, &c->sendq)) != NULL) {
		sg->success = false;
		sudog_wake_locked(sg);
	}
	spin_unlock(&c->lock);
}

size_t chan_len(chan *c)
{
	if (!c)
		return 0;
	spin_lock(&c->lock);
	size_t n = c->count;
	spin_unlock(&c->lock);
	return n;
}

size_t chan_cap(chan *c)
{
	return c ? c->cap : 0;
}

bool chan_closed(chan *c)
{
	if (!c)
		return false;
	spin_lock(&c->lock);
	bool closed = c->closed;
	spin_unlock(&c->lock);
	return closed;
}

static bool chan_check_queue(chan *c, const sudog_queue *q, const char *name, char *why,
			     size_t n)
{
	const sudog *prev = NULL;
	for (const sudog *sg = q->first; sg; prev = sg, sg = sg->next) {
		if (sg->queue != q || sg->c != c || sg->prev != prev) {
			ksnprintf(why, n, "chan %p: %s sudog %p: queue %p, chan %p, prev %p vs %p",
				  (void *)c, name, (const void *)sg, (void *)sg->queue, (void *)sg->c,
				  (const void *)sg->prev, (const void *)prev);
			return false;
		}
	}
	if (q->last != prev) {
		ksnprintf(why, n, "chan %p: %s last %p, walk ends at %p", (void *)c, name,
			  (void *)q->last, (const void *)prev);
		return false;
	}
	return true;
}

bool chan_validate(chan *c, char *why, size_t n)
{
	bool ok = false;

	spin_lock(&c->lock);
	if (c->count > c->cap)
		ksnprintf(why, n, "chan %p: count %zu > cap %zu", (void *)c, c->count, c->cap);
	else if (c->cap > 0 && (c->sendx >= c->cap || c->recvx >= c->cap ||
				(c->recvx + c->count) % c->cap != c->sendx))
		ksnprintf(why, n, "chan %p: sendx %zu, recvx %zu, count %zu, cap %zu",
			  (void *)c, c->sendx, c->recvx, c->count, c->cap);
	else if (c->count > 0 && c->recvq.first)
		ksnprintf(why, n, "chan %p: %zu buffered with receivers waiting", (void *)c,
			  c->count);
	else if (c->count < c->cap && c->sendq.first)
		ksnprintf(why, n, "chan %p: room in the buffer with senders waiting",
			  (void *)c);
	else if (c->closed && (c->sendq.first || c->recvq.first))
		ksnprintf(why, n, "chan %p: closed with tasks waiting", (void *)c);
	else if (chan_check_queue(c, &c->sendq, "sendq", why, n) &&
		 chan_check_queue(c, &c->recvq, "recvq", why, n))
		ok = true;
	spin_unlock(&c->lock);
	return ok;
}

/* ---- select ---------------------------------------------------------------- */

/* Locks the distinct channels of the cases, in address order (lockorder
 * sorted by address; a channel named by several cases is locked once). */
static void select_lock_all(const select_case *cases, const uint16_t *lockorder, size_t n)
{
	chan *last = NULL;
	for (size_t i = 0; i < n; i++) {
		chan *c = cases[lockorder[i]].c;
		if (c != last)
			spin_lock(&c->lock);
		last = c;
	}
}

/* Unlocks them in reverse. The caller disabled interrupts before the first
 * lock, so no unlock turns them on early (each lock saved "off"). */
static void select_unlock_all(const select_case *cases, const uint16_t *lockorder, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		chan *c = cases[lockorder[i]].c;
		if (i == 0 || cases[lockorder[i - 1]].c != c)
			spin_unlock(&c->lock);
	}
}

/* Does the case if it is ready now; true if it was. Channel locked. */
static bool select_try_case_locked(select_case *sc)
{
	chan *c = sc->c;
	ASSERT_HELD(&c->lock);
	if (sc->dir == SELECT_SEND) {
		ASSERT(sc->elem || c->elem_size == 0);
		return chan_try_send_locked(c, sc->elem);
	}
	bool ok;
	if (!chan_try_recv_locked(c, sc->elem, &ok))
		return false;
	if (sc->ok)
		*sc->ok = ok;
	return true;
}

/* A send case on a closed channel: Go panics when its poll reaches such a
 * case (earlier ready cases win first), and so do we. */
static bool select_send_on_closed(const select_case *sc)
{
	return sc->dir == SELECT_SEND && sc->c->closed;
}

/* The queue a case waits on. */
static sudog_queue *select_queue(const select_case *sc)
{
	return sc->dir == SELECT_SEND ? &sc->c->sendq : &sc->c->recvq;
}

/* Takes the sudogs of list that are still queued off their queues; their
 * channels are locked. */
static void select_unlink_all(sudog *list)
{
	for (sudog *sg = list; sg; sg = sg->waitlink) {
		if (!sg->queue)
			continue; /* the winner, or dropped as stale */
		ASSERT_HELD(&sg->c->lock);
		sudog_unlink(sg);
	}
}

static void select_free_all(sudog *list)
{
	for (sudog *sg = list, *next; sg; sg = next) {
		next = sg->waitlink;
		sudog_put(sg);
	}
}

int chan_select(select_case *cases, size_t n, bool has_default)
{
	uint16_t pollorder[CHAN_SELECT_MAX_CASES], lockorder[CHAN_SELECT_MAX_CASES];
	size_t ncases = 0; /* cases with a channel */

	if (n > CHAN_SELECT_MAX_CASES)
		task_panic("select: %zu cases (limit %d)", n, CHAN_SELECT_MAX_CASES);
	/* Poll order: a uniformly random permutation of the cases with a
	 * channel (inside-out Fisher-Yates), which makes the choice among
	 * ready cases uniform. NULL channels are never ready: left out. */
	for (size_t i = 0; i < n; i++) {
		if (!cases[i].c)
			continue;
		size_t j = (size_t)(sched_random() % (ncases + 1));
		if (j != ncases)
			pollorder[ncases] = pollorder[j];
		pollorder[j] = (uint16_t)i;
		ncases++;
	}
	if (ncases == 0) {
		if (has_default)
			return -1;
		chan_block_forever(SWITCH_SELECT,
				   n == 0 ? WAIT_REASON_SELECT_NO_CASES : WAIT_REASON_SELECT);
	}
	/* Lock order: by channel address (insertion sort; n is small). */
	for (size_t i = 0; i < ncases; i++) {
		uint16_t k = pollorder[i];
		size_t j = i;
		while (j > 0 && (uintptr_t)cases[lockorder[j - 1]].c > (uintptr_t)cases[k].c) {
			lockorder[j] = lockorder[j - 1];
			j--;
		}
		lockorder[j] = k;
	}

	arch_irqflags_t irq = arch_irq_save();
	select_lock_all(cases, lockorder, ncases);

	/* Pass 1: the first ready case in poll order. */
	for (size_t i = 0; i < ncases; i++) {
		select_case *sc = &cases[pollorder[i]];
		if (select_send_on_closed(sc)) {
			select_unlock_all(cases, lockorder, ncases);
			arch_irq_restore(irq);
			task_panic("send on closed channel");
		}
		if (select_try_case_locked(sc)) {
			select_unlock_all(cases, lockorder, ncases);
			arch_irq_restore(irq);
			return pollorder[i];
		}
	}
	if (has_default) {
		select_unlock_all(cases, lockorder, ncases);
		arch_irq_restore(irq);
		return -1;
	}

	/* Pass 2: a sudog on every case's queue (in lock order, as Go),
	 * then block until the first of them is completed. */
	task *self = task_self();
	select_wait sel = { .lock = SPINLOCK_INIT("select", LOCK_RANK_SELECT) };
	sudog *list = NULL, **tail = &list;
	for (size_t i = 0; i < ncases; i++) {
		uint16_t k = lockorder[i];
		sudog *sg = sudog_get();
		if (!sg) {
			select_unlink_all(list);
			select_unlock_all(cases, lockorder, ncases);
			arch_irq_restore(irq);
			select_free_all(list);
			chan_panic_out_of_memory();
		}
		sg->task = self;
		sg->elem = cases[k].elem;
		sg->c = cases[k].c;
		sg->sel = &sel;
		sg->case_index = k;
		sudog_enqueue(select_queue(&cases[k]), sg);
		*tail = sg;
		tail = &sg->waitlink;
	}
	task_set_wait_data(self, list); /* for diagnostics: what we wait in */
	/* Blocked before any waker (which takes sel.lock) can wake us. */
	spin_lock(&sel.lock);
	select_unlock_all(cases, lockorder, ncases);
	sched_block_on(NULL, &sel.lock, SWITCH_SELECT, WAIT_REASON_SELECT, cases);

	/* Pass 3: the winner was dequeued by whoever completed it; take the
	 * others off their queues. */
	select_lock_all(cases, lockorder, ncases);
	select_unlink_all(list);
	select_unlock_all(cases, lockorder, ncases);
	arch_irq_restore(irq);
	task_set_wait_data(self, NULL);
	ASSERT(sel.done && sel.winner);
	int chosen = sel.winner->case_index;
	bool success = sel.winner->success;
	select_free_all(list);

	select_case *sc = &cases[chosen];
	if (sc->dir == SELECT_SEND) {
		if (!success)
			task_panic("send on closed channel");
	} else if (sc->ok) {
		*sc->ok = success; /* close zeroed the element */
	}
	return chosen;
}

/* ---- for the leak detector ------------------------------------------------ */
size_t chan_waited_channels(const task *t, const chan **out, size_t max)
{
	/* A blocked channel operation or select keeps its sudogs in the
	 * task's wait data, linked through waitlink (one for a plain send or
	 * receive). World stopped: nothing moves meanwhile. */
	size_t n = 0;
	for (const sudog *sg = task_wait_data(t); sg && n < max; sg = sg->waitlink)
		out[n++] = sg->c;
	return n;
}
