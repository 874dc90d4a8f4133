package bench

import (
	"fmt"
	"slices"
	"time"
)

// Summary is a latency distribution.
type Summary struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// Summarize sorts samples in place and returns their nearest-rank percentiles.
func Summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	return Summary{N: len(samples), P50: rank(samples, 50), P90: rank(samples, 90), P99: rank(samples, 99), Max: samples[len(samples)-1]}
}

// rank is the nearest-rank percentile of sorted samples: the smallest sample with at least p%
// of the samples at or below it.
func rank(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

// ms formats a duration in milliseconds with two decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}
