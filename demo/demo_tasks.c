/*
 * demo/demo_tasks.c - the task demos: `taskleak` (tasks blocked forever,
 * seen in the count, the profile and the leak detector, then the fixed
 * version with cancellation) and `switches` (one scenario per reason a task
 * gives up the CPU, with the counters). See demo/demo.c for the registry.
 */
#include "chan/chan.h"
#include "demo/demo.h"
#include "diag/diag.h"
#include "gc/gc.h"


/* ---- taskleak ----------------------------------------------------------- */

#define LEAK_TASKS 20 /* planted; they stay blocked for good, keep it small */
#define LEAK_BATCH 5

/* A request handler that waits for a reply on a channel only it knows and
 * nobody will ever send to. */
static void wait_for_reply(void *unused)
{
	(void)unused;
	chan *reply = chan_make(sizeof(int), 0);
	int v;
	chan_recv(reply, &v);
}

/* A read that never completes: the "device" channel stands for I/O whose
 * completion never comes, and nothing else references it. */
static void read_device(void *unused)
{
	(void)unused;
	chan *device = chan_make(sizeof(uint64_t), 0);
	uint64_t block;
	chan_recv(device, &block);
}

/* The fixed handler: waits for the reply or for its parent's done channel
 * (a context), whichever comes first. */
static void wait_for_reply_or_done(void *done)
{
	chan *reply = chan_make(sizeof(int), 0);
	int v;
	select_case cases[2] = {
		{ .c = reply, .dir = SELECT_RECV, .elem = &v },
		{ .c = done, .dir = SELECT_RECV, .elem = NULL },
	};
	chan_select(cases, 2, false);
}

static uint64_t g_leak_found_ids[256];

/* Clears dead frames below the caller: stacks are scanned conservatively,
 * and a stale word there would make the detector count a channel live. */
static __attribute__((noinline)) void scrub_stack(void)
{
	volatile char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0;
}

int demo_taskleak(void)
{
	task *leaked[LEAK_TASKS];
	size_t before = task_count();
	task_trend_reset();
	task_trend_sample();

	kprintf("leaky: %d handlers waiting for a reply nobody sends, %d reads that never complete\n",
		LEAK_TASKS / 2, LEAK_TASKS / 2);
	for (int i = 0; i < LEAK_TASKS; i++) {
		leaked[i] = task_spawn(i % 2 ? read_device : wait_for_reply, NULL,
				       i % 2 ? "read-device" : "wait-reply");
		if (!leaked[i])
			return 1;
		if ((i + 1) % LEAK_BATCH == 0) {
			for (int k = 0; k <= i; k++)
				demo_wait_blocked(leaked[k]);
			task_trend_sample();
			kprintf("  after %2d requests: %zu tasks\n", i + 1, task_count());
		}
	}
	size_t leaky = task_count();
	uint32_t trend[TASK_TREND_SAMPLES], peak = 0;
	size_t ns = task_trend_read(trend, TASK_TREND_SAMPLES, &peak);
	kprintf("task count: %zu before, %zu after (trend: %zu samples, peak %u)\n", before, leaky,
		ns, peak);
	if (leaky >= before + LEAK_TASKS)
		kprintf("  => +%zu: every planted task is still there, blocked for good\n",
			leaky - before);
	kprintf("the task profile: the biggest groups are the repeated stacks\n");
	task_profile_print();
	kprintf("the leak detector:\n");
	scrub_stack();
	size_t n = leaks_find(g_leak_found_ids, ARRAY_SIZE(g_leak_found_ids), true);
	size_t ours = 0;
	for (size_t i = 0; i < n && i < ARRAY_SIZE(g_leak_found_ids); i++)
		for (int k = 0; k < LEAK_TASKS; k++)
			if (g_leak_found_ids[i] == task_id(leaked[k]))
				ours++;
	kprintf("  %zu leaked tasks reported, %zu of the %d planted ones (left blocked)\n", n, ours,
		LEAK_TASKS);
	if (ours < LEAK_TASKS)
		kprintf("  => %zu planted ones not reported: a stale word on some stack still "
			"points to their\n     channel, so the detector counts them as reachable (it "
			"reports no false positives)\n", LEAK_TASKS - ours);
	for (int i = 0; i < LEAK_TASKS; i++)
		task_detach(leaked[i]);

	kprintf("fixed: each handler also selects on the parent's done channel, closed when the\n"
		"parent gives up (a context's cancel)\n");
	chan *done = chan_make(0, 0);
	task *fixed[LEAK_TASKS];
	size_t fixed_before = task_count();
	if (!done)
		return 1;
	for (int i = 0; i < LEAK_TASKS; i++) {
		fixed[i] = task_spawn(wait_for_reply_or_done, done, "wait-reply-ctx");
		if (!fixed[i])
			return 1;
	}
	for (int i = 0; i < LEAK_TASKS; i++)
		demo_wait_blocked(fixed[i]);
	kprintf("  %d handlers waiting: %zu tasks; the parent cancels\n", LEAK_TASKS, task_count());
	chan_close(done);
	for (int i = 0; i < LEAK_TASKS; i++)
		task_join(fixed[i]);
	size_t fixed_after = task_count();
	kprintf("  after cancel: %zu tasks (was %zu before the requests)\n", fixed_after,
		fixed_before);
	if (fixed_after <= fixed_before)
		kprintf("  => flat: every handler ended when the parent cancelled\n");

	demo_last.taskleak.planted = LEAK_TASKS;
	demo_last.taskleak.leaks_found = ours;
	demo_last.taskleak.count_before = before;
	demo_last.taskleak.count_leaky = leaky;
	demo_last.taskleak.count_fixed = fixed_after - MIN(fixed_after, fixed_before);
	demo_last.taskleak.trend_peak = peak;
	/* The detector reports no false positives: a channel that a stale
	 * word on some stack still points to (stacks are scanned
	 * conservatively) counts as reachable, so a few planted tasks may go
	 * unreported; most must be found. */
	return ours >= LEAK_TASKS / 2 && fixed_after <= fixed_before ? 0 : 1;
}

