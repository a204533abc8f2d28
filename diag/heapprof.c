/*
 * diag/heapprof.c - the heap profile (Go's runtime.MemProfile): allocations
 * sampled by call site, with total and in-use objects and bytes per site.
 * Owns the sampling countdown, the site table and the table of sampled
 * objects believed still allocated; both tables live in fixalloc memory,
 * which the collector never scans, so a sample never keeps its object alive.
 *
 * Sampling (as Go's mallocgc/profilealloc). Every gc_alloc* subtracts the
 * size from gc_sample_countdown (gc/gc.h), and only when that reaches zero
 * does the collector call heapprof_sample(), the sampler registered by
 * heapprof_init(). The next
 * distance is drawn from an exponential distribution with mean
 * `heapprof_rate=` (so periodic allocation patterns cannot alias with the
 * sampler); rate 1 samples every allocation, 0 none. A sample of size s
 * stands for 1 / (1 - exp(-s / rate)) allocations (the probability that a
 * Poisson process with that mean hits an s-byte allocation), so the
 * estimated columns are unbiased; the raw sample counts are shown as well.
 *
 * Sites. A site is the return address into the caller of gc_alloc*
 * (__builtin_return_address in gc/alloc.c): one site per call instruction.
 * Allocations made inside runtime helpers (chan_make, ...) are attributed
 * to the helper's call of gc_alloc, not to the helper's caller.
 *
 * In use, and its approximation. A sampled object is recorded as
 * {address, span class, slot type}. The collector frees objects during
 * sweep without telling anyone, so a record is checked ("pruned") instead:
 * it is dropped as freed when its address is no longer the base of an
 * allocated object (heap_lookup), or the slot there now has another span
 * class or type (it was freed and reused by something else), or a newer
 * sample lands on the same address (freed and reused). Pruning runs on each
 * read of the profile, on the first sample after a new cycle began, and
 * then on samples at most once per HP_PRUNE_INTERVAL_NS until that cycle's
 * sweep is over (or while the record table is full). What it cannot see:
 * a sampled object freed by the sweep and its slot reused by an unsampled
 * allocation of the same span class and type before the next prune; that
 * record then counts as in use until the new occupant dies or is
 * replaced. Also, an object dead but not yet swept
 * still counts (Go reports in-use as of the last completed cycle; here it
 * is as of the last sweep of its span). After gc_collect(), which finishes
 * the sweep, a read is exact up to that reuse case.
 *
 * Locking: hp_lock (a spinlock: interrupts off) guards everything here but
 * the countdown; under it only fixalloc takes the heap's own locks
 * (LOCK_RANK_HEAPPROF in arch/arch.h's lock order).
 */
#include "diag/diag.h"

#define HP_MAX_SITES 512          /* power of two: open addressing */
#define HP_BUCKETS 4096           /* power of two: record hash buckets */
#define HP_MAX_RECORDS (64 * 1024) /* sampled objects tracked at most */
#define HP_RATE_MAX (1LL << 30)
#define Q16 (1ULL << 16)

static int64_t heapprof_opt_rate = HEAPPROF_DEFAULT_RATE;
CMDLINE_INT(heapprof_opt_rate, "heapprof_rate", 0, HP_RATE_MAX,
	    "heap profile: sample one allocation per N bytes on average (0 off, 1 all)");


typedef struct hp_site {
	uintptr_t pc;
	bool used;
	uint64_t alloc_samples, alloc_sample_bytes;
	uint64_t inuse_samples, inuse_sample_bytes;
	uint64_t alloc_objects_q16, alloc_bytes_q16;
	uint64_t inuse_objects_q16, inuse_bytes_q16;
} hp_site;

/* A sampled object believed allocated. */
typedef struct hp_record {
	struct hp_record *next; /* hash chain */
	uintptr_t addr;
	const gc_type *type;    /* the slot's type when sampled (NULL: noscan) */
	size_t slot_size;       /* 0 for tiny sub-objects (their size changes) */
	size_t size;            /* requested bytes */
	uint64_t scale_q16;     /* allocations this sample stands for */
	hp_site *site;
	spanclass_t spanclass;
} hp_record;

