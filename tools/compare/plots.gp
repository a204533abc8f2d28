# tools/compare/plots.gp - the PNGs of `make plots`, from the .dat files
# tools/compare/compare.py plotdata writes into `dir` (given with -e).
#   pauses.png  STW pause distribution (CDF) of tricolor and Go, same workload
#   heap.png    tricolor's heap in use over time against goal and trigger
#   gccpu.png   tricolor's GC CPU share over time
if (!exists("dir")) dir = "build/plots"
set terminal pngcairo size 1000,600 font "sans,11" noenhanced
set grid
set key bottom right box opaque

# 1. Pauses: the share of pauses at or below x. A log axis: they span
# 0.5 us (below the trace's resolution) to milliseconds.
set output dir."/pauses.png"
set title "Stop-the-world pauses: churn, ~63 MiB reachable, 1000 parked tasks (CDF)"
set xlabel "pause (us, log scale; pauses under the trace's 1 us resolution drawn at 0.5 us)"
set ylabel "share of pauses <= x"
set logscale x
set yrange [0:1.05]
set arrow 1 from 20, graph 0 to 20, graph 1 nohead dashtype 2 lc rgb "gray40"
set arrow 2 from 50, graph 0 to 50, graph 1 nohead dashtype 2 lc rgb "gray20"
set label 1 "p99 target 20 us" at 20, graph 0.97 right rotate by 90 offset -1,0
set label 2 "max target 50 us" at 50, graph 0.97 right rotate by 90 offset 1.5,0
plot dir."/pauses-tricolor.dat" using 1:2 with steps lw 2 title "tricolor (STW1 + STW2)", \
     dir."/pauses-go1.dat" using 1:2 with steps lw 2 title "Go GOMAXPROCS=1", \
     dir."/pauses-go.dat" using 1:2 with steps lw 2 title "Go GOMAXPROCS=default"
unset logscale x
unset arrow 1
unset arrow 2
unset label 1
unset label 2
set yrange [*:*]

# 2. Heap: in use (sampled every 2 ms) against the goal and the trigger the
# pacer set, the live heap each cycle marked, and each cycle's peak.
set output dir."/heap.png"
set title "tricolor heap over time (gogc=100): in use vs goal"
set xlabel "time since the workload started (s)"
set ylabel "MiB"
set yrange [0:*]
plot dir."/heap.dat" using 1:2 with lines lw 1.5 title "in use", \
     dir."/heap.dat" using 1:3 with steps lw 2 title "goal", \
     dir."/heap.dat" using 1:4 with steps lw 1 dashtype 2 title "trigger", \
     dir."/heap.dat" using 1:5 with steps lw 2 title "live (marked last cycle)", \
     dir."/cycles.dat" using 1:3 with points pt 7 ps 0.8 lc rgb "black" title "peak of each cycle (drawn at its start)"
set yrange [*:*]

# 3. GC CPU: worker, assists, sweeper and pauses, as a share of the one CPU.
set output dir."/gccpu.png"
set title "tricolor GC CPU over time (one CPU)"
set xlabel "time since the workload started (s)"
set ylabel "GC CPU (%)"
set yrange [0:100]
plot dir."/gccpu.dat" using 1:2 with lines lw 1.5 title "last 50 ms", \
     dir."/gccpu.dat" using 1:3 with lines lw 2 title "since start", \
     25 with lines dashtype 2 lc rgb "gray40" title "background worker's 25% share"
