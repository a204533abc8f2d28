/*
 * tests/sched_bench.c - scheduler and channel benchmarks: yield ping-pong
 * between two tasks (ns per switch), unbuffered channel ping-pong (ns per
 * round trip), spawn + join (ns per task), and a stop/start-the-world pair
 * with 10 and with 1,000 other tasks alive (ns per pair). Partner tasks
 * are started before bench_start so their first switch is not timed.
 */
#include "chan/chan.h"
#include "lib/lib.h"
#include "sched/sched.h"

#define BENCH_SWITCH_ROUNDS 20000
#define BENCH_CHAN_ROUNDS 20000
#define BENCH_SPAWN_TASKS 2000
#define BENCH_STW_PAIRS 20000

static void bench_yield_partner(void *arg)
{
	uint64_t rounds = (uint64_t)(uintptr_t)arg;
	for (uint64_t i = 0; i < rounds; i++)
		task_yield();
}

/* Two tasks yielding to each other: every yield is one switch. ops counts
 * switches, two per round. */
BENCH(sched, yield_switch, 2 * BENCH_SWITCH_ROUNDS)
{
	uint64_t rounds = b->ops / 2;
	/* One extra round: the partner's first run happens before the clock. */
	task *t = task_spawn(bench_yield_partner, (void *)(uintptr_t)(rounds + 1), "yield partner");
	if (!t)
		panic("bench: spawn failed: %s", heap_last_error());
	task_yield();
	bench_start(b);
	for (uint64_t i = 0; i < rounds; i++)
		task_yield();
	bench_stop(b);
	task_join(t);
}

struct bench_pingpong {
	chan *ping, *pong;
};

static void bench_echo(void *arg)
{
	struct bench_pingpong *p = arg;
	uint64_t v;
	while (chan_recv(p->ping, &v))
		chan_send(p->pong, &v);
}

/* A value to a partner task and back over two unbuffered channels: two
 * rendezvous and two switches per round trip. */
BENCH(sched, chan_round_trip, BENCH_CHAN_ROUNDS)
{
	static struct bench_pingpong p;
	p.ping = chan_make(sizeof(uint64_t), 0);
	p.pong = chan_make(sizeof(uint64_t), 0);
	if (!p.ping || !p.pong)
		panic("bench: chan_make failed: %s", heap_last_error());
	task *t = task_spawn(bench_echo, &p, "echo");
	if (!t)
		panic("bench: spawn failed: %s", heap_last_error());
	uint64_t v = 0;
	chan_send(p.ping, &v); /* warm: the partner is running */
	chan_recv(p.pong, &v);
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++) {
		chan_send(p.ping, &i);
		chan_recv(p.pong, &v);
	}
	bench_stop(b);
	chan_close(p.ping);
	task_join(t);
	if (v != b->ops - 1)
		panic("bench: echo returned %llu", (unsigned long long)v);
}

static void bench_nothing(void *unused)
{
	(void)unused;
}

/* Spawn a task and join it at once: stack, record, two switches. */
BENCH(sched, spawn_join, BENCH_SPAWN_TASKS)
{
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++) {
		task *t = task_spawn(bench_nothing, NULL, "nothing");
		if (!t)
			panic("bench: spawn failed: %s", heap_last_error());
		task_join(t);
	}
	bench_stop(b);
}

static void bench_park(void *arg)
{
	waitgroup_wait(arg);
}

/* stop_the_world + start_the_world with `alive` blocked tasks around: on
 * one CPU the pause must not depend on how many tasks exist. */
