package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/simulator"
)

// watchingDriver is a Simulator whose lifecycle events the test sends.
type watchingDriver struct {
	*simulator.Driver
	events chan string
}

func (d *watchingDriver) WatchPower(ctx context.Context) <-chan string { return d.events }

// TestAgentReportsAtOnceWhenAVMStops: with a minute between heartbeats, a VM the driver sees
// stop is reported (a full power report) within a second, not at the next heartbeat.
func TestAgentReportsAtOnceWhenAVMStops(t *testing.T) {
	pings := make(chan protocol.Ping, 8)
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		a, b := net.Pipe()
		conn := protocol.NewConn(b, func(ctx context.Context, typ string, body json.RawMessage) (any, error) {
			switch typ {
			case protocol.TypeRegister:
				return protocol.Registered{HostID: "host-1", ServerID: addr, PingIntervalMs: 60000}, nil
			case protocol.TypePing:
				var p protocol.Ping
				json.Unmarshal(body, &p)
				pings <- p
				return protocol.Pong{PingIntervalMs: 60000}, nil
			}
			return nil, errors.New("unexpected " + typ)
		})
		go conn.Serve()
		return a, nil
	}
	drv := &watchingDriver{Driver: simulator.New(hypervisor.HostInfo{CPUCores: 4}), events: make(chan string, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	if err := drv.StartVM(ctx, hypervisor.VMSpec{Name: "i-2-7-VM", CPUs: 1, MemoryBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Servers: []string{"s1"}, GUID: "guid-1", Name: "h1", Driver: drv, Dial: dial})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	select {
	case p := <-pings:
		t.Fatalf("a ping before any event, with a minute's interval: %+v", p)
	case <-time.After(300 * time.Millisecond):
	}
	drv.Driver.PowerOffVM("i-2-7-VM")
	drv.events <- "i-2-7-VM"
	select {
	case p := <-pings:
		if !p.Full || len(p.VMs) != 1 || p.VMs[0].Name != "i-2-7-VM" || p.VMs[0].State != protocol.PowerOff {
			t.Fatalf("report after the event: %+v", p)
		}
	case <-time.After(time.Second):
		t.Fatal("no report within a second of the VM stopping")
	}
}
