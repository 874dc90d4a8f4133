package nfs3

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

// ONC RPC v2 (RFC 5531) over TCP with record marking, AUTH_SYS credentials, one call in
// flight per connection. Every call takes a context: its deadline becomes the socket deadline
// and its cancellation breaks a blocked read or write at once, so a server that stops
// answering costs at most the caller's deadline, never a hang.

const (
	rpcCall       = 0
	rpcReply      = 1
	msgAccepted   = 0
	msgDenied     = 1
	authNone      = 0
	authSys       = 1
	maxRecord     = 4 << 20
	lastFragment  = 1 << 31
	acceptSuccess = 0
)

var acceptErrors = map[uint32]string{
	1: "program unavailable",
	2: "program version mismatch",
	3: "procedure unavailable",
	4: "garbage arguments",
	5: "system error",
}

// rpcConn is one TCP connection to one RPC program.
type rpcConn struct {
	mu   sync.Mutex
	addr string
	prog uint32
	vers uint32
	conn net.Conn
	xid  uint32
	cred []byte // encoded AUTH_SYS body
}

func newRPCConn(addr string, prog, vers uint32, cred []byte) *rpcConn {
	return &rpcConn{addr: addr, prog: prog, vers: vers, xid: rand.Uint32(), cred: cred}
}

// authSysBody encodes an AUTH_SYS credential for uid/gid with the host's name.
func authSysBody(uid, gid uint32) []byte {
	host, _ := os.Hostname()
	if len(host) > 255 {
		host = host[:255]
	}
	var e encoder
	e.u32(uint32(time.Now().Unix()))
	e.str(host)
	e.u32(uid)
	e.u32(gid)
	e.u32(0) // no supplementary groups
	return e.b
}

// close drops the connection; the next call dials again.
func (c *rpcConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
}

func (c *rpcConn) dropLocked() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// call sends procedure proc with the XDR-encoded args and returns a decoder positioned at
// the procedure's results. When a connection that served earlier calls fails (servers close
// idle connections; a restarted server resets them), it dials again and resends once, as
// NFS clients retransmit: Atoll's uses tolerate a replayed request (see the FS methods).
func (c *rpcConn) call(ctx context.Context, proc uint32, args []byte) (*decoder, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.xid++
	xid := c.xid
	msg := c.encodeCall(xid, proc, args)
	for attempt := 0; ; attempt++ {
		reused := c.conn != nil
		d, err := c.roundTrip(ctx, xid, msg)
		if err == nil {
			if err := parseReplyHeader(d); err != nil {
				return nil, fmt.Errorf("rpc %s prog %d proc %d: %w", c.addr, c.prog, proc, err)
			}
			return d, nil
		}
		if !reused || attempt > 0 || ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, ctxErr(ctx, err)
		}
	}
}

func (c *rpcConn) encodeCall(xid, proc uint32, args []byte) []byte {
	var e encoder
	e.u32(0) // record mark, filled below
	e.u32(xid)
	e.u32(rpcCall)
	e.u32(2)
	e.u32(c.prog)
	e.u32(c.vers)
	e.u32(proc)
	if c.cred != nil {
		e.u32(authSys)
		e.opaque(c.cred)
	} else {
		e.u32(authNone)
		e.opaque(nil)
	}
	e.u32(authNone)
	e.opaque(nil)
	e.b = append(e.b, args...)
	binary.BigEndian.PutUint32(e.b, uint32(len(e.b)-4)|lastFragment)
	return e.b
}

// roundTrip sends one call record and reads records until the reply to xid; any failure
// drops the connection.
func (c *rpcConn) roundTrip(ctx context.Context, xid uint32, msg []byte) (*decoder, error) {
	if c.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", c.addr, err)
		}
		c.conn = conn
	}
	conn := c.conn
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(msg); err != nil {
		c.dropLocked()
		return nil, fmt.Errorf("rpc write to %s: %w", c.addr, err)
	}
	for {
		rec, err := readRecord(conn)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("the server closed the connection")
		}
		if err != nil {
			c.dropLocked()
			return nil, fmt.Errorf("rpc read from %s: %w", c.addr, err)
		}
		d := &decoder{b: rec}
		if d.u32() == xid {
			return d, nil
		}
		// a late reply to a call given up on: skip it
	}
}

// ctxErr prefers the context's error (deadline, cancellation) to the socket error it caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	// The socket deadline is the context's: it can fire a moment before ctx.Err is set.
	if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

func readRecord(r io.Reader) ([]byte, error) {
	var out []byte
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		n := int(h &^ lastFragment)
		if len(out)+n > maxRecord {
			return nil, fmt.Errorf("rpc record of more than %d bytes", maxRecord)
		}
		start := len(out)
		out = append(out, make([]byte, n)...)
		if _, err := io.ReadFull(r, out[start:]); err != nil {
			return nil, err
		}
		if h&lastFragment != 0 {
			return out, nil
		}
	}
}

func parseReplyHeader(d *decoder) error {
	if d.u32() != rpcReply {
		return errors.New("not a reply")
	}
	switch d.u32() {
	case msgAccepted:
		d.u32()       // verifier flavor
		d.opaque(400) // verifier body
		stat := d.u32()
		if d.err != nil {
			return d.err
		}
		if stat != acceptSuccess {
			if msg, ok := acceptErrors[stat]; ok {
				return errors.New(msg)
			}
			return fmt.Errorf("accept status %d", stat)
		}
		return nil
	case msgDenied:
		if d.u32() == 0 {
			return errors.New("rpc version mismatch")
		}
		return fmt.Errorf("authentication error %d", d.u32())
	default:
		return errors.New("bad reply status")
	}
}