/* ---- switches ------------------------------------------------------------ */

typedef struct switch_scene {
	semaphore io_done; /* released by the "driver" when the I/O completes */
	mutex m;
	cond c;
	waitgroup wg;
	chan *ch, *ch2;
	volatile bool flag;
	volatile bool spin_stop;
} switch_scene;

static void scene_recv(void *arg)
{
	switch_scene *s = arg;
	int v;
	chan_recv(s->ch, &v);
}
static void scene_lock(void *arg)
{
	switch_scene *s = arg;
	mutex_lock(&s->m);
	mutex_unlock(&s->m);
}
static void scene_wg(void *arg)
{
	switch_scene *s = arg;
	waitgroup_wait(&s->wg);
}
static void scene_cond(void *arg)
{
	switch_scene *s = arg;
	mutex_lock(&s->m);
	while (!s->flag)
		cond_wait(&s->c);
	mutex_unlock(&s->m);
}
static void scene_select(void *arg)
{
	switch_scene *s = arg;
	int a, b;
	select_case cases[2] = {
		{ .c = s->ch, .dir = SELECT_RECV, .elem = &a },
		{ .c = s->ch2, .dir = SELECT_RECV, .elem = &b },
	};
	chan_select(cases, 2, false);
}
/* A read that waits for its device: the driver's completion (an interrupt
 * handler's work, done by main here) releases the semaphore. */
static void scene_io(void *arg)
{
	switch_scene *s = arg;
	semaphore_acquire(&s->io_done);
}
static void scene_sleep(void *unused)
{
	(void)unused;
	task_sleep(2 * 1000 * 1000);
}
static void scene_yield(void *unused)
{
	(void)unused;
	for (int i = 0; i < 5; i++)
		task_yield();
}
/* Computes without giving up the CPU: only the timer takes it away. */
static void scene_spin(void *arg)
{
	switch_scene *s = arg;
	while (!s->spin_stop)
		arch_cpu_relax();
}

/* Runs fn as a task, lets it block, then `release` wakes it; returns the
 * task's own switch count for `why`. */
static uint64_t scene_run(void (*fn)(void *), switch_scene *s, switch_reason why,
			  void (*release)(switch_scene *))
{
	task *t = task_spawn(fn, s, "scene");
	if (!t)
		return 0;
	demo_wait_blocked(t);
	if (release)
		release(s);
	/* a dead task's record keeps its counters until it is joined */
	while (task_get_state(t) != TASK_DEAD)
		task_sleep(1000000);
	task_info info;
	task_get_info(t, &info);
	task_join(t);
	return info.switches[why];
}

static void release_send(switch_scene *s)
{
	int v = 1;
	chan_send(s->ch, &v);
}
static void release_unlock(switch_scene *s)
{
	mutex_unlock(&s->m);
}
static void release_wg(switch_scene *s)
{
	waitgroup_done(&s->wg);
}
static void release_cond(switch_scene *s)
{
	mutex_lock(&s->m);
	s->flag = true;
	cond_signal(&s->c);
	mutex_unlock(&s->m);
}
static void release_io(switch_scene *s)
{
	semaphore_release(&s->io_done);
}
static void release_send2(switch_scene *s)
{
	int v = 2;
	chan_send(s->ch2, &v);
}

