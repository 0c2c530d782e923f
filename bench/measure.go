package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// run is one measured command: its wall time and the peak memory of its
// whole process tree.
type run struct {
	Wall time.Duration
	// TreeRSS is the peak of the summed resident memory of every process in
	// the command's process group (npx, the CLI, go, the app, the jsii node
	// kernel), sampled every sampleEvery; zero for a run timed without the
	// sampler (measureTime, bench.synth).
	TreeRSS int64
	// TreePSS is the same peak with shared pages divided among the processes
	// that share them (Pss in /proc/PID/smaps_rollup): the tree's real
	// footprint, where TreeRSS counts the node binary once per node process.
	TreePSS int64
	// MaxRSS is the peak resident memory of the largest single process, as
	// the kernel reports it for the whole tree of children (what
	// /usr/bin/time -v shows as "Maximum resident set size").
	MaxRSS int64
	Output string
}

const sampleEvery = 20 * time.Millisecond

// measure runs name with args in dir and samples its process group's memory
// until it exits. A non-zero exit is an error that carries the output's tail.
func measure(dir string, env []string, name string, args ...string) (run, error) {
	return execute(dir, env, true, name, args...)
}

// measureTime runs like measure without sampling memory, for a command whose
// memory is not reported. The sampler reads every process's smaps_rollup 50
// times a second, which walks its page tables in the kernel: the test suite,
// hundreds of processes, took 122 to 124 s under it and 83 to 99 s without
// it on a 2-core machine.
func measureTime(dir string, env []string, name string, args ...string) (run, error) {
	return execute(dir, env, false, name, args...)
}

func execute(dir string, env []string, sample bool, name string, args ...string) (run, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return run{}, err
	}
	pgid := cmd.Process.Pid
	var (
		mu   sync.Mutex
		peak int64
		pss  int64
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		if !sample {
			return
		}
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			if rss, p := groupMemory(pgid); rss > 0 {
				mu.Lock()
				peak, pss = max(peak, rss), max(pss, p)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	close(stop)
	<-done
	r := run{Wall: wall, TreeRSS: peak, TreePSS: pss, Output: out.String()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSS = ru.Maxrss * 1024
	}
	if err != nil {
		return r, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out.String(), 40))
	}
	return r, nil
}

var pageSize = int64(os.Getpagesize())

// groupMemory sums the resident memory (RSS, from /proc/PID/stat) and the
// proportional set size (PSS) of the processes in process group pgid.
func groupMemory(pgid int) (rss, pss int64) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if g, pages, ok := parseStat(string(data)); ok && g == pgid {
			rss += pages * pageSize
			pss += readPss(filepath.Join("/proc", e.Name(), "smaps_rollup"))
		}
	}
	return rss, pss
}

func readPss(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Pss:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// parseStat returns the process group and the resident pages from the text
// of /proc/PID/stat. The command name, in parentheses, may hold spaces.
func parseStat(s string) (pgrp int, rssPages int64, ok bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	// After the name: state ppid pgrp session tty_nr tpgid flags minflt
	// cminflt majflt cmajflt utime stime cutime cstime priority nice
	// num_threads itrealvalue starttime vsize rss ...
	if len(f) < 22 {
		return 0, 0, false
	}
	g, err1 := strconv.Atoi(f[2])
	rss, err2 := strconv.ParseInt(f[21], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return g, rss, true
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func minMax(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	lo, hi = xs[0], xs[0]
	for _, x := range xs[1:] {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func mib(b int64) float64 { return float64(b) / (1 << 20) }
