/*
 * chan_test.c - chan/chan.c: unbuffered rendezvous, buffered FIFO order
 * (also through a full buffer with a sender waiting), close waking every
 * receiver, draining after close, misuse killing only the offender, nil
 * channels blocking forever, and select: default, blocking until ready,
 * fairness among ready cases, closed channels, duplicates, stress. Every
 * test checks the channel invariants (chan_validate) at the end. Orderings
 * are forced with "yield until that task is blocked" loops, never timing.
 */
#include "chan/chan.h"
#include "gc/gc.h"
#include "lib/lib.h"
#include "sched/sched.h"
#include "tests/task_test_util.h"

static void check_valid(chan *c)
{
	char why[160];
	CHECK_MSG(chan_validate(c, why, sizeof(why)), "%s", why);
}

/* A task's view of one channel operation. */
struct op {
	chan *c;
	int value;     /* send: the value; receive: what arrived */
	bool ok;       /* receive: the ok flag */
	int count;     /* loops: how many */
};

static void recv_one(void *arg)
{
	struct op *o = arg;
	o->ok = chan_recv(o->c, &o->value);
}

static void send_one(void *arg)
{
	struct op *o = arg;
	chan_send(o->c, &o->value);
}

static void close_it(void *arg)
{
	chan_close(arg);
}

/* ---- basics ---------------------------------------------------------- */

TEST(chan, make_checks_arguments)
{
	chan *c = chan_make(sizeof(int), 4);
	CHECK(c);
	CHECK(gc_find_object(c, NULL)); /* a heap object */
	CHECK_EQ(chan_cap(c), 4);
	CHECK_EQ(chan_len(c), 0);
	CHECK(!chan_closed(c));
	CHECK(chan_make(CHAN_MAX_ELEM_SIZE + 1, 1) == NULL);
	CHECK(chan_make(1024, SIZE_MAX / 512) == NULL);
	CHECK(chan_make_typed(NULL, 1) == NULL);
	CHECK_EQ(chan_len(NULL), 0);
	CHECK_EQ(chan_cap(NULL), 0);
	chan *empty = chan_make(0, 3); /* chan struct{} */
	CHECK(empty);
	CHECK(chan_try_send(empty, NULL));
	CHECK_EQ(chan_len(empty), 1);
	bool ok = false;
	CHECK(chan_try_recv(empty, NULL, &ok));
	CHECK(ok);
	check_valid(c);
	check_valid(empty);
}

TEST(chan, unbuffered_rendezvous)
{
	chan *c = chan_make(sizeof(int), 0);
	CHECK(c);
	/* Receiver first: it waits; the send hands the value straight over. */
	static struct op r;
	r = (struct op){ .c = c, .value = -1 };
	task *rt = task_spawn(recv_one, &r, "receiver");
	yield_until_blocked(rt);
	check_blocked_on(rt, WAIT_REASON_CHAN_RECEIVE, c);
	int v = 42;
	CHECK(!chan_try_recv(c, &v, NULL));
	chan_send(c, &v);
	CHECK_EQ(task_join(rt), 0);
	CHECK_EQ(r.value, 42);
	CHECK(r.ok);
	/* Sender first: it waits until a receiver comes; nothing is buffered. */
	static struct op s;
	s = (struct op){ .c = c, .value = 7 };
	task *st = task_spawn(send_one, &s, "sender");
	yield_until_blocked(st);
	check_blocked_on(st, WAIT_REASON_CHAN_SEND, c);
	CHECK_EQ(chan_len(c), 0);
	CHECK(!chan_try_send(c, &v)); /* no receiver waiting */
	v = 0;
	CHECK(chan_recv(c, &v));
	CHECK_EQ(v, 7);
	CHECK_EQ(task_join(st), 0);
	check_valid(c);
}

static void produce(void *arg)
{
	struct op *o = arg;
	for (int i = 0; i < o->count; i++)
		chan_send(o->c, &i);
	chan_close(o->c);
}

/* Values arrive in order through an unbuffered and a small buffer. */
static void check_stream(size_t cap)
{
	enum { COUNT = 1000 };
	chan *c = chan_make(sizeof(int), cap);
	CHECK(c);
	static struct op p;
	p = (struct op){ .c = c, .count = COUNT };
	task *t = task_spawn(produce, &p, "producer");
	int v, expect = 0;
	while (chan_recv(c, &v)) {
		CHECK_EQ(v, expect);
		expect++;
	}
	CHECK_EQ(expect, COUNT);
	CHECK_EQ(v, 0); /* zeroed by the closed receive */
	CHECK_EQ(task_join(t), 0);
	check_valid(c);
}

