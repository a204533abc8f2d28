/*
 * diag/profile.c - the task profile (Go's goroutine profile, debug=1):
 * live tasks grouped by identical (state, wait reason, creation site,
 * backtrace), biggest group first; and the task-count trend, task_count()
 * sampled every TASK_TREND_PERIOD_MS into a ring, with its maximum.
 *
 * The profile reads the tasks through sched_for_each_task (sched_lock held,
 * interrupts off) into a fixed table, and prints after the lock is dropped:
 * the snapshot is consistent, and the console never runs with the CPU held.
 * Two tasks land in one group only if every field of the key is equal, so
 * each group has one creation site and one stack to show.
 */
#include "diag/diag.h"
#include "sched/sched.h"


/* ---- task profile ------------------------------------------------------ */
typedef struct profile_walk {
	task_profile_group *groups;
	size_t max, n, ntasks, overflow;
} profile_walk;

static bool profile_same(const task_profile_group *g, const task_info *info,
			 const uintptr_t *pcs, size_t depth)
{
	if (g->state != info->state || g->create_pc != info->create_pc ||
	    g->wait_reason != info->wait_reason || g->depth != depth)
		return false;
	return memcmp(g->pcs, pcs, depth * sizeof(uintptr_t)) == 0;
}

/* sched_lock held: no blocking, no heap, no console. */
static void profile_one(task *t, void *arg)
{
	profile_walk *w = arg;
	task_info info;
	task_get_info_locked(t, &info);
	if (info.state == TASK_DEAD)
		return;
	w->ntasks++;
	uintptr_t pcs[TASK_PROFILE_DEPTH];
	size_t depth = task_backtrace_locked(t, pcs, TASK_PROFILE_DEPTH);
	uint64_t wait_ns = info.state == TASK_BLOCKED ? info.wait_ns : 0;

	for (size_t i = 0; i < w->n; i++) {
		task_profile_group *g = &w->groups[i];
		if (profile_same(g, &info, pcs, depth)) {
			g->count++;
			if (info.id < g->first_id)
				g->first_id = info.id;
			if (wait_ns > g->max_wait_ns)
				g->max_wait_ns = wait_ns;
			return;
		}
	}
	if (w->n == w->max) {
		w->overflow++;
		return;
	}
	task_profile_group *g = &w->groups[w->n++];
	*g = (task_profile_group){
		.count = 1, .state = info.state, .wait_reason = info.wait_reason,
		.create_pc = info.create_pc, .depth = depth, .first_id = info.id,
		.max_wait_ns = wait_ns,
	};
	memcpy(g->pcs, pcs, depth * sizeof(uintptr_t));
}

static bool profile_before(const task_profile_group *a, const task_profile_group *b)
{
	if (a->count != b->count)
		return a->count > b->count;
	return a->first_id < b->first_id;
}

size_t task_profile_collect(task_profile_group *out, size_t max, size_t *ntasks,
			    size_t *overflow)
{
	profile_walk w = { .groups = out, .max = max };
	sched_for_each_task(profile_one, &w);
	/* Insertion sort: a handful of groups. */
	for (size_t i = 1; i < w.n; i++) {
		task_profile_group g = out[i];
		size_t j = i;
		for (; j > 0 && profile_before(&g, &out[j - 1]); j--)
			out[j] = out[j - 1];
		out[j] = g;
	}
	if (ntasks)
		*ntasks = w.ntasks;
	if (overflow)
		*overflow = w.overflow;
	return w.n;
}

/* A return address, printed as the call before it: name+offset. */
static void profile_print_pc(uintptr_t pc)
{
	uintptr_t offset;
	const char *name = arch_symbolize(pc - 1, &offset);
	if (name)
		kprintf("%s+0x%lx", name, (unsigned long)offset + 1);
	else
		kprintf("?");
}

static mutex profile_print_lock = MUTEX_INIT;
static task_profile_group profile_groups[TASK_PROFILE_MAX_GROUPS]; /* guarded by it */

void task_profile_print(void)
{
	mutex_lock(&profile_print_lock);
	size_t ntasks, overflow;
	size_t n = task_profile_collect(profile_groups, ARRAY_SIZE(profile_groups), &ntasks,
					&overflow);
	kprintf("task profile: total %zu (every task not dead, the idle task included: task_count "
		"leaves it out), %zu groups\n", ntasks, n);
	for (size_t i = 0; i < n; i++) {
		const task_profile_group *g = &profile_groups[i];
		kprintf("%zu @", g->count);
		for (size_t k = 0; k < g->depth; k++)
			kprintf(" %p", (void *)g->pcs[k]);
		kprintf("\n# %s", task_state_name(g->state));
		if (g->wait_reason != WAIT_REASON_NONE)
			kprintf(", %s, longest wait %llu ms", wait_reason_name(g->wait_reason),
				(unsigned long long)(g->max_wait_ns / NS_PER_MS));
		kprintf(" (e.g. task %llu)\n", (unsigned long long)g->first_id);
		for (size_t k = 0; k < g->depth; k++) {
			kprintf("#\t%p\t", (void *)g->pcs[k]);
			profile_print_pc(g->pcs[k]);
			kprintf("\n");
		}
		if (g->create_pc) {
			kprintf("# created by ");
			profile_print_pc(g->create_pc);
			kprintf("\n");
		} else {
			kprintf("# created at boot\n");
		}
		kprintf("\n");
	}
	if (overflow)
		kprintf("(%zu more tasks in groups beyond the first %zu)\n", overflow, n);
	mutex_unlock(&profile_print_lock);
}

