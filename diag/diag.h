/*
 * diag/diag.h - what the people who study this kernel look at: the task
 * profile and task-count trend (Go's goroutine profile), the task dump,
 * memstats, the heap profile, the task-leak detector, why-alive paths and
 * the escape checker. Above channels (a task blocked on a channel can be
 * woken by whoever reaches the channel) and the collector (whose roots,
 * object walk and marking the leak detector, why-alive and the escape
 * checker reuse, through the inspection section of gc.h); nothing below
 * calls up here except through the hooks the collector offers (gc.h).
 */
#pragma once

#include "chan/chan.h"
#include "gc/gc.h"
#include "lib/lib.h"
#include "sched/sched.h"

/* Connects the diagnostics to the collector's hooks: the heap profile's
 * sampler, and the escape check at every mark termination when
 * `escapecheck=1`. Called once by kernel_main, after gc_init. */
void diag_init(void);

/* ---- task dump (diag/taskdump.c) -------------------------------------------- */
/* Prints every task: id, name, state, wait reason and for how long,
 * switches, CPU time, stack use, backtrace. */
void tasks_dump(void);

/* ---- task profile (diag/profile.c) ----------------------------------- */
/* Go's goroutine profile (debug=1): live tasks grouped by identical state,
 * wait reason, creation site and backtrace, biggest group first. */
#define TASK_PROFILE_DEPTH 16      /* backtrace frames kept per group */
#define TASK_PROFILE_MAX_GROUPS 64 /* groups printed by task_profile_print */
typedef struct task_profile_group {
	size_t count;            /* tasks in the group */
	task_state state;
	wait_reason wait_reason; /* WAIT_REASON_NONE unless blocked */
	uintptr_t create_pc;     /* caller of task_spawn (0: boot) */
	size_t depth;
	uintptr_t pcs[TASK_PROFILE_DEPTH]; /* innermost first */
	uint64_t first_id;       /* lowest task id in the group */
	uint64_t max_wait_ns;    /* longest a member has been blocked */
} task_profile_group;
/* Snapshot of every live task (dead ones awaiting a join are left out)
 * into at most max groups, sorted by count (ties: lowest first_id). Tasks
 * that fit no group once max groups exist are counted in *overflow (may
 * be NULL); *ntasks (may be NULL) is every task seen. Returns the groups. */
size_t task_profile_collect(task_profile_group *out, size_t max, size_t *ntasks,
			    size_t *overflow);
void task_profile_print(void);

/* ---- task-count trend (diag/profile.c) -------------------------------- */
/* task_count() sampled every TASK_TREND_PERIOD_MS into a ring of
 * TASK_TREND_SAMPLES by a sampler task (runtime.NumGoroutine over time). */
#define TASK_TREND_SAMPLES 600
#define TASK_TREND_PERIOD_MS 100
/* Starts the sampler task if it is not running (the shell does); false if
 * it cannot be spawned. */
bool task_trend_start(void);
/* Stops the sampler and waits for it to end. */
void task_trend_stop(void);
bool task_trend_running(void);
/* Records task_count() now, as the sampler does each period. */
void task_trend_sample(void);
/* Forgets the samples and the maximum. */
void task_trend_reset(void);
/* Copies up to max samples, oldest first; *peak (may be NULL) gets the
 * largest sample since the last reset. Returns how many it copied. */
size_t task_trend_read(uint32_t *out, size_t max, uint32_t *peak);
/* A small text chart of the trend, with its max and the current count. */
void task_trend_print(void);

/* ---- memstats (diag/memstats.c) ----------------------------------------- */
#define MEMSTATS_PAUSES 5 /* most recent pauses reported */
typedef struct memstats {
	uint64_t heap_in_use, heap_live, heap_goal, heap_trigger; /* bytes */
	uint64_t heap_alloc_total, heap_freed_total;              /* bytes, cumulative */
	uint64_t spans_in_use, span_bytes, tail_waste;
	uint64_t heap_pages_in_use, heap_pages_free_committed, heap_pages_free_uncommitted;
	uint64_t frames_free;   /* page source: free 4 KiB frames (arch_free_pages) */
	uint64_t meta_bytes;    /* heap metadata (tables, spans, bitmaps) */
	uint64_t persistent_bytes; /* fixalloc's persistent memory committed */
	uint64_t stacks, stack_bytes; /* task stacks allocated now */
	uint64_t gc_cycles, gc_pause_total_ns, gc_pause_max_ns;
	uint64_t gc_pauses_ns[MEMSTATS_PAUSES]; /* newest first */
	size_t gc_npauses;      /* valid entries of gc_pauses_ns */
	unsigned gc_cpu_permille;
	uint64_t gc_freed_objects, finalizers_run;
	int64_t gogc;
	size_t tasks;           /* live tasks (task_count) */
	uint64_t uptime_ns;
} memstats;
void memstats_read(memstats *out);
/* Prints the `memstats` view. */
void memstats_print(void);