TEST(chan, stream_in_order)
{
	check_stream(0);
	check_stream(1);
	check_stream(4);
}

TEST(chan, buffered_fifo)
{
	enum { CAP = 8 };
	chan *c = chan_make(sizeof(int), CAP);
	CHECK(c);
	for (int i = 0; i < CAP; i++)
		CHECK(chan_try_send(c, &i)); /* room: never blocks */
	CHECK_EQ(chan_len(c), CAP);
	int v = 99;
	CHECK(!chan_try_send(c, &v));
	for (int i = 0; i < CAP; i++) {
		CHECK(chan_recv(c, &v));
		CHECK_EQ(v, i);
	}
	CHECK_EQ(chan_len(c), 0);
	/* Full buffer with a sender waiting: the receiver takes the oldest
	 * and the sender's value goes in last. */
	for (int i = 0; i < CAP; i++)
		chan_send(c, &i);
	static struct op s;
	s = (struct op){ .c = c, .value = 100 };
	task *st = task_spawn(send_one, &s, "sender");
	yield_until_blocked(st);
	check_blocked_on(st, WAIT_REASON_CHAN_SEND, c);
	check_valid(c);
	CHECK(chan_recv(c, &v));
	CHECK_EQ(v, 0);
	CHECK_EQ(task_join(st), 0);
	CHECK_EQ(chan_len(c), CAP);
	for (int i = 1; i < CAP; i++) {
		CHECK(chan_recv(c, &v));
		CHECK_EQ(v, i);
	}
	CHECK(chan_recv(c, &v));
	CHECK_EQ(v, 100);
	check_valid(c);
}

typedef struct boxed {
	struct boxed *self;
	uint64_t payload;
} boxed;
static GC_TYPE_DEFINE(boxed_type, boxed, self);

TEST(chan, typed_elements)
{
	chan *c = chan_make_typed(&boxed_type, 2);
	CHECK(c);
	boxed b = { &b, 0x1234 }, out = { 0 };
	chan_send(c, &b);
	CHECK(chan_recv(c, &out));
	CHECK(out.self == &b);
	CHECK_EQ(out.payload, 0x1234);
}

/* ---- close ----------------------------------------------------------- */

TEST(chan, close_wakes_all_receivers)
{
	enum { N = 5 };
	chan *c = chan_make(sizeof(int), 0);
	CHECK(c);
	static struct op r[N];
	task *tasks[N];
	for (int i = 0; i < N; i++) {
		r[i] = (struct op){ .c = c, .value = 0x5eed, .ok = true };
		CHECK((tasks[i] = task_spawn(recv_one, &r[i], "receiver")));
	}
	for (int i = 0; i < N; i++)
		yield_until_blocked(tasks[i]);
	chan_close(c);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(task_join(tasks[i]), 0);
		CHECK(!r[i].ok);
		CHECK_EQ(r[i].value, 0);
	}
	check_valid(c);
}

TEST(chan, receive_after_close_drains_then_reports_closed)
{
	chan *c = chan_make(sizeof(int), 3);
	CHECK(c);
	for (int i = 1; i <= 3; i++)
		chan_send(c, &i);
	chan_close(c);
	CHECK(chan_closed(c));
	int v;
	for (int i = 1; i <= 3; i++) {
		CHECK(chan_recv(c, &v));
		CHECK_EQ(v, i);
	}
	v = 77;
	CHECK(!chan_recv(c, &v));
	CHECK_EQ(v, 0);
	bool ok = true;
	v = 77;
	CHECK(chan_try_recv(c, &v, &ok));
	CHECK(!ok);
	CHECK_EQ(v, 0);
	CHECK(!chan_recv(c, NULL));
	check_valid(c);
}

