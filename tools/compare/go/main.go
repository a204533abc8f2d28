// tools/compare/go/main.go - the Go side of `make compare`: the same
// workloads as tests/compare_bench.c (tricolor) and tools/compare/
// workloads.c (Boehm, malloc), with the same parameters and checksums.
//
//	gowork WORKLOAD key=value ...
//
// Like tricolor's bench framework with bench_repeats=1, each run does the
// workload once untimed if warmup=1 (heap growth, page faults) and then
// once timed, and prints for each round
//
//	CHECK <workload> <checksum>
//
// and for the timed one
//
//	RESULT <workload> <nanoseconds>
//
// The driver (tools/compare/compare.py) checks that every side printed the
// same checksums. The mutator is single-threaded on every side; only the
// runtime's own threads (GC workers with GOMAXPROCS>1) run in parallel.
// GC pauses come from GODEBUG=gctrace=1 on stderr, parsed by the driver.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// ---- binary-trees (the Benchmarks Game workload) ---------------------------

type node struct{ left, right *node }

// bottomUpTree builds the children first, then their parent, as the
// Benchmarks Game programs do.
func bottomUpTree(depth int) *node {
	if depth <= 0 {
		return &node{}
	}
	l := bottomUpTree(depth - 1)
	r := bottomUpTree(depth - 1)
	return &node{l, r}
}

