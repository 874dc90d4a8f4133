package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := &Envelope{V: Version, Type: TypeRegister, ID: "7", Body: json.RawMessage(`{"guid":"g"}`)}
	if err := WriteFrame(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadFrame(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if out.V != Version || out.Type != TypeRegister || out.ID != "7" || string(out.Body) != `{"guid":"g"}` {
		t.Fatalf("round trip: %+v", out)
	}
	// A frame claiming more than MaxFrame is refused before it is read.
	buf.Reset()
	buf.Write([]byte{0x7f, 0xff, 0xff, 0xff})
	if _, err := ReadFrame(&buf); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized frame: %v", err)
	}
}

func pair(t *testing.T, ha, hb Handler) (*Conn, *Conn) {
	ca, cb := net.Pipe()
	a, b := NewConn(ca, ha), NewConn(cb, hb)
	go a.Serve()
	go b.Serve()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestCallBothWays(t *testing.T) {
	echo := func(ctx context.Context, typ string, body json.RawMessage) (any, error) {
		switch typ {
		case TypeCommand:
			var c Command
			if err := json.Unmarshal(body, &c); err != nil {
				return nil, err
			}
			return Answer{ID: c.ID, OK: true, Body: c.Body}, nil
		case TypePing:
			return Pong{PingIntervalMs: 1234}, nil
		case TypeRegister:
			return nil, fmt.Errorf("wrapped: %w", &BusyError{Msg: "busy", After: 1500 * time.Millisecond})
		}
		return nil, errors.New("no " + typ)
	}
	mgmt, agent := pair(t, echo, echo)
	ctx := t.Context()
	var ans Answer
	if err := mgmt.Call(ctx, TypeCommand, Command{ID: "c1", Name: CmdEcho, Body: json.RawMessage(`"hi"`)}, &ans); err != nil {
		t.Fatal(err)
	}
	if !ans.OK || ans.ID != "c1" || string(ans.Body) != `"hi"` {
		t.Fatalf("answer: %+v", ans)
	}
	var pong Pong
	if err := agent.Call(ctx, TypePing, Ping{HostID: "h"}, &pong); err != nil || pong.PingIntervalMs != 1234 {
		t.Fatalf("ping: %v %+v", err, pong)
	}
	var re *RemoteError
	if err := agent.Call(ctx, "bogus", nil, nil); !errors.As(err, &re) || re.Msg != "no bogus" || RetryAfter(err) != 0 {
		t.Fatalf("remote error: %v", err)
	}
	// A busy answer carries when to try again; an ordinary error does not.
	if err := agent.Call(ctx, TypeRegister, Register{}, nil); RetryAfter(err) != 1500*time.Millisecond || err.Error() != "wrapped: busy" {
		t.Fatalf("busy answer: %v (retry after %v)", err, RetryAfter(err))
	}
}

func TestCallTimeoutAndClose(t *testing.T) {
	var started atomic.Int32
	slow := func(ctx context.Context, typ string, body json.RawMessage) (any, error) {
		started.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	a, b := pair(t, nil, slow)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := a.Call(ctx, TypePing, Ping{}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline, got %v", err)
	}
	// Closing one side fails the other's pending calls and ends the handler's context.
	done := make(chan error, 1)
	go func() { done <- a.Call(t.Context(), TypePing, Ping{}, nil) }()
	for started.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	b.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("want closed, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending call not failed by close")
	}
	<-a.Done()
}

func TestVersionMismatch(t *testing.T) {
	ca, cb := net.Pipe()
	b := NewConn(cb, func(context.Context, string, json.RawMessage) (any, error) { return "x", nil })
	go b.Serve()
	defer b.Close()
	go WriteFrame(ca, &Envelope{V: Version + 1, Type: TypePing, ID: "1"})
	e, err := ReadFrame(ca)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Reply || !strings.Contains(e.Error, "not supported") {
		t.Fatalf("reply to a newer version: %+v", e)
	}
	<-b.Done()
	ca.Close()
}