TEST(chan, send_on_closed_kills_only_the_sender)
{
	/* Already closed. */
	chan *c = chan_make(sizeof(int), 1);
	CHECK(c);
	chan_close(c);
	static struct op s;
	s = (struct op){ .c = c, .value = 1 };
	CHECK_EQ(task_join(task_spawn(send_one, &s, "late sender")), TASK_EXIT_FAULT);
	/* Closed while the sender waits (unbuffered, then a full buffer). */
	for (size_t cap = 0; cap <= 1; cap++) {
		chan *d = chan_make(sizeof(int), cap);
		CHECK(d);
		int v = 5;
		if (cap)
			chan_send(d, &v);
		s = (struct op){ .c = d, .value = 6 };
		task *t = task_spawn(send_one, &s, "waiting sender");
		yield_until_blocked(t);
		chan_close(d);
		CHECK_EQ(task_join(t), TASK_EXIT_FAULT);
		if (cap) { /* what was buffered is still delivered */
			CHECK(chan_recv(d, &v));
			CHECK_EQ(v, 5);
		}
		CHECK(!chan_recv(d, &v));
		check_valid(d);
	}
	/* The rest goes on. */
	chan *e = chan_make(sizeof(int), 0);
	static struct op r;
	r = (struct op){ .c = e };
	task *rt = task_spawn(recv_one, &r, "receiver");
	int v = 3;
	chan_send(e, &v);
	CHECK_EQ(task_join(rt), 0);
	CHECK_EQ(r.value, 3);
}

TEST(chan, close_twice_kills_the_closer)
{
	chan *c = chan_make(sizeof(int), 0);
	CHECK(c);
	CHECK_EQ(task_join(task_spawn(close_it, c, "closer")), 0);
	CHECK_EQ(task_join(task_spawn(close_it, c, "closer again")), TASK_EXIT_FAULT);
	CHECK(chan_closed(c));
	CHECK_EQ(task_join(task_spawn(close_it, NULL, "nil closer")), TASK_EXIT_FAULT);
}

/* ---- nil channels ---------------------------------------------------- */

static void recv_nil(void *unused)
{
	(void)unused;
	chan_recv(NULL, NULL);
}

static void send_nil(void *unused)
{
	(void)unused;
	int v = 1;
	chan_send(NULL, &v);
}

static void select_nothing(void *unused)
{
	(void)unused;
	chan_select(NULL, 0, false);
}

/*
 * A nil channel blocks forever, and so does an empty select. Nothing can
 * wake or kill these tasks: they stay blocked for the rest of the run and
 * their stacks and records leak (three of them, once). Detached, so their
 * records would be freed if they ever ended.
 */
TEST(chan, nil_channel_blocks_forever)
{
	task *r = task_spawn(recv_nil, NULL, "nil receiver");
	task *s = task_spawn(send_nil, NULL, "nil sender");
	task *e = task_spawn(select_nothing, NULL, "empty select");
	CHECK(r && s && e);
	yield_until_blocked(r);
	yield_until_blocked(s);
	yield_until_blocked(e);
	for (int i = 0; i < 10; i++)
		task_yield(); /* they had the CPU again: still blocked */
	check_blocked_on(r, WAIT_REASON_CHAN_RECEIVE_NIL_CHAN, NULL);
	check_blocked_on(s, WAIT_REASON_CHAN_SEND_NIL_CHAN, NULL);
	check_blocked_on(e, WAIT_REASON_SELECT_NO_CASES, NULL);
	int v = 0;
	CHECK(!chan_try_send(NULL, &v));
	CHECK(!chan_try_recv(NULL, &v, NULL));
	task_detach(r);
	task_detach(s);
	task_detach(e);
}

/* ---- select ---------------------------------------------------------- */

TEST(chan, select_default_when_none_ready)
{
	chan *a = chan_make(sizeof(int), 0), *b = chan_make(sizeof(int), 1);
	CHECK(a && b);
	int x = 1, y = 0;
	select_case cases[] = {
		{ .c = a, .dir = SELECT_RECV, .elem = &y },
		{ .c = b, .dir = SELECT_RECV, .elem = &y },
		{ .c = a, .dir = SELECT_SEND, .elem = &x }, /* no receiver */
		{ .c = NULL, .dir = SELECT_SEND, .elem = &x },
	};
	CHECK_EQ(chan_select(cases, ARRAY_SIZE(cases), true), -1);
	CHECK_EQ(chan_select(NULL, 0, true), -1);
	CHECK_EQ(chan_select(&cases[3], 1, true), -1); /* nil only */
	chan_send(b, &x);
	bool ok = false;
	cases[1].ok = &ok;
	CHECK_EQ(chan_select(cases, ARRAY_SIZE(cases), true), 1);
	CHECK(ok);
	CHECK_EQ(y, 1);
	/* A send case with room. */
	select_case send_b = { .c = b, .dir = SELECT_SEND, .elem = &x };
	CHECK_EQ(chan_select(&send_b, 1, true), 0);
	CHECK_EQ(chan_len(b), 1);
	check_valid(a);
	check_valid(b);
}

