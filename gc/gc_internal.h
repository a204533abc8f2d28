/*
 * gc/gc_internal.h - what the files of gc/ share: the collector's state,
 * the grey work queue, marking and scanning, roots, the pacer, finalizers
 * and checkmark. Only gc/ includes it. The overview is at the top of
 * gc/gc.c.
 *
 * Locking: one CPU. The collector's own structures are touched with
 * interrupts off (work queue, finalizer table) or by the one task that runs
 * a phase (the worker, under preempt_disable while it scans a stack, or the
 * world-stopping task). Its locks, gc_lock and fin_lock, have their place
 * in the lock order in the lock-rank table of arch/arch.h.
 */
#pragma once

#include "gc/gc.h"
#include "lib/lib.h"
#include "sched/sched.h"

/* ---- state (gc.c) ------------------------------------------------------ */
typedef struct gc_state {
	volatile gc_phase phase;
	volatile bool barrier_on;  /* the write barrier shades */
	uint64_t cycle;            /* number of the cycle running or last run */
	/* root jobs of the running cycle */
	bool globals_scanned;
	bool finalizer_roots_scanned;
	bool all_stacks_scanned;
	/* pacing, in bytes */
	uint64_t heap_live;        /* marked at the last termination */
	uint64_t heap_goal, heap_trigger;
	uint64_t alloc_since_mark; /* allocated through gc_alloc since then */
	uint64_t alloc_black_bytes; /* of which during this cycle's marking */
	uint64_t marked_bytes;     /* this cycle's marked object bytes */
	uint64_t scan_work;        /* this cycle's scanned bytes */
	uint64_t assist_ratio_x16; /* scan bytes owed per allocated byte, x16 */
	/* checkmark pass in progress: mark() records parents */
	bool checkmarking;
	/* a test drives this cycle step by step (gc_test_*): the worker and
	 * assists stay out of it */
	bool test_held;
} gc_state;

extern gc_state gc;
extern bool gc_opt_checkmark;

/* ---- marking (mark.c) --------------------------------------------------- */
/* Greys p's object if p points into an allocated, unmarked slot (interior
 * pointers allowed; anything else is ignored). `parent` is for checkmark's
 * path: the object or root slot the pointer was found in. */
void gc_mark_ptr(uintptr_t p, uintptr_t parent);
/* Scans the root range [lo, hi) word by word, each word a possible
 * pointer (stacks, globals, runtime roots): gc_range_for_each_word. */
void gc_scan_conservative(uintptr_t lo, uintptr_t hi);
/* Scans one object's pointer words by its type (a conservative one word by
 * word): gc_object_for_each_pointer. */
void gc_scan_object(uintptr_t obj);
/* Scans grey objects until the queue is empty or `budget` bytes were
 * scanned; returns the bytes scanned. */
uint64_t gc_drain(uint64_t budget);
bool gc_work_empty(void);
uint64_t gc_work_count(void); /* grey objects queued */
void gc_work_init(void);

/* ---- roots (roots.c) ---------------------------------------------------- */
/* The root set (gc_root, gc_roots_*) and the marking visitor gc_mark_root
 * are in the inspection section of gc.h: the diagnostics walk them too. */

/* The root jobs of a cycle. */
void gc_scan_globals(void);
/* Scans one task's stack (and start argument); preemption disabled. A
 * running task only inside arch_run_spilled. */
void gc_scan_task(task *t);
/* Scans every stack not yet scanned in generation gen (the cycle number),
 * one task at a time with preemption disabled around each. */
void gc_scan_stacks(uint64_t gen);

/* ---- pacer (pacer.c) ---------------------------------------------------- */
void gc_pacer_init(void);
/* Next trigger and goal from this cycle's live heap. */
void gc_pacer_end_cycle(uint64_t peak);
/* How fast allocation must sweep the `spans` the flip left unswept. */
void gc_pacer_plan_sweep(uint64_t spans);
/* What gc_alloc_hook counted for one allocation. */
typedef struct gc_charge {
	uint64_t cycle;  /* gc.cycle and gc.phase when counted */
	gc_phase phase;
	size_t bytes;
} gc_charge;
/* Called by gc_alloc*: counts the allocation, starts a cycle at the
 * trigger, makes the allocating task assist while marking. Also registers
 * the heap's reclaim hook (gc_pacer_init). */
gc_charge gc_alloc_hook(size_t size);
/* The allocation failed: takes its charge back, so failed requests do not
 * bring the next cycle forward. */
void gc_alloc_uncharge(gc_charge charge);
extern int64_t gc_opt_gogc;
extern int64_t gc_opt_memlimit;

/* ---- cycle (gc.c) ------------------------------------------------------- */
/* Starts a cycle if none is running (mark setup, STW). */
void gc_start(const char *why);
/* Blocks the caller until the running cycle ends ("GC assist wait"). */
void gc_wait_for_cycle_end(void);
/* Accounts scan work an allocating task did as an assist. */
void gc_note_assist(uint64_t bytes, uint64_t ns);
/* gc_collect() may run on the calling task: the collector is up, no test
 * holds a cycle, and the task is none of the collector's own (mark worker,
 * sweeper, finalizer task). */
bool gc_collect_allowed(void);

/* ---- finalizers (finalizer.c) ------------------------------------------- */
void gc_finalizer_init(void);
/* Mark phase: marks what finalizable objects reach (not the objects). */
void gc_finalizer_scan_roots(void);
/* Mark termination: unmarked finalizable objects are resurrected (marked)
 * and queued for the finalizer task. */
void gc_finalizer_collect(void);
uint64_t gc_finalizers_run_count(void);
/* t is the finalizer task. */
bool gc_finalizer_is_task(const task *t);

/* ---- checkmark (checkmark.c) -------------------------------------------- */
/* World stopped, after the concurrent mark: re-marks from scratch and
 * returns how many objects are reachable but were left white (the first is
 * reported with its path); mark termination panics if any. */
size_t gc_checkmark_verify(void);
/* Checkmark's parent table: records how obj was reached. */
void gc_checkmark_record(uintptr_t obj, uintptr_t parent);