int demo_switches(void)
{
	static const struct {
		switch_reason why;
		const char *scene;
	} scenes[] = {
		{ SWITCH_CHAN_RECV, "receive on a channel until main sends" },
		{ SWITCH_MUTEX, "lock a mutex main holds" },
		{ SWITCH_WAITGROUP, "wait for a waitgroup main completes" },
		{ SWITCH_COND, "wait on a cond until main signals" },
		{ SWITCH_SELECT, "select on two channels until main sends on one" },
		{ SWITCH_SEMAPHORE, "wait for I/O completion (main plays the driver)" },
		{ SWITCH_SLEEP, "sleep 2 ms (a timed wait)" },
		{ SWITCH_YIELD, "yield 5 times" },
		{ SWITCH_PREEMPTED, "compute 50 ms next to another busy task" },
	};
	switch_scene *s = gc_alloc_conservative(sizeof(switch_scene));
	if (!s)
		return 1;
	semaphore_init(&s->io_done, 0);
	mutex_init(&s->m);
	cond_init(&s->c, &s->m);
	waitgroup_init(&s->wg);
	s->ch = chan_make(sizeof(int), 0);
	s->ch2 = chan_make(sizeof(int), 0);
	if (!s->ch || !s->ch2)
		return 1;
	uint64_t global0[SWITCH_REASON_COUNT], global1[SWITCH_REASON_COUNT];
	sched_switch_counts(global0);
	uint64_t *counts = demo_last.switches.counts;
	memset(counts, 0, sizeof(demo_last.switches.counts));

	counts[SWITCH_CHAN_RECV] = scene_run(scene_recv, s, SWITCH_CHAN_RECV, release_send);
	mutex_lock(&s->m);
	counts[SWITCH_MUTEX] = scene_run(scene_lock, s, SWITCH_MUTEX, release_unlock);
	waitgroup_add(&s->wg, 1);
	counts[SWITCH_WAITGROUP] = scene_run(scene_wg, s, SWITCH_WAITGROUP, release_wg);
	counts[SWITCH_COND] = scene_run(scene_cond, s, SWITCH_COND, release_cond);
	counts[SWITCH_SELECT] = scene_run(scene_select, s, SWITCH_SELECT, release_send2);
	counts[SWITCH_SEMAPHORE] = scene_run(scene_io, s, SWITCH_SEMAPHORE, release_io);
	counts[SWITCH_SLEEP] = scene_run(scene_sleep, s, SWITCH_SLEEP, NULL);

	/* yield: two tasks taking turns */
	task *y1 = task_spawn(scene_yield, s, "yield1"), *y2 = task_spawn(scene_yield, s, "yield2");
	if (!y1 || !y2)
		return 1;
	task_info i1, i2;
	while (task_get_state(y1) != TASK_DEAD || task_get_state(y2) != TASK_DEAD)
		task_sleep(1000000);
	task_get_info(y1, &i1);
	task_get_info(y2, &i2);
	task_join(y1);
	task_join(y2);
	counts[SWITCH_YIELD] = i1.switches[SWITCH_YIELD] + i2.switches[SWITCH_YIELD];

	/* preemption: two tasks that never give up the CPU on their own */
	s->spin_stop = false;
	task *p1 = task_spawn(scene_spin, s, "spin1"), *p2 = task_spawn(scene_spin, s, "spin2");
	if (!p1 || !p2)
		return 1;
	task_sleep(50 * 1000 * 1000);
	s->spin_stop = true;
	while (task_get_state(p1) != TASK_DEAD || task_get_state(p2) != TASK_DEAD)
		task_sleep(1000000);
	task_get_info(p1, &i1);
	task_get_info(p2, &i2);
	task_join(p1);
	task_join(p2);
	counts[SWITCH_PREEMPTED] = i1.switches[SWITCH_PREEMPTED] + i2.switches[SWITCH_PREEMPTED];

	sched_switch_counts(global1);
	kprintf("  %-18s %-50s %8s %8s\n", "reason", "scenario", "task", "all");
	bool all = true;
	for (size_t i = 0; i < ARRAY_SIZE(scenes); i++) {
		switch_reason r = scenes[i].why;
		kprintf("  %-18s %-50s %8llu %8llu\n", switch_reason_name(r), scenes[i].scene,
			(unsigned long long)counts[r], (unsigned long long)(global1[r] - global0[r]));
		if (counts[r] == 0)
			all = false;
	}
	kprintf("  (task: the scenario task's own counter; all: every task during the demo,\n"
		"   including main's joins and sleeps; the collector's own waits count as\n"
		"   '%s', not in these rows)\n", switch_reason_name(SWITCH_GC));
	kprintf("Go also switches when a goroutine makes a blocking system call (its thread "
		"blocks in\nthe kernel and the P moves on). This kernel has no user mode and no "
		"system calls: a\ntask waiting for a device blocks on a semaphore (or a channel) "
		"that the driver signals\nwhen the I/O completes, so 'semaphore' above is what "
		"stands in for it.\n");
	return all ? 0 : 1;
}