struct select_helper {
	task *selector;
	chan *c;
	int value;
	task_info seen; /* the selector, as the helper saw it blocked */
};

static void wait_then_send(void *arg)
{
	struct select_helper *h = arg;
	(void)task_reaches(h->selector, TASK_BLOCKED); /* else `seen` tells */
	task_get_info(h->selector, &h->seen);
	chan_send(h->c, &h->value);
}

static void wait_then_recv(void *arg)
{
	struct select_helper *h = arg;
	(void)task_reaches(h->selector, TASK_BLOCKED); /* else `seen` tells */
	task_get_info(h->selector, &h->seen);
	chan_recv(h->c, &h->value);
}

static void wait_then_close(void *arg)
{
	struct select_helper *h = arg;
	(void)task_reaches(h->selector, TASK_BLOCKED); /* else `seen` tells */
	task_get_info(h->selector, &h->seen);
	chan_close(h->c);
}

TEST(chan, select_blocks_until_ready)
{
	chan *a = chan_make(sizeof(int), 0), *b = chan_make(sizeof(int), 0);
	CHECK(a && b);
	static struct select_helper h;
	h = (struct select_helper){ .selector = task_self(), .c = b, .value = 5 };
	task *t = task_spawn(wait_then_send, &h, "sender");
	int va = -1, vb = -1;
	bool ok = false;
	select_case cases[] = {
		{ .c = a, .dir = SELECT_RECV, .elem = &va },
		{ .c = b, .dir = SELECT_RECV, .elem = &vb, .ok = &ok },
	};
	CHECK_EQ(chan_select(cases, 2, false), 1);
	CHECK_EQ(vb, 5);
	CHECK(ok);
	CHECK_EQ(va, -1);
	CHECK_EQ(task_join(t), 0);
	CHECK_WAIT_REASON(h.seen, WAIT_REASON_SELECT);
	CHECK(h.seen.wait_object == cases);
	/* The sudog left on a was taken off: nobody receives there now. */
	int x = 1;
	CHECK(!chan_try_send(a, &x));
	check_valid(a);
	check_valid(b);

	/* A blocked send case, completed by a receiver. */
	h = (struct select_helper){ .selector = task_self(), .c = a, .value = -1 };
	t = task_spawn(wait_then_recv, &h, "receiver");
	x = 11;
	select_case send_cases[] = {
		{ .c = a, .dir = SELECT_SEND, .elem = &x },
		{ .c = b, .dir = SELECT_RECV, .elem = &vb },
	};
	CHECK_EQ(chan_select(send_cases, 2, false), 0);
	CHECK_EQ(task_join(t), 0);
	CHECK_EQ(h.value, 11);
	check_valid(a);
	check_valid(b);
}

/* 10,000 selects over two always-ready channels: each case must win about
 * half the time. The bounds [40%, 60%] are 20 standard deviations wide
 * (sd = sqrt(10000 / 4) = 50): they cannot fail by chance. */
TEST(chan, select_fairness)
{
	enum { ROUNDS = 10000 };
	chan *c[2] = { chan_make(sizeof(int), 1), chan_make(sizeof(int), 1) };
	CHECK(c[0] && c[1]);
	int v = 0, wins[2] = { 0, 0 };
	for (int i = 0; i < 2; i++)
		chan_send(c[i], &i);
	select_case cases[] = {
		{ .c = c[0], .dir = SELECT_RECV, .elem = &v },
		{ .c = c[1], .dir = SELECT_RECV, .elem = &v },
	};
	for (int i = 0; i < ROUNDS; i++) {
		int k = chan_select(cases, 2, false);
		CHECK(k == 0 || k == 1);
		CHECK_EQ(v, k);
		wins[k]++;
		chan_send(c[k], &k); /* ready again */
	}
	test_log("case 0: %d, case 1: %d", wins[0], wins[1]);
	CHECK_GE(wins[0], ROUNDS * 4 / 10);
	CHECK_LE(wins[0], ROUNDS * 6 / 10);
	CHECK_EQ(wins[0] + wins[1], ROUNDS);
}