/* ---- task-count trend ----------------------------------------------------- */
/* guarded by trend_lock */
static spinlock trend_lock = SPINLOCK_INIT("task trend", LOCK_RANK_TREND);
static uint32_t trend_ring[TASK_TREND_SAMPLES];
static size_t trend_next, trend_count;
static uint32_t trend_peak;

/* the sampler; guarded by trend_control */
static mutex trend_control = MUTEX_INIT;
static task *trend_task;
static volatile bool trend_stop_requested;

void task_trend_sample(void)
{
	uint32_t n = (uint32_t)task_count();
	spin_lock(&trend_lock);
	trend_ring[trend_next] = n;
	trend_next = (trend_next + 1) % TASK_TREND_SAMPLES;
	if (trend_count < TASK_TREND_SAMPLES)
		trend_count++;
	if (n > trend_peak)
		trend_peak = n;
	spin_unlock(&trend_lock);
}

void task_trend_reset(void)
{
	spin_lock(&trend_lock);
	trend_next = trend_count = 0;
	trend_peak = 0;
	spin_unlock(&trend_lock);
}

size_t task_trend_read(uint32_t *out, size_t max, uint32_t *peak)
{
	spin_lock(&trend_lock);
	size_t n = MIN(max, trend_count);
	/* the newest n, oldest first */
	size_t start = (trend_next + TASK_TREND_SAMPLES - n) % TASK_TREND_SAMPLES;
	for (size_t i = 0; i < n; i++)
		out[i] = trend_ring[(start + i) % TASK_TREND_SAMPLES];
	if (peak)
		*peak = trend_peak;
	spin_unlock(&trend_lock);
	return n;
}

static void trend_sampler(void *unused)
{
	(void)unused;
	while (!trend_stop_requested) {
		task_trend_sample();
		task_sleep(TASK_TREND_PERIOD_MS * NS_PER_MS);
	}
}

bool task_trend_start(void)
{
	mutex_lock(&trend_control);
	if (!trend_task) {
		trend_stop_requested = false;
		trend_task = task_spawn(trend_sampler, NULL, "task-count sampler");
	}
	bool ok = trend_task != NULL;
	mutex_unlock(&trend_control);
	return ok;
}

void task_trend_stop(void)
{
	mutex_lock(&trend_control);
	if (trend_task) {
		trend_stop_requested = true;
		task_join(trend_task);
		trend_task = NULL;
	}
	mutex_unlock(&trend_control);
}

bool task_trend_running(void)
{
	return trend_task != NULL;
}

#define TREND_CHART_COLUMNS 60
#define TREND_CHART_ROWS 8

static uint32_t trend_buf[TASK_TREND_SAMPLES]; /* guarded by trend_control */

void task_trend_print(void)
{
	mutex_lock(&trend_control);
	uint32_t peak;
	size_t n = task_trend_read(trend_buf, TASK_TREND_SAMPLES, &peak);
	bool running = trend_task != NULL;
	kprintf("task count: now %zu, max %u over %zu samples every %d ms%s\n", task_count(),
		peak, n, TASK_TREND_PERIOD_MS,
		running ? "" : " (sampler not running)");
	if (n == 0) {
		mutex_unlock(&trend_control);
		return;
	}
	/* Each column shows the largest sample of its slice of the ring. */
	size_t columns = MIN(n, (size_t)TREND_CHART_COLUMNS);
	uint32_t col_max[TREND_CHART_COLUMNS];
	uint32_t lo = UINT32_MAX, hi = 0;
	for (size_t c = 0; c < columns; c++) {
		size_t from = c * n / columns, to = (c + 1) * n / columns;
		col_max[c] = 0;
		for (size_t i = from; i < to; i++)
			col_max[c] = MAX(col_max[c], trend_buf[i]);
		lo = MIN(lo, col_max[c]);
		hi = MAX(hi, col_max[c]);
	}
	/* Rows span [base, hi]; base just below the smallest column, so a
	 * flat line still shows as a bar and changes are visible. */
	uint32_t base = lo > 0 ? lo - 1 : 0;
	uint32_t span = hi - base;
	unsigned rows = (unsigned)MIN(span, (uint32_t)TREND_CHART_ROWS);
	for (unsigned row = rows; row >= 1; row--) {
		/* Row r shows the columns that reach base + span * r / rows. */
		uint32_t level = base + (uint32_t)(((uint64_t)span * row + rows - 1) / rows);
		kprintf("%6u |", level);
		for (size_t c = 0; c < columns; c++) {
			uint64_t height = (uint64_t)(col_max[c] - base) * rows;
			kprintf("%c", height >= (uint64_t)span * row ? '#' : ' ');
		}
		kprintf("\n");
	}
	kprintf("%6u +", base);
	for (size_t c = 0; c < columns; c++)
		kprintf("-");
	kprintf("\n        oldest ... newest (%zu samples, %llu s at the sampler's period)\n", n,
		(unsigned long long)(n * TASK_TREND_PERIOD_MS / 1000));
	mutex_unlock(&trend_control);
}
