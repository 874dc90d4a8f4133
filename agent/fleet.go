package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/atollcloud/atoll/hypervisor"
)

// BatchToken is the token of the i-th host (from 0) of a batch issued as tok: the first host
// uses tok itself, host i > 0 uses "tok.i" (createHostToken with hosts=N issues all of them).
func BatchToken(tok string, i int) string {
	if i == 0 || tok == "" {
		return tok
	}
	return tok + "." + strconv.Itoa(i)
}

// FleetConnectSlots is how many agents of a fleet connect (dial, enroll, register) at once,
// unless base.ConnectSlots says otherwise.
const FleetConnectSlots = 64

// RunFleet runs n agents in this process, each with its own connection and identity: agent i
// keeps its state in base.StateDir/host-i, enrolls with BatchToken(base.Token, i), is named
// base.Name-i, and drives newDriver(i). It returns when ctx ends. With n == 1 it runs base as
// is. Scale tests use it with simulated drivers. The agents share FleetConnectSlots: however
// many they are, at most that many set up their connections at a time (all of them share this
// process's CPU; real hosts, each with its own, rush a server harder, and the server's own
// admission control answers that).
func RunFleet(ctx context.Context, base Config, n int, newDriver func(i int) hypervisor.Driver) error {
	if n < 1 {
		return fmt.Errorf("agent: %d hosts: want at least 1", n)
	}
	if n > 1 && base.ConnectSlots == nil {
		base.ConnectSlots = make(chan struct{}, FleetConnectSlots)
	}
	agents := make([]*Agent, n)
	for i := range agents {
		cfg := base
		cfg.Driver = newDriver(i)
		if n > 1 {
			if base.StateDir != "" {
				cfg.StateDir = filepath.Join(base.StateDir, "host-"+strconv.Itoa(i))
			}
			cfg.Token = BatchToken(base.Token, i)
			if base.Name != "" {
				cfg.Name = base.Name + "-" + strconv.Itoa(i)
			}
			if base.Log != nil {
				cfg.Log = base.Log.With("fleet_host", i)
			}
		}
		a, err := New(cfg)
		if err != nil {
			return err
		}
		agents[i] = a
	}
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func() { defer wg.Done(); a.Run(ctx) }()
	}
	wg.Wait()
	return nil
}