static void select_send_forever(void *arg)
{
	int v = 1;
	chan *c = arg;
	select_case cases[] = {
		{ .c = c, .dir = SELECT_SEND, .elem = &v },
		{ .c = NULL, .dir = SELECT_RECV, .elem = &v },
	};
	chan_select(cases, 2, false);
}

TEST(chan, select_with_a_closed_channel)
{
	chan *a = chan_make(sizeof(int), 0), *b = chan_make(sizeof(int), 0);
	CHECK(a && b);
	/* Closed already: its receive case is ready, with zero and !ok. */
	chan_close(b);
	int v = 9;
	bool ok = true;
	select_case cases[] = {
		{ .c = a, .dir = SELECT_RECV, .elem = &v },
		{ .c = b, .dir = SELECT_RECV, .elem = &v, .ok = &ok },
	};
	CHECK_EQ(chan_select(cases, 2, false), 1);
	CHECK(!ok);
	CHECK_EQ(v, 0);

	/* Closed while the select waits. */
	chan *d = chan_make(sizeof(int), 0);
	CHECK(d);
	static struct select_helper h;
	h = (struct select_helper){ .selector = task_self(), .c = d };
	task *t = task_spawn(wait_then_close, &h, "closer");
	v = 9;
	ok = true;
	cases[1].c = d;
	CHECK_EQ(chan_select(cases, 2, false), 1);
	CHECK(!ok);
	CHECK_EQ(v, 0);
	CHECK_EQ(task_join(t), 0);
	CHECK_WAIT_REASON(h.seen, WAIT_REASON_SELECT);
	check_valid(a);
	check_valid(d);

	/* A select waiting to send dies when the channel is closed; so does
	 * one that finds it closed. */
	chan *e = chan_make(sizeof(int), 0);
	CHECK(e);
	t = task_spawn(select_send_forever, e, "select sender");
	yield_until_blocked(t);
	task_info info;
	task_get_info(t, &info);
	CHECK_WAIT_REASON(info, WAIT_REASON_SELECT); /* object: its cases array */
	chan_close(e);
	CHECK_EQ(task_join(t), TASK_EXIT_FAULT);
	CHECK_EQ(task_join(task_spawn(select_send_forever, e, "late select sender")),
		 TASK_EXIT_FAULT);
	check_valid(e);
}

struct stale_helper {
	task *selector;
	chan *a, *b;
	bool sent_to_a;
	bool selector_blocked; /* when the helper went on */
};

/* Completes the select through b, then, before the selector can run and
 * take its sudog off a, sends on a: that sudog is stale and must be
 * skipped, not handed the value. */
static void complete_then_poke(void *arg)
{
	struct stale_helper *h = arg;
	h->selector_blocked = task_reaches(h->selector, TASK_BLOCKED);
	int v = 1;
	preempt_disable();
	chan_send(h->b, &v); /* a receiver waits: does not block */
	h->sent_to_a = chan_try_send(h->a, &v);
	preempt_enable();
}

TEST(chan, select_stale_waiter_skipped)
{
	static struct stale_helper h;
	h = (struct stale_helper){ .selector = task_self(),
				   .a = chan_make(sizeof(int), 0),
				   .b = chan_make(sizeof(int), 0) };
	CHECK(h.a && h.b);
	task *t = task_spawn(complete_then_poke, &h, "poker");
	int va = 0, vb = 0;
	select_case cases[] = {
		{ .c = h.a, .dir = SELECT_RECV, .elem = &va },
		{ .c = h.b, .dir = SELECT_RECV, .elem = &vb },
	};
	CHECK_EQ(chan_select(cases, 2, false), 1);
	CHECK_EQ(task_join(t), 0);
	CHECK(h.selector_blocked);
	CHECK(!h.sent_to_a);
	CHECK_EQ(va, 0);
	CHECK_EQ(vb, 1);
	check_valid(h.a);
	check_valid(h.b);
}

