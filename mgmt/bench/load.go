package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/atollcloud/atoll/mgmt/iam"
)

// Target is an API endpoint and the key pair to sign with.
type Target struct {
	Endpoint    string
	Key, Secret string
}

// LoadOptions shape a closed-loop load: Clients workers, each with its own keep-alive
// connection, send Command with Params back to back; only the window after Warmup counts.
type LoadOptions struct {
	Clients  int
	Warmup   time.Duration
	Duration time.Duration
	Command  string
	Params   map[string]string
	// Expect is a fragment every successful answer must contain (e.g. `"count":11`).
	Expect string
	// Pids are the processes taking part (server, database) besides this one, for CPU figures.
	Pids []int
}

// LoadResult is what the measured window saw.
type LoadResult struct {
	Requests   int // answered in the window, successes and errors
	Errors     int
	FirstError string
	Latency    Summary // of the successes answered in the window
	Window     time.Duration
	CPU        CPU // over the window
}

// PerSecond is successful requests per second of the window.
func (r LoadResult) PerSecond() float64 {
	return float64(r.Requests-r.Errors) / r.Window.Seconds()
}

// Load runs the load and returns the figures of the measured window. Each request is freshly
// signed (signatureVersion 3 with expires) like a real client's; latency runs from sending the
// request to reading the last byte of the answer.
func Load(ctx context.Context, t Target, o LoadOptions) LoadResult {
	start := time.Now()
	from := start.Add(o.Warmup)
	end := from.Add(o.Duration)
	type worker struct {
		lat      []time.Duration
		requests int
		errors   int
		firstErr string
	}
	ws := make([]worker, o.Clients)
	var wg sync.WaitGroup
	pids := append([]int{os.Getpid()}, o.Pids...)
	var cpuFrom, cpuTo cpuMark
	wg.Add(1)
	go func() {
		defer wg.Done()
		if sleepUntil(ctx, from) {
			cpuFrom = markCPU(pids)
		}
		if sleepUntil(ctx, end) {
			cpuTo = markCPU(pids)
		}
	}()
	for i := range ws {
		w := &ws[i]
		w.lat = make([]time.Duration, 0, 4096)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true, IdleConnTimeout: time.Minute}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			buf := bytes.NewBuffer(make([]byte, 0, 16<<10))
			expect := []byte(o.Expect)
			for ctx.Err() == nil {
				req, err := t.signedRequest(ctx, o.Command, o.Params)
				if err != nil {
					w.firstErr = err.Error()
					return
				}
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				var fail string
				resp, err := hc.Do(req)
				if err != nil {
					fail = err.Error()
				} else {
					buf.Reset()
					_, err = io.Copy(buf, resp.Body)
					resp.Body.Close()
					switch {
					case err != nil:
						fail = "read answer: " + err.Error()
					case resp.StatusCode != http.StatusOK:
						fail = fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, buf.Bytes())
					case !bytes.Contains(buf.Bytes(), expect):
						fail = fmt.Sprintf("answer lacks %s: %.200s", o.Expect, buf.Bytes())
					}
				}
				t1 := time.Now()
				if t1.Before(from) || !t1.Before(end) {
					continue
				}
				w.requests++
				if fail != "" {
					w.errors++
					if w.firstErr == "" {
						w.firstErr = fail
					}
					continue
				}
				w.lat = append(w.lat, t1.Sub(t0))
			}
		}()
	}
	wg.Wait()
	var r LoadResult
	var all []time.Duration
	for i := range ws {
		r.Requests += ws[i].requests
		r.Errors += ws[i].errors
		if r.FirstError == "" {
			r.FirstError = ws[i].firstErr
		}
		all = append(all, ws[i].lat...)
	}
	r.Latency = Summarize(all)
	r.Window = o.Duration
	r.CPU = cpuBetween(cpuFrom, cpuTo, runtime.NumCPU())
	return r
}

// sleepUntil waits for t and reports false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// signedRequest builds a GET for command signed with the target's key, as cloudmonkey does.
func (t Target) signedRequest(ctx context.Context, command string, params map[string]string) (*http.Request, error) {
	p := make(map[string]string, len(params)+6)
	for k, v := range params {
		p[k] = v
	}
	p["command"], p["response"] = command, "json"
	p["apiKey"] = t.Key
	p["signatureVersion"] = "3"
	p["expires"] = time.Now().Add(10 * time.Minute).UTC().Format("2006-01-02T15:04:05-0700")
	p["signature"] = iam.Sign(p, t.Secret)
	q := make(url.Values, len(p))
	for k, v := range p {
		q[k] = []string{v}
	}
	return http.NewRequestWithContext(ctx, http.MethodGet, t.Endpoint+"?"+q.Encode(), nil)
}
