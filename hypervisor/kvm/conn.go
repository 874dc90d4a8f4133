package kvm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
)

// ErrUnavailable wraps every failure to reach libvirtd: it is not running, its socket is
// missing, or it does not answer in time.
var ErrUnavailable = errors.New("libvirtd unavailable")

// conn owns the one connection to libvirtd. Every call goes through do, which dials when
// there is no live connection (bounded by the connect timeout), runs the call in its own
// goroutine and returns when the caller's context ends even if libvirtd never answers.
// go-libvirt calls take no context: a call left unanswered is cut off by closing the socket
// once a probe shows the daemon is not answering, so the next call re-dials.
type conn struct {
	socket      string
	uri         string
	timeout     time.Duration // connect timeout, and how long a probe waits
	callTimeout time.Duration // bound of one ordinary call (not a migration)
	log         *slog.Logger

	dialMu sync.Mutex // held while dialing; at most one dial at a time
	mu     sync.Mutex
	cur    *session
}

// session is one dialed connection: the go-libvirt client and the socket under it, kept so a
// hung call can be cut off by closing it.
type session struct {
	l  *libvirt.Libvirt
	nc net.Conn
}

func (s *session) alive() bool { return s != nil && s.l.IsConnected() }

// close drops the socket; go-libvirt then fails every pending call with ErrInterrupted.
func (s *session) close() { _ = s.nc.Close() }

// capture is a go-libvirt dialer that dials the unix socket with a timeout and keeps the
// net.Conn, so that the session can be closed without a (possibly unanswered) RPC.
type capture struct {
	ctx     context.Context
	socket  string
	timeout time.Duration

	mu        sync.Mutex
	nc        net.Conn
	abandoned bool
}

func (c *capture) Dial() (net.Conn, error) {
	d := net.Dialer{Timeout: c.timeout}
	nc, err := d.DialContext(c.ctx, "unix", c.socket)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.abandoned { // the caller gave up while we dialed
		_ = nc.Close()
		return nil, net.ErrClosed
	}
	c.nc = nc
	return nc, nil
}

// abandon closes the socket (if dialed) and makes a later Dial fail.
func (c *capture) abandon() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.abandoned = true
	if c.nc != nil {
		_ = c.nc.Close()
	}
}

func (c *capture) conn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc
}

func newConn(socket, uri string, timeout, callTimeout time.Duration, log *slog.Logger) *conn {
	return &conn{socket: socket, uri: uri, timeout: timeout, callTimeout: callTimeout, log: log}
}

// get returns a live session, dialing one if needed.
func (c *conn) get(ctx context.Context) (*session, error) {
	c.mu.Lock()
	s := c.cur
	c.mu.Unlock()
	if s.alive() {
		return s, nil
	}
	// One dial at a time; a caller whose context ends while waiting gives up.
	locked := make(chan struct{})
	go func() { c.dialMu.Lock(); close(locked) }()
	select {
	case <-locked:
	case <-ctx.Done():
		go func() { <-locked; c.dialMu.Unlock() }()
		return nil, fmt.Errorf("%w: connect to %s: %w", ErrUnavailable, c.socket, ctx.Err())
	}
	defer c.dialMu.Unlock()
	c.mu.Lock()
	s = c.cur
	c.mu.Unlock()
	if s.alive() { // another caller dialed meanwhile
		return s, nil
	}
	s, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cur = s
	c.mu.Unlock()
	return s, nil
}

// dial opens a connection and the libvirt URI on it, within the connect timeout.
func (c *conn) dial(ctx context.Context) (*session, error) {
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	d := &capture{ctx: dctx, socket: c.socket, timeout: c.timeout}
	l := libvirt.NewWithDialer(d)
	done := make(chan error, 1)
	go func() { done <- l.ConnectToURI(libvirt.ConnectURI(c.uri)) }()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("%w: connect to %s: %w", ErrUnavailable, c.socket, err)
		}
	case <-dctx.Done():
		d.abandon() // unblocks the handshake
		go func() { <-done }()
		return nil, fmt.Errorf("%w: connect to %s: no answer within %s", ErrUnavailable, c.socket, time.Since(start).Round(time.Millisecond))
	}
	c.log.Info("connected to libvirtd", "socket", c.socket, "uri", c.uri, "took", time.Since(start).Round(time.Millisecond))
	return &session{l: l, nc: d.conn()}, nil
}

// do runs fn on a live connection, within the call timeout. If ctx or the call timeout ends
// first, do returns at once; the connection is then probed in the background and closed if
// libvirtd does not answer within the connect timeout, so that a hung daemon never holds
// callers and the next call re-dials.
func (c *conn) do(ctx context.Context, op string, fn func(l *libvirt.Libvirt) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	return c.doLong(ctx, op, fn)
}

// doLong is do bounded only by ctx: for calls that legitimately run long (a migration).
func (c *conn) doLong(ctx context.Context, op string, fn func(l *libvirt.Libvirt) error) error {
	s, err := c.get(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	done := make(chan error, 1)
	go func() { done <- fn(s.l) }()
	select {
	case err := <-done:
		if errors.Is(err, libvirt.ErrInterrupted) {
			return fmt.Errorf("%s: %w: connection lost: %w", op, ErrUnavailable, err)
		}
		return err
	case <-ctx.Done():
		go c.probe(s)
		return fmt.Errorf("%s: %w: no answer: %w", op, ErrUnavailable, ctx.Err())
	}
}

// probe checks that libvirtd still answers on s, and closes s if it does not.
func (c *conn) probe(s *session) {
	done := make(chan error, 1)
	go func() {
		_, err := s.l.ConnectGetLibVersion()
		done <- err
	}()
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			c.log.Warn("libvirtd probe failed; dropping the connection", "err", err)
			s.close()
		}
	case <-t.C:
		c.log.Warn("libvirtd does not answer; dropping the connection", "socket", c.socket, "waited", c.timeout)
		s.close()
	}
}

// close drops the current connection, if any.
func (c *conn) close() {
	c.mu.Lock()
	s := c.cur
	c.cur = nil
	c.mu.Unlock()
	if s != nil {
		s.close()
	}
}