static void bench_stw(bench *b, size_t alive)
{
	static task *parked[1000];
	static waitgroup release;
	waitgroup_init(&release);
	waitgroup_add(&release, 1);
	if (alive > ARRAY_SIZE(parked))
		panic("bench: %zu parked tasks", alive);
	for (size_t i = 0; i < alive; i++)
		if (!(parked[i] = task_spawn(bench_park, &release, "parked")))
			panic("bench: spawn failed: %s", heap_last_error());
	while (task_get_state(parked[alive - 1]) != TASK_BLOCKED)
		task_yield();
	bench_start(b);
	for (uint64_t i = 0; i < b->ops; i++) {
		stop_the_world("bench");
		start_the_world();
	}
	bench_stop(b);
	waitgroup_done(&release);
	for (size_t i = 0; i < alive; i++)
		task_join(parked[i]);
}

BENCH(sched, stw_10_tasks, BENCH_STW_PAIRS) { bench_stw(b, 10); }
BENCH(sched, stw_1000_tasks, BENCH_STW_PAIRS) { bench_stw(b, 1000); }

/* ---- timer preemption latency --------------------------------------------- */
/*
 * Two tasks that never yield each keep bumping a counter of their own and
 * stamping it with the cycle counter. When one sees the other's counter has
 * moved since it last looked, the timer preempted it and ran the other in
 * between: the gap from the other's last stamp to now is the preemption
 * latency (interrupt entry, tick handler, scheduler, context switch,
 * interrupt return), give or take one loop iteration. A preempted task
 * resumes mid-iteration, which is why each looks at the other's counter and
 * not at a shared "owner" word it may overwrite first. The median of
 * PREEMPT_SAMPLES switches is printed as `BENCH sched.preempt_latency`.
 */
#define PREEMPT_SAMPLES 41

static struct {
	volatile uint64_t count[2];
	volatile uint64_t stamp[2];
	volatile int samples;
	volatile bool stop;
	uint64_t gap[PREEMPT_SAMPLES];
} g_preempt;

static void preempt_spinner(void *arg)
{
	int me = (int)(uintptr_t)arg, other = 1 - me;
	uint64_t seen = g_preempt.count[other];
	while (!g_preempt.stop) {
		uint64_t c = g_preempt.count[other];
		if (c != seen) {
			seen = c;
			uint64_t last = g_preempt.stamp[other], now = arch_cycles();
			int n = g_preempt.samples;
			if (last <= now && n < PREEMPT_SAMPLES) {
				g_preempt.gap[n] = now - last;
				g_preempt.samples = n + 1;
			}
			if (g_preempt.samples >= PREEMPT_SAMPLES)
				g_preempt.stop = true;
		}
		g_preempt.stamp[me] = arch_cycles();
		g_preempt.count[me]++;
	}
}

BENCH(sched, preempt_latency, 1)
{
	memset(&g_preempt, 0, sizeof(g_preempt));
	bench_start(b);
	task *a = task_spawn(preempt_spinner, (void *)0, "spin-a");
	task *c = task_spawn(preempt_spinner, (void *)1, "spin-b");
	if (!a || !c)
		panic("bench: cannot spawn the spinners");
	/* Bounded: PREEMPT_SAMPLES quanta take about half a second; should
	 * preemption stall, report how many samples there were. */
	for (int waited = 0; !g_preempt.stop && waited < 1000; waited += 10)
		task_sleep(10 * 1000 * 1000);
	g_preempt.stop = true;
	task_join(a);
	task_join(c);
	bench_stop(b);
	int n = g_preempt.samples;
	if (n == 0) {
		kprintf("BENCH sched.preempt_latency 0 ns n=0 (no preemption seen)\n");
		return;
	}
	/* median by insertion sort */
	uint64_t *g = g_preempt.gap;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && g[j - 1] > g[j]; j--) {
			uint64_t t = g[j];
			g[j] = g[j - 1];
			g[j - 1] = t;
		}
	uint64_t hz = arch_cycles_per_sec();
	kprintf("BENCH sched.preempt_latency %llu ns min=%llu max=%llu n=%d\n",
		(unsigned long long)(g[n / 2] * 1000000000ULL / hz),
		(unsigned long long)(g[0] * 1000000000ULL / hz),
		(unsigned long long)(g[n - 1] * 1000000000ULL / hz), n);
}