/* guarded by hp_lock */
static spinlock hp_lock = SPINLOCK_INIT("heapprof", LOCK_RANK_HEAPPROF);
static bool hp_ready, hp_broken;
static fixalloc hp_record_alloc;
static hp_record **hp_buckets;
static hp_site *hp_sites;     /* HP_MAX_SITES entries */
static hp_site hp_other;      /* sites that did not fit */
static size_t hp_nsites, hp_nrecords;
static uint64_t hp_untracked; /* samples not tracked for in-use: table full */
static uint64_t hp_pruned_cycle; /* gc_cycle() at the last prune */
static bool hp_pruned_swept = true; /* ... and the sweep was over then */
static uint64_t hp_pruned_ns;     /* arch_nanotime() then */

/* While a sweep runs, samples prune at most this often: a prune walks
 * every record, and at heapprof_rate=1 every allocation samples. */
#define HP_PRUNE_INTERVAL_NS (1000 * 1000ULL)

/* ---- fixed-point math ---------------------------------------------------- */
/* log2(x) for x >= 1, 16.16: the integer part from the top bit, then the
 * fraction bit by bit (square the mantissa; >= 2 means the next bit is 1). */
static uint64_t log2_q16(uint64_t x)
{
	unsigned ilog = 63 - (unsigned)__builtin_clzll(x);
	uint64_t m = ilog >= 31 ? x >> (ilog - 31) : x << (31 - ilog); /* [1,2) Q31 */
	uint64_t frac = 0;
	for (int i = 0; i < 16; i++) {
		m = (m * m) >> 31;
		frac <<= 1;
		if (m >= (1ULL << 32)) {
			frac |= 1;
			m >>= 1;
		}
	}
	return (uint64_t)ilog << 16 | frac;
}

#define LOG2E_Q16 94548 /* log2(e) */
#define LN2_Q16 45426   /* ln(2) */

/* 2^(-2^-i) in 0.32, i = 1..16 */
static const uint64_t exp2_neg_pow2[16] = {
	0xb504f334ULL, 0xd744fccbULL, 0xeac0c6e8ULL, 0xf5257d15ULL,
	0xfa83b2dbULL, 0xfd3e0c0dULL, 0xfe9e115cULL, 0xff4ecb59ULL,
	0xffa75652ULL, 0xffd3a752ULL, 0xffe9d2b3ULL, 0xfff4e91cULL,
	0xfffa747fULL, 0xfffd3a3bULL, 0xfffe9d1dULL, 0xffff4e8eULL,
};

uint64_t heapprof_scale_q16(uint64_t size, uint64_t rate)
{
	if (rate <= 1 || size == 0)
		return Q16;
	if (size >= 16 * rate)
		return Q16; /* exp(-16) < 2^-23: below the precision */
	uint64_t x_q30 = (size << 30) / rate; /* size < 2^34 here */
	if (x_q30 < (1ULL << 29)) {
		/* x < 1/2: 1/(1-e^-x) = 1/x + 1/2 + x/12 - x^3/720 ... */
		return (rate << 16) / size + Q16 / 2 + (size << 16) / (12 * rate);
	}
	/* e^-x = 2^-(x log2 e): shift by the integer part, multiply the
	 * fraction's bits out of the table. */
	uint64_t y_q30 = (x_q30 * LOG2E_Q16) >> 16;
	unsigned whole = (unsigned)(y_q30 >> 30);
	uint64_t e_q32 = 1ULL << 32;
	for (int i = 1; i <= 16; i++)
		if (y_q30 & (1ULL << (30 - i)))
			e_q32 = (e_q32 * exp2_neg_pow2[i - 1]) >> 32;
	e_q32 >>= whole;
	return (1ULL << 48) / ((1ULL << 32) - e_q32);
}

/* Bytes to the next sample: exponential with mean rate (Go: fastexprand). */
static int64_t hp_next_interval(int64_t rate)
{
	if (rate <= 0)
		return INT64_MAX;
	if (rate == 1)
		return 0;
	uint64_t u = (sched_random() >> 32) + 1; /* [1, 2^32] */
	uint64_t minus_log2_q16 = (32ULL << 16) - log2_q16(u);
	return (int64_t)((((uint64_t)rate * minus_log2_q16) >> 16) * LN2_Q16 >> 16);
}

/* ---- tables ---------------------------------------------------------------- */
static bool hp_init_locked(void)
{
	ASSERT_HELD(&hp_lock);
	if (hp_ready || hp_broken)
		return hp_ready;
	hp_buckets = fixalloc_persistent(HP_BUCKETS * sizeof(hp_record *), 64);
	hp_sites = fixalloc_persistent(HP_MAX_SITES * sizeof(hp_site), 64);
	if (!hp_buckets || !hp_sites) {
		hp_broken = true;
		return false;
	}
	fixalloc_init(&hp_record_alloc, "heapprof records", sizeof(hp_record), 8);
	hp_ready = true;
	return true;
}