/* The same channel in several cases is locked once and works. */
TEST(chan, select_same_channel_twice)
{
	chan *c = chan_make(sizeof(int), 0);
	CHECK(c);
	static struct select_helper h;
	h = (struct select_helper){ .selector = task_self(), .c = c, .value = 3 };
	task *t = task_spawn(wait_then_send, &h, "sender");
	int v1 = 0, v2 = 0;
	select_case cases[] = {
		{ .c = c, .dir = SELECT_RECV, .elem = &v1 },
		{ .c = c, .dir = SELECT_RECV, .elem = &v2 },
	};
	int k = chan_select(cases, 2, false);
	CHECK(k == 0 || k == 1);
	CHECK_EQ(k == 0 ? v1 : v2, 3);
	CHECK_EQ(k == 0 ? v2 : v1, 0);
	CHECK_EQ(task_join(t), 0);
	check_valid(c);
}

struct fan_in {
	chan *in[2];
	chan *quit;
	int count;
	int64_t sum[2];
};

static void fan_producer(void *arg)
{
	struct op *o = arg;
	for (int i = 1; i <= o->count; i++) {
		chan_send(o->c, &i);
		if (i % 7 == 0)
			task_yield();
	}
	chan_close(o->c);
}

/* Two producers (unbuffered and buffered) into one select loop until both
 * are closed (a closed case is then disabled with a NULL channel, the Go
 * idiom); the consumer blocks in select again and again. */
TEST(chan, select_fan_in)
{
	enum { COUNT = 2000 };
	static struct fan_in f;
	static struct op p[2];
	f = (struct fan_in){ .in = { chan_make(sizeof(int), 0), chan_make(sizeof(int), 3) } };
	CHECK(f.in[0] && f.in[1]);
	task *t[2];
	for (int i = 0; i < 2; i++) {
		p[i] = (struct op){ .c = f.in[i], .count = COUNT };
		CHECK((t[i] = task_spawn(fan_producer, &p[i], "producer")));
	}
	int v;
	bool ok;
	select_case cases[] = {
		{ .c = f.in[0], .dir = SELECT_RECV, .elem = &v, .ok = &ok },
		{ .c = f.in[1], .dir = SELECT_RECV, .elem = &v, .ok = &ok },
	};
	int open = 2;
	while (open > 0) {
		int k = chan_select(cases, 2, false);
		CHECK(k == 0 || k == 1);
		if (!ok) {
			cases[k].c = NULL;
			open--;
			continue;
		}
		f.sum[k] += v;
	}
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(task_join(t[i]), 0);
		CHECK_EQ(f.sum[i], (int64_t)COUNT * (COUNT + 1) / 2);
		check_valid(f.in[i]);
	}
}

/* ---- switch reasons -------------------------------------------------- */

static void select_recv_one(void *arg)
{
	struct op *o = arg;
	select_case cs = { .c = o->c, .dir = SELECT_RECV, .elem = &o->value, .ok = &o->ok };
	chan_select(&cs, 1, false);
}

/* One task blocks once in a receive, one in a send, one in a select. */
TEST(chan, switch_reasons_counted)
{
	chan *c = chan_make(sizeof(int), 0);
	CHECK(c);
	static struct op r, s, x;
	r = (struct op){ .c = c };
	s = (struct op){ .c = c, .value = 2 };
	x = (struct op){ .c = c };
	int v = 1;
	task *tr = task_spawn(recv_one, &r, "s-recv");
	yield_until_blocked(tr);
	chan_send(c, &v);
	task *ts = task_spawn(send_one, &s, "s-send");
	yield_until_blocked(ts);
	int got = 0;
	CHECK(chan_recv(c, &got));
	task *tx = task_spawn(select_recv_one, &x, "s-select");
	yield_until_blocked(tx);
	v = 3;
	chan_send(c, &v);

	struct { task *t; switch_reason r; } want[] = {
		{ tr, SWITCH_CHAN_RECV }, { ts, SWITCH_CHAN_SEND }, { tx, SWITCH_SELECT },
	};
	const switch_reason reasons[] = { SWITCH_CHAN_RECV, SWITCH_CHAN_SEND, SWITCH_SELECT,
					  SWITCH_YIELD, SWITCH_MUTEX, SWITCH_SLEEP };
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		check_switched_once_for(want[i].t, want[i].r, reasons, ARRAY_SIZE(reasons));
	CHECK_EQ(r.value, 1);
	CHECK_EQ(got, 2);
	CHECK_EQ(x.value, 3);
	CHECK(x.ok);
	check_valid(c);
}