/* ---- heap profile (diag/heapprof.c; overview there) --------------------
 * Go's heap profile.
 * About one allocation every `heapprof_rate=` bytes (default 512 KiB, 0 =
 * off, 1 = every allocation) is sampled with its call site; the profile
 * gives per site the sampled and estimated objects and bytes allocated in
 * total and still in use. */

#define HEAPPROF_DEFAULT_RATE (512 * 1024)

/* Registers the sampler with the collector (gc_set_sampler; diag_init). */
void heapprof_init(void);
/* The sampler: records obj (NULL: nothing recorded) allocated at site (the
 * return address into the caller of gc_alloc*) and draws the next
 * sampling distance into gc_sample_countdown. */
void heapprof_sample(void *obj, size_t size, uintptr_t site);

/* One call site's numbers. samples: allocations actually sampled;
 * objects/bytes: estimates of all allocations there (each sample weighted
 * by 1 / P(an allocation of its size is sampled), as Go scales). In use:
 * sampled objects not yet freed (see the approximation in heapprof.c). */
typedef struct heapprof_site {
	uintptr_t pc; /* return address after the call to gc_alloc*; 0 = the
		       * "other sites" bucket once the site table is full */
	uint64_t alloc_samples, alloc_sample_bytes;
	uint64_t inuse_samples, inuse_sample_bytes;
	uint64_t alloc_objects, alloc_bytes;
	uint64_t inuse_objects, inuse_bytes;
} heapprof_site;

/* Sets the sampling rate in bytes (0 off, 1 every allocation); returns the
 * previous one. The next sample is drawn at the new rate. */
int64_t heapprof_set_rate(int64_t rate);
int64_t heapprof_get_rate(void);
/* Forgets every sample and site (tests, `heapprof reset`). */
void heapprof_reset(void);
/* Drops sampled objects that are no longer allocated, then copies up to
 * max sites into out, most in-use bytes first (then most allocated bytes,
 * then lowest pc). Returns how many it copied. */
size_t heapprof_read(heapprof_site *out, size_t max);
/* The site whose pc is exactly pc, after the same pruning; false if no
 * sample came from there. */
bool heapprof_find_site(uintptr_t pc, heapprof_site *out);
/* Prints the top_n sites (0 = 10, at most HEAPPROF_PRINT_MAX) with their
 * symbolized call site, and the totals. */
#define HEAPPROF_PRINT_MAX 32
void heapprof_print(size_t top_n);
/* 1 / (1 - exp(-size / rate)) in 16.16 fixed point: how many allocations
 * of `size` bytes one sample stands for at `rate` (1.0 when rate <= 1).
 * Exposed for its test. */
uint64_t heapprof_scale_q16(uint64_t size, uint64_t rate);

/* ---- leaks, why-alive, escapes (diag/diag.c) ------------------------------ */
/*
 * The task-leak detector: a marking pass (world stopped, on a quiet heap)
 * whose roots are the globals and the tasks that can run; a blocked task
 * whose wait object (channel, mutex, ...) gets marked becomes a root too,
 * to a fixpoint. Tasks still blocked on unmarked objects can never wake:
 * their ids go to ids[] (up to max_ids) and, with print, they are printed
 * grouped by stack with wait reason and time. Returns how many. Objects it
 * cannot judge count as reachable, so it reports no false positives.
 * Leaked tasks are left as they are.
 */
size_t leaks_find(uint64_t *ids, size_t max_ids, bool print);
/* Finds the leaked tasks as above and reclaims them: each dies (exit status
 * TASK_EXIT_FAULT, a message naming it) and its stack is returned; what it
 * waited on is unreachable and left alone. Returns how many. */
size_t leaks_reclaim(bool print);
/* Prints a shortest path from a root (a global by symbol, a task's stack
 * slot with its frame's function, a runtime root, a finalizer) through
 * typed objects to p's object. The roots are the collector's, except the
 * asking task's own stack: the code that asks holds p, and that is not why
 * p is alive (when nothing else reaches p, whether the asker's stack does
 * is printed, with its path). Returns the number of objects on the path, 0
 * if no such root reaches p (the next cycle frees it once the asker lets
 * go), WHY_NOT_OBJECT if p is not an allocated heap object,
 * WHY_NO_MEMORY if the page source cannot hold the search (one node per
 * allocated object); nothing is kept on any path. */
#define WHY_NOT_OBJECT (-1)
#define WHY_NO_MEMORY (-2)
int why_alive(const void *p);
/* Explains the leak detector's verdict on task id: leaked (returns 0), able
 * to run (0), or blocked on something a task that can run reaches: prints
 * that path and returns its length. WHY_NOT_OBJECT if no such live task,
 * WHY_NO_MEMORY as above. */
int why_task(uint64_t id);
/* The escape checker: heap objects and globals holding pointers into a
 * task's stack (the C form of an escaping local), or into a dead task's
 * old stack (dangling). With print, each is reported with the holder's
 * type and allocation site (heap profile: exact with heapprof_rate=1).
 * Returns how many. escapecheck=1 runs it at every mark termination. */
size_t escape_check(bool print);

/* The allocation site heapprof recorded for obj (0: not sampled). */
uintptr_t heapprof_site_of(const void *obj);