static size_t hp_hash_pc(uintptr_t pc)
{
	return (size_t)((pc * 0x9E3779B97F4A7C15ULL) >> 40);
}

static size_t hp_hash_addr(uintptr_t addr)
{
	return (size_t)(((addr >> 4) * 0x9E3779B97F4A7C15ULL) >> 52) & (HP_BUCKETS - 1);
}

/* The site for pc, created if new; the "other" bucket once 7/8 full. */
static hp_site *hp_site_get_locked(uintptr_t pc, bool create)
{
	ASSERT_HELD(&hp_lock);
	for (size_t i = hp_hash_pc(pc), n = 0; n < HP_MAX_SITES; i++, n++) {
		hp_site *s = &hp_sites[i & (HP_MAX_SITES - 1)];
		if (s->used && s->pc == pc)
			return s;
		if (!s->used) {
			if (!create)
				return NULL;
			if (hp_nsites >= HP_MAX_SITES / 8 * 7)
				break;
			s->used = true;
			s->pc = pc;
			hp_nsites++;
			return s;
		}
	}
	return create ? &hp_other : NULL;
}

static void hp_record_drop_locked(hp_record **link)
{
	ASSERT_HELD(&hp_lock);
	hp_record *r = *link;
	hp_site *s = r->site;
	s->inuse_samples--;
	s->inuse_sample_bytes -= r->size;
	s->inuse_objects_q16 -= r->scale_q16;
	s->inuse_bytes_q16 -= r->scale_q16 * r->size;
	*link = r->next;
	fixalloc_free(&hp_record_alloc, r);
	hp_nrecords--;
}

static bool hp_record_live(const hp_record *r)
{
	heap_object o;
	if (heap_lookup((const void *)r->addr, &o) != HEAP_OBJECT || o.base != r->addr)
		return false;
	if (o.span->spanclass != r->spanclass || o.type != r->type)
		return false;
	return r->slot_size == 0 || o.size == r->slot_size;
}

/* Drops every record whose object is gone (the approximation at the top). */
static void hp_prune_locked(void)
{
	ASSERT_HELD(&hp_lock);
	hp_pruned_cycle = gc_cycle();
	hp_pruned_swept = heap_sweep_done() && gc_get_phase() == GC_PHASE_OFF;
	hp_pruned_ns = arch_nanotime();
	if (!hp_ready)
		return;
	for (size_t b = 0; b < HP_BUCKETS; b++) {
		hp_record **link = &hp_buckets[b];
		while (*link) {
			if (hp_record_live(*link))
				link = &(*link)->next;
			else
				hp_record_drop_locked(link);
		}
	}
}

/* ---- sampling ---------------------------------------------------------------- */
void heapprof_init(void)
{
	gc_set_sampler(heapprof_sample);
}

void heapprof_sample(void *obj, size_t size, uintptr_t site)
{
	spin_lock(&hp_lock);
	int64_t rate = heapprof_opt_rate;
	gc_sample_countdown = hp_next_interval(rate);
	if (!obj || rate <= 0 || !hp_init_locked()) {
		spin_unlock(&hp_lock);
		return;
	}
	bool table_full = hp_nrecords >= HP_MAX_RECORDS;
	if (gc_cycle() != hp_pruned_cycle ||
	    ((!hp_pruned_swept || table_full) &&
	     arch_nanotime() - hp_pruned_ns >= HP_PRUNE_INTERVAL_NS))
		hp_prune_locked();

	uint64_t scale = heapprof_scale_q16(size, (uint64_t)rate);
	hp_site *s = hp_site_get_locked(site, true);
	s->alloc_samples++;
	s->alloc_sample_bytes += size;
	s->alloc_objects_q16 += scale;
	s->alloc_bytes_q16 += scale * size;

	/* A record at the same address: that object was freed and its slot
	 * reused (by this allocation). */
	uintptr_t addr = (uintptr_t)obj;
	hp_record **link = &hp_buckets[hp_hash_addr(addr)];
	for (hp_record **l = link; *l; l = &(*l)->next) {
		if ((*l)->addr == addr) {
			hp_record_drop_locked(l);
			break;
		}
	}
	heap_object o;
	hp_record *r = NULL;
	if (heap_lookup(obj, &o) == HEAP_OBJECT && hp_nrecords < HP_MAX_RECORDS)
		r = fixalloc_alloc(&hp_record_alloc);
	if (!r) {
		hp_untracked++;
		spin_unlock(&hp_lock);
		return;
	}
	bool tiny = o.span->spanclass == SPANCLASS_TINY;
	*r = (hp_record){
		.next = *link, .addr = addr, .type = o.type,
		.slot_size = tiny ? 0 : o.size, .size = size, .scale_q16 = scale,
		.site = s, .spanclass = o.span->spanclass,
	};
	*link = r;
	hp_nrecords++;
	s->inuse_samples++;
	s->inuse_sample_bytes += size;
	s->inuse_objects_q16 += scale;
	s->inuse_bytes_q16 += scale * size;
	spin_unlock(&hp_lock);
}

