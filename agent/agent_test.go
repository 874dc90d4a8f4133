package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/hypervisor/simulator"
)

// countingDriver counts StartVM calls.
type countingDriver struct {
	*simulator.Driver
	starts atomic.Int32
}

func (d *countingDriver) StartVM(ctx context.Context, s hypervisor.VMSpec) error {
	d.starts.Add(1)
	time.Sleep(20 * time.Millisecond)
	return d.Driver.StartVM(ctx, s)
}

// fakeServer accepts the agent's pipe connections and records what it hears.
type fakeServer struct {
	conns    chan *protocol.Conn
	register chan protocol.Register
	pings    atomic.Int32
}

func (f *fakeServer) dial(ctx context.Context, addr string) (net.Conn, error) {
	a, b := net.Pipe()
	conn := protocol.NewConn(b, func(ctx context.Context, typ string, body json.RawMessage) (any, error) {
		switch typ {
		case protocol.TypeRegister:
			var r protocol.Register
			json.Unmarshal(body, &r)
			f.register <- r
			return protocol.Registered{HostID: "host-1", ServerID: addr, PingIntervalMs: 20}, nil
		case protocol.TypePing:
			f.pings.Add(1)
			return protocol.Pong{PingIntervalMs: 20}, nil
		}
		return nil, errors.New("unexpected " + typ)
	})
	go conn.Serve()
	f.conns <- conn
	return a, nil
}

func TestAgentRegistersPingsAndAnswersOnce(t *testing.T) {
	f := &fakeServer{conns: make(chan *protocol.Conn, 4), register: make(chan protocol.Register, 4)}
	drv := &countingDriver{Driver: simulator.New(hypervisor.HostInfo{CPUCores: 16})}
	a, err := New(Config{Servers: []string{"s1"}, GUID: "guid-1", Name: "h1", Address: "10.0.0.1", Driver: drv, Dial: f.dial})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	conn := <-f.conns
	r := <-f.register
	if r.GUID != "guid-1" || r.CPUCores != 16 || r.CPUSpeedMHz != simulator.Defaults.CPUSpeedMHz || r.Address != "10.0.0.1" ||
		r.ProtocolVersion != protocol.Version || r.HypervisorType != "Simulator" {
		t.Fatalf("register: %+v", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.pings.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.pings.Load() < 3 {
		t.Fatalf("agent pinged %d times", f.pings.Load())
	}

	// The same command id twice, concurrently and then again: it runs once.
	cmd := protocol.Command{ID: "cmd-1", Name: protocol.CmdStartVM, Body: json.RawMessage(`{"name":"vm1","cpus":1}`)}
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			var ans protocol.Answer
			err := conn.Call(ctx, protocol.TypeCommand, cmd, &ans)
			if err == nil && !ans.OK {
				err = errors.New(ans.Error)
			}
			errs <- err
		}()
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var ans protocol.Answer
	if err := conn.Call(ctx, protocol.TypeCommand, cmd, &ans); err != nil || !ans.OK {
		t.Fatalf("replay: %v %+v", err, ans)
	}
	if n := drv.starts.Load(); n != 1 {
		t.Fatalf("StartVM ran %d times for one command id", n)
	}
	if err := conn.Call(ctx, protocol.TypeCommand, protocol.Command{ID: "cmd-2", Name: protocol.CmdVMStates}, &ans); err != nil {
		t.Fatal(err)
	}
	var states []protocol.VMState
	json.Unmarshal(ans.Body, &states)
	if len(states) != 1 || states[0].Name != "vm1" || states[0].State != protocol.PowerOn {
		t.Fatalf("vm states: %s", ans.Body)
	}

	// Faults: a failing command, then an unknown command.
	drv.SetFault(protocol.CmdEcho, simulator.Fault{Fail: true, Message: "boom"})
	if err := conn.Call(ctx, protocol.TypeCommand, protocol.Command{ID: "cmd-3", Name: protocol.CmdEcho}, &ans); err != nil || ans.OK || ans.Error != "boom" {
		t.Fatalf("fault: %v %+v", err, ans)
	}
	if err := conn.Call(ctx, protocol.TypeCommand, protocol.Command{ID: "cmd-4", Name: "Nope"}, &ans); err != nil || ans.OK {
		t.Fatalf("unknown command: %v %+v", err, ans)
	}

	// The server drops the connection: the agent connects and registers again.
	conn.Close()
	select {
	case <-f.conns:
	case <-time.After(5 * time.Second):
		t.Fatal("agent did not reconnect")
	}
	if r := <-f.register; r.GUID != "guid-1" || len(r.VMs) != 1 {
		t.Fatalf("re-register: %+v", r)
	}
}