func (n *node) check() uint64 {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

const minDepth = 4

// binaryTrees: a stretch tree of depth max+1, a long-lived tree of depth
// max, then for d = 4, 6, ..., max: 2^(max-d+4) trees of depth d built and
// checked. The checksum is the sum of every check (= nodes visited).
func binaryTrees(p params) uint64 {
	maxDepth := p.get("depth")
	if maxDepth < minDepth+2 {
		maxDepth = minDepth + 2
	}
	sum := bottomUpTree(maxDepth + 1).check()
	longLived := bottomUpTree(maxDepth)
	for d := minDepth; d <= maxDepth; d += 2 {
		iterations := 1 << uint(maxDepth-d+minDepth)
		for i := 0; i < iterations; i++ {
			sum += bottomUpTree(d).check()
		}
	}
	sum += longLived.check()
	return sum
}

// ---- GCBench (Ellis, Kovac, Boehm) ------------------------------------------

type gnode struct {
	left, right *gnode
	i, j        int32
}

// GCBench's constants, scaled by depth= (the stretch tree's depth; the
// original's is 18): long-lived tree and largest temporary trees depth-2,
// smallest temporary trees 4, a 500,000-element pointer-free array. The
// array holds integers, not doubles (tricolor's kernel build has no FPU
// code); for the collector it is the same 4 MB pointer-free object.
const (
	gcbArraySize = 500000
	gcbMinDepth  = 4
)

var gcbNodes uint64 // nodes allocated: part of the checksum

func newGnode(l, r *gnode) *gnode {
	gcbNodes++
	return &gnode{left: l, right: r}
}

func treeSize(d int) int { return (1 << uint(d+1)) - 1 }

// populate builds a tree top-down: the parent first, then its children.
func populate(depth int, n *gnode) {
	if depth <= 0 {
		return
	}
	depth--
	n.left = newGnode(nil, nil)
	n.right = newGnode(nil, nil)
	populate(depth, n.left)
	populate(depth, n.right)
}

// makeTree builds a tree bottom-up: the children first.
func makeTree(depth int) *gnode {
	if depth <= 0 {
		return newGnode(nil, nil)
	}
	l := makeTree(depth - 1)
	r := makeTree(depth - 1)
	return newGnode(l, r)
}

func countTree(n *gnode) uint64 {
	if n == nil {
		return 0
	}
	return 1 + countTree(n.left) + countTree(n.right)
}

var gcbSink *gnode // keeps the temporary trees from being optimised away

// gcBench: a stretch tree, a long-lived tree and array, then for each depth
// d = 4, 6, ..., depth-2 as many trees as make 2 stretch trees' worth of
// nodes, top-down then bottom-up. The checksum: nodes allocated * 1000003
// + nodes in the long-lived tree at the end.
func gcBench(p params) uint64 {
	stretch := p.get("depth")
	longLivedDepth, maxDepth := stretch-2, stretch-2
	gcbNodes = 0
	gcbSink = makeTree(stretch) // stretch the heap
	gcbSink = nil
	longLived := newGnode(nil, nil)
	populate(longLivedDepth, longLived)
	array := make([]uint64, gcbArraySize)
	for i := 0; i < gcbArraySize/2; i++ {
		array[i] = uint64(i)
	}
	for d := gcbMinDepth; d <= maxDepth; d += 2 {
		iters := 2 * treeSize(stretch) / treeSize(d)
		for i := 0; i < iters; i++ { // top-down
			t := newGnode(nil, nil)
			populate(d, t)
			gcbSink = t
		}
		for i := 0; i < iters; i++ { // bottom-up
			gcbSink = makeTree(d)
		}
	}
	gcbSink = nil
	if array[1000] != 1000 {
		fmt.Fprintln(os.Stderr, "gcbench: array[1000] corrupted")
		os.Exit(1)
	}
	return gcbNodes*1000003 + countTree(longLived)
}

// ---- small-object allocation -------------------------------------------------

const allocRing = 256

// allocSmall: n pointer-free objects of `size` bytes; object i holds i in
// its first word and stays live in a ring of 256 slots until object i+256
// replaces it. The checksum sums the first words of the replaced objects.
func allocSmall(p params) uint64 {
	size, n := p.get("size"), p.get("n")
	var ring [allocRing]*uint64
	var sum uint64
	for i := 0; i < n; i++ {
		obj := make([]uint64, size/8)
		obj[0] = uint64(i)
		slot := i % allocRing
		if old := ring[slot]; old != nil {
			sum += *old
		}
		ring[slot] = &obj[0]
	}
	for _, old := range ring {
		if old != nil {
			sum += *old
		}
	}
	return sum
}

// ---- churn: a sliding window of live objects -------------------------------

// churnSize is bench_churn_size (tests/mm_bench.h): 16..512 bytes.
func churnSize(i uint64) int {
	x := (i + 1) * 0x9E3779B97F4A7C15
	x ^= x >> 29
	return 16 + int(x%497)
}

// churn: `live` pointer-free objects of mixed sizes in a window; then n
// times: the oldest is dropped and a new one takes its slot. With tasks>0,
// that many goroutines sit blocked on a channel meanwhile (their stacks
// are roots the collector must scan). The checksum sums the first words
// of the objects dropped and of those left.
func churn(p params) uint64 {
	live, n, tasks := p.get("live"), p.get("n"), p.get("tasks")
	release := make(chan struct{})
	done := make(chan struct{}, tasks+1)
	for t := 0; t < tasks; t++ {
		go func() { <-release; done <- struct{}{} }()
	}
	window := make([]*uint64, live)
	var sum uint64
	for i := 0; i < live; i++ {
		obj := make([]uint64, (churnSize(uint64(i))+7)/8)
		obj[0] = uint64(i)
		window[i] = &obj[0]
	}
	for i := live; i < live+n; i++ {
		slot := i % live
		sum += *window[slot]
		obj := make([]uint64, (churnSize(uint64(i))+7)/8)
		obj[0] = uint64(i)
		window[slot] = &obj[0]
	}
	for _, old := range window {
		sum += *old
	}
	close(release)
	for t := 0; t < tasks; t++ {
		<-done
	}
	return sum
}

// ---- scheduler: yield and channel ping-pong ---------------------------------

// yieldPingPong: two goroutines each call runtime.Gosched n times. With
// GOMAXPROCS=1 every call is one switch to the other; the driver divides
// by 2n. The checksum counts the yields done.
func yieldPingPong(p params) uint64 {
	n := p.get("n")
	done := make(chan uint64)
	go func() {
		var c uint64
		for i := 0; i < n; i++ {
			runtime.Gosched()
			c++
		}
		done <- c
	}()
	var c uint64
	for i := 0; i < n; i++ {
		runtime.Gosched()
		c++
	}
	return c + <-done
}

// chanPingPong: n round trips of a value to an echo goroutine and back over
// two unbuffered channels. The checksum sums the values that came back.
func chanPingPong(p params) uint64 {
	n := p.get("n")
	ping, pong := make(chan uint64), make(chan uint64)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	var sum uint64
	for i := 0; i < n; i++ {
		ping <- uint64(i)
		sum += <-pong
	}
	close(ping)
	return sum
}

// ---- driver -----------------------------------------------------------------

type params map[string]int

func (p params) get(key string) int {
	v, ok := p[key]
	if !ok {
		fmt.Fprintf(os.Stderr, "gowork: missing parameter %s=\n", key)
		os.Exit(2)
	}
	return v
}

var workloads = map[string]func(params) uint64{
	"binary_trees": binaryTrees,
	"gcbench":      gcBench,
	"alloc":        allocSmall,
	"churn":        churn,
	"yield":        yieldPingPong,
	"chan":         chanPingPong,
}

func main() {
	if len(os.Args) < 2 || workloads[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: gowork binary_trees|gcbench|alloc|churn|yield|chan key=value ...")
		os.Exit(2)
	}
	name, fn := os.Args[1], workloads[os.Args[1]]
	p := params{}
	for _, arg := range os.Args[2:] {
		k, v, ok := strings.Cut(arg, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			fmt.Fprintf(os.Stderr, "gowork: bad parameter %q (want key=integer)\n", arg)
			os.Exit(2)
		}
		p[k] = n
	}
	if p.get("warmup") != 0 {
		fmt.Printf("CHECK %s %d\n", name, fn(p)) // untimed warm-up round
	}
	start := time.Now()
	sum := fn(p)
	elapsed := time.Since(start)
	fmt.Printf("CHECK %s %d\n", name, sum)
	fmt.Printf("RESULT %s %d\n", name, elapsed.Nanoseconds())
}