int64_t heapprof_set_rate(int64_t rate)
{
	if (rate < 0)
		rate = 0;
	if (rate > HP_RATE_MAX)
		rate = HP_RATE_MAX;
	spin_lock(&hp_lock);
	int64_t old = heapprof_opt_rate;
	heapprof_opt_rate = rate;
	gc_sample_countdown = hp_next_interval(rate);
	spin_unlock(&hp_lock);
	return old;
}

int64_t heapprof_get_rate(void)
{
	return heapprof_opt_rate;
}

void heapprof_reset(void)
{
	spin_lock(&hp_lock);
	if (hp_ready) {
		for (size_t b = 0; b < HP_BUCKETS; b++)
			while (hp_buckets[b])
				hp_record_drop_locked(&hp_buckets[b]);
		memset(hp_sites, 0, HP_MAX_SITES * sizeof(hp_site));
	}
	memset(&hp_other, 0, sizeof hp_other);
	hp_nsites = 0;
	hp_untracked = 0;
	spin_unlock(&hp_lock);
}

/* ---- reading ----------------------------------------------------------------- */
static void hp_export(const hp_site *s, heapprof_site *out)
{
	*out = (heapprof_site){
		.pc = s->pc,
		.alloc_samples = s->alloc_samples,
		.alloc_sample_bytes = s->alloc_sample_bytes,
		.inuse_samples = s->inuse_samples,
		.inuse_sample_bytes = s->inuse_sample_bytes,
		.alloc_objects = s->alloc_objects_q16 >> 16,
		.alloc_bytes = s->alloc_bytes_q16 >> 16,
		.inuse_objects = s->inuse_objects_q16 >> 16,
		.inuse_bytes = s->inuse_bytes_q16 >> 16,
	};
}

/* a ranks before b: more in-use bytes, then more allocated, then lower pc */
static bool hp_before(const heapprof_site *a, const heapprof_site *b)
{
	if (a->inuse_bytes != b->inuse_bytes)
		return a->inuse_bytes > b->inuse_bytes;
	if (a->alloc_bytes != b->alloc_bytes)
		return a->alloc_bytes > b->alloc_bytes;
	return a->pc < b->pc;
}

/* Inserts s into the sorted out[0..*n) of capacity max. */
static void hp_insert_top(heapprof_site *out, size_t *n, size_t max, const hp_site *s)
{
	heapprof_site e;
	hp_export(s, &e);
	size_t i = *n;
	if (i == max) {
		if (max == 0 || !hp_before(&e, &out[max - 1]))
			return;
		i = max - 1;
	} else {
		(*n)++;
	}
	while (i > 0 && hp_before(&e, &out[i - 1])) {
		out[i] = out[i - 1];
		i--;
	}
	out[i] = e;
}

size_t heapprof_read(heapprof_site *out, size_t max)
{
	size_t n = 0;
	spin_lock(&hp_lock);
	hp_prune_locked();
	if (hp_ready)
		for (size_t i = 0; i < HP_MAX_SITES; i++)
			if (hp_sites[i].used)
				hp_insert_top(out, &n, max, &hp_sites[i]);
	if (hp_other.alloc_samples)
		hp_insert_top(out, &n, max, &hp_other);
	spin_unlock(&hp_lock);
	return n;
}

