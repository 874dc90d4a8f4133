package bench

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// CPU is how busy the machine was over a measured window, in percent of one core (a 2-core
// machine runs up to 200%): all processes, and the ones taking part in the benchmark (this
// process, the server, the database). The difference is other work sharing the machine, which
// makes figures noisy; the report shows it so that a disturbed run can be recognised.
type CPU struct {
	Machine, Ours float64
	ok            bool
}

// Others is the CPU other processes used over the window.
func (c CPU) Others() float64 { return max(0, c.Machine-c.Ours) }

// cpuMark is a reading of the kernel's CPU counters (clock ticks).
type cpuMark struct {
	busy, total, ours uint64
	ok                bool
}

func markCPU(pids []int) cpuMark {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuMark{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return cpuMark{}
	}
	var m cpuMark
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 { // guest time is already counted in user time
			break
		}
		m.total += n
		if i != 3 && i != 4 { // idle, iowait
			m.busy += n
		}
	}
	for _, pid := range pids {
		m.ours += procTicks(pid)
	}
	m.ok = true
	return m
}

// procTicks is a process's user + system CPU time, in clock ticks, threads included.
func procTicks(pid int) uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64) // utime, field 14
	k, _ := strconv.ParseUint(f[12], 10, 64) // stime, field 15
	return u + k
}

// cpuBetween turns two marks into percentages of one core.
func cpuBetween(a, b cpuMark, cores int) CPU {
	if !a.ok || !b.ok || b.total <= a.total {
		return CPU{}
	}
	// total ticks cover every core; scale so that one fully busy core is 100%.
	span := float64(b.total-a.total) / float64(cores)
	return CPU{Machine: 100 * float64(b.busy-a.busy) / span, Ours: 100 * float64(b.ours-a.ours) / span, ok: true}
}

// String renders "ours/others" in percent of one core, or "n/a".
func (c CPU) String() string {
	if !c.ok {
		return "n/a"
	}
	return strconv.FormatFloat(c.Ours, 'f', 0, 64) + "/" + strconv.FormatFloat(c.Others(), 'f', 0, 64)
}

// per renders the CPU time the benchmark's own processes spent per item, in milliseconds.
func (c CPU) per(window time.Duration, n int) string {
	if !c.ok || n == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(c.Ours/100*window.Seconds()*1000/float64(n), 'f', 3, 64)
}
