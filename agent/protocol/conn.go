package protocol

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// MaxFrame bounds one frame's size.
const MaxFrame = 16 << 20

// WriteTimeout bounds how long writing one frame may block on a stalled peer.
var WriteTimeout = 15 * time.Second

// ErrClosed is returned by calls on a closed connection.
var ErrClosed = errors.New("protocol: connection closed")

// RemoteError is an error the peer answered a request with. RetryAfter > 0 means the peer
// was busy and did not process the request: it may be sent again after that long.
type RemoteError struct {
	Msg        string
	RetryAfter time.Duration
}

func (e *RemoteError) Error() string { return e.Msg }

// BusyError is what a handler returns to refuse a request it has not processed because it is
// overloaded: the reply carries After (RetryAfterMs) and the caller's RemoteError has it as
// RetryAfter.
type BusyError struct {
	Msg   string
	After time.Duration
}

func (e *BusyError) Error() string { return e.Msg }

// RetryAfter reports how long to wait before sending again a request that err (from Call)
// says the peer was too busy to process; 0 when err is not such an answer.
func RetryAfter(err error) time.Duration {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.RetryAfter
	}
	return 0
}

// WriteFrame writes one envelope as a 4-byte big-endian length and its JSON.
func WriteFrame(w io.Writer, e *Envelope) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("protocol: encode %s: %w", e.Type, err)
	}
	if len(data) > MaxFrame {
		return fmt.Errorf("protocol: %s frame of %d bytes exceeds %d", e.Type, len(data), MaxFrame)
	}
	buf := make([]byte, 4+len(data))
	binary.BigEndian.PutUint32(buf, uint32(len(data)))
	copy(buf[4:], data)
	_, err = w.Write(buf)
	return err
}

// ReadFrame reads one envelope written by WriteFrame.
func ReadFrame(r io.Reader) (*Envelope, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("protocol: frame of %d bytes exceeds %d", n, MaxFrame)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, err
	}
	var e Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("protocol: decode frame: %w", err)
	}
	return &e, nil
}

// Handler answers a peer's request: the returned value becomes the reply's body, an error its
// error text. It runs in its own goroutine; ctx ends when the connection closes.
type Handler func(ctx context.Context, typ string, body json.RawMessage) (any, error)

// Conn is one side of an agent connection: both sides send requests and answer them.
type Conn struct {
	nc      net.Conn
	handler Handler
	br      *bufio.Reader

	wmu     sync.Mutex
	mu      sync.Mutex
	pending map[string]chan *Envelope
	seq     atomic.Uint64
	closed  chan struct{}
	once    sync.Once
	err     error
	ctx     context.Context
	cancel  context.CancelFunc
}

// NewConn wraps nc. Serve must run for requests to be answered and replies received.
func NewConn(nc net.Conn, h Handler) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &Conn{nc: nc, handler: h, br: bufio.NewReader(nc), pending: map[string]chan *Envelope{},
		closed: make(chan struct{}), ctx: ctx, cancel: cancel}
}

// SetHandler replaces the request handler (before Serve).
func (c *Conn) SetHandler(h Handler) { c.handler = h }

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Done is closed when the connection has closed.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// Err is why the connection closed (nil while open).
func (c *Conn) Err() error {
	select {
	case <-c.closed:
		return c.err
	default:
		return nil
	}
}

// Close closes the connection; pending calls fail with ErrClosed.
func (c *Conn) Close() error { c.closeWith(ErrClosed); return nil }

func (c *Conn) closeWith(err error) {
	c.once.Do(func() {
		c.err = err
		// Closed before the handlers' context ends: a handler that returns because its
		// context ended must find the connection closed, not send the peer "context
		// canceled" as its answer (the peer's call then fails with ErrClosed, as it should).
		close(c.closed)
		c.nc.Close()
		c.cancel()
	})
}

func (c *Conn) write(e *Envelope) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(WriteTimeout))
	if err := WriteFrame(c.nc, e); err != nil {
		c.closeWith(fmt.Errorf("protocol: write: %w", err))
		return err
	}
	return nil
}

// Serve reads frames until the connection closes, dispatching requests to the handler and
// replies to their callers. It returns why the connection ended.
func (c *Conn) Serve() error {
	for {
		e, err := ReadFrame(c.br)
		if err != nil {
			c.closeWith(err)
			return c.err
		}
		if e.V != Version {
			if !e.Reply {
				_ = c.write(&Envelope{V: Version, Type: e.Type, ID: e.ID, Reply: true,
					Error: fmt.Sprintf("protocol version %d is not supported (this side speaks %d)", e.V, Version)})
			}
			c.closeWith(fmt.Errorf("protocol: peer speaks version %d, want %d", e.V, Version))
			return c.err
		}
		if e.Reply {
			c.mu.Lock()
			ch := c.pending[e.ID]
			delete(c.pending, e.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- e
			}
			continue
		}
		go c.answer(e)
	}
}

func (c *Conn) answer(e *Envelope) {
	reply := &Envelope{V: Version, Type: e.Type, ID: e.ID, Reply: true}
	var res any
	var err error
	if c.handler == nil {
		err = fmt.Errorf("no handler for %s", e.Type)
	} else {
		func() {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("panic handling %s: %v", e.Type, p)
				}
			}()
			res, err = c.handler(c.ctx, e.Type, e.Body)
		}()
	}
	if err != nil {
		reply.Error = err.Error()
		if reply.Error == "" {
			reply.Error = "error"
		}
		var busy *BusyError
		if errors.As(err, &busy) && busy.After > 0 {
			reply.RetryAfterMs = max(1, busy.After.Milliseconds())
		}
	} else if res != nil {
		if reply.Body, err = json.Marshal(res); err != nil {
			reply.Body, reply.Error = nil, "encode reply: "+err.Error()
		}
	}
	_ = c.write(reply)
}

// Call sends a request and decodes its reply into out (if not nil). ctx bounds the wait.
func (c *Conn) Call(ctx context.Context, typ string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("protocol: encode %s: %w", typ, err)
	}
	id := strconv.FormatUint(c.seq.Add(1), 36)
	ch := make(chan *Envelope, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if err := c.write(&Envelope{V: Version, Type: typ, ID: id, Body: raw}); err != nil {
		return fmt.Errorf("protocol: send %s: %w", typ, err)
	}
	select {
	case e := <-ch:
		if e.Error != "" {
			return &RemoteError{Msg: e.Error, RetryAfter: time.Duration(max(0, e.RetryAfterMs)) * time.Millisecond}
		}
		if out != nil && len(e.Body) > 0 {
			if err := json.Unmarshal(e.Body, out); err != nil {
				return fmt.Errorf("protocol: decode %s reply: %w", typ, err)
			}
		}
		return nil
	case <-c.closed:
		return fmt.Errorf("protocol: %s: %w", typ, ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("protocol: %s: %w", typ, ctx.Err())
	}
}