bool heapprof_find_site(uintptr_t pc, heapprof_site *out)
{
	spin_lock(&hp_lock);
	hp_prune_locked();
	hp_site *s = hp_ready ? hp_site_get_locked(pc, false) : NULL;
	if (s)
		hp_export(s, out);
	spin_unlock(&hp_lock);
	return s != NULL;
}

/* "123 KiB" style, exact below 10 KiB */
static void hp_print_bytes(uint64_t b)
{
	if (b < 10 * 1024)
		kprintf("%8llu B  ", (unsigned long long)b);
	else if (b < 10 * 1024 * 1024)
		kprintf("%8llu KiB", (unsigned long long)(b >> 10));
	else
		kprintf("%8llu MiB", (unsigned long long)(b >> 20));
}

static mutex hp_print_lock = MUTEX_INIT;
static heapprof_site hp_print_buf[HEAPPROF_PRINT_MAX];

void heapprof_print(size_t top_n)
{
	if (top_n == 0)
		top_n = 10;
	top_n = MIN(top_n, (size_t)HEAPPROF_PRINT_MAX);
	mutex_lock(&hp_print_lock);
	size_t n = heapprof_read(hp_print_buf, top_n);

	heapprof_site total = { 0 };
	spin_lock(&hp_lock);
	size_t nsites = hp_nsites, records = hp_nrecords;
	uint64_t untracked = hp_untracked;
	hp_site *all[2] = { hp_sites, &hp_other };
	for (int k = 0; k < 2 && hp_ready; k++) {
		size_t count = k == 0 ? HP_MAX_SITES : 1;
		for (size_t i = 0; i < count; i++) {
			heapprof_site e;
			hp_export(&all[k][i], &e);
			total.alloc_samples += e.alloc_samples;
			total.inuse_samples += e.inuse_samples;
			total.alloc_objects += e.alloc_objects;
			total.alloc_bytes += e.alloc_bytes;
			total.inuse_objects += e.inuse_objects;
			total.inuse_bytes += e.inuse_bytes;
		}
	}
	spin_unlock(&hp_lock);

	int64_t rate = heapprof_opt_rate;
	kprintf("heap profile: rate %lld bytes%s, %zu sites, %llu samples (%zu tracked "
		"in use%s)\n",
		(long long)rate, rate == 0 ? " (off)" : rate == 1 ? " (every allocation)" : "",
		nsites, (unsigned long long)total.alloc_samples, records,
		untracked ? ", some untracked: table full" : "");
	kprintf("estimated in use: %llu objects, %llu bytes; allocated: %llu objects, "
		"%llu bytes\n",
		(unsigned long long)total.inuse_objects, (unsigned long long)total.inuse_bytes,
		(unsigned long long)total.alloc_objects, (unsigned long long)total.alloc_bytes);
	if (n == 0) {
		kprintf("no samples%s\n", rate == 0 ? " (heapprof_rate=0)" : "");
		mutex_unlock(&hp_print_lock);
		return;
	}
	kprintf("  in-use objs  in-use bytes  total objs   total bytes  samples  site\n");
	for (size_t i = 0; i < n; i++) {
		const heapprof_site *e = &hp_print_buf[i];
		kprintf("  %11llu  ", (unsigned long long)e->inuse_objects);
		hp_print_bytes(e->inuse_bytes);
		kprintf("  %10llu  ", (unsigned long long)e->alloc_objects);
		hp_print_bytes(e->alloc_bytes);
		kprintf("  %3llu/%-3llu  ", (unsigned long long)e->inuse_samples,
			(unsigned long long)e->alloc_samples);
		uintptr_t off;
		const char *name = e->pc ? arch_symbolize(e->pc - 1, &off) : NULL;
		if (!e->pc)
			kprintf("(other sites: site table full)\n");
		else if (name)
			kprintf("%s+0x%lx\n", name, (unsigned long)off + 1);
		else
			kprintf("%p\n", (void *)e->pc);
	}
	mutex_unlock(&hp_print_lock);
}

uintptr_t heapprof_site_of(const void *obj)
{
	/* The escape checker calls this with the world stopped; hp_lock is
	 * a spinlock, fine there too. */
	uintptr_t pc = 0;
	spin_lock(&hp_lock);
	if (hp_buckets) {
		for (hp_record *r = hp_buckets[hp_hash_addr((uintptr_t)obj)]; r; r = r->next)
			if (r->addr == (uintptr_t)obj && r->site) {
				pc = r->site->pc;
				break;
			}
	}
	spin_unlock(&hp_lock);
	return pc;
}
