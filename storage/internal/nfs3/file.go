package nfs3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

const (
	createUnchecked = 0
	stableUnstable  = 0
	stableFileSync  = 2
)

// Create creates (or truncates) file p with mode and returns a writer for it. The writer sends
// UNSTABLE writes and a COMMIT on Close; a server that restarted in between (its write
// verifier changed) makes Close fail rather than lose data silently. ctx bounds every call
// the writer makes.
func (c *Client) Create(ctx context.Context, p string, mode uint32) (*Writer, error) {
	d, err := c.dirop(ctx, "create", procCreate, p, func(e *encoder) {
		e.u32(createUnchecked)
		// sattr3: mode, and size 0 to truncate an existing file.
		e.boolean(true)
		e.u32(mode)
		e.boolean(false)
		e.boolean(false)
		e.boolean(true)
		e.u64(0)
		e.u32(0)
		e.u32(0)
	})
	if err != nil {
		return nil, err
	}
	var fh []byte
	if d.boolean() {
		fh = d.opaque(maxFH)
	}
	if d.err != nil {
		return nil, &OpError{Op: "create", Path: p, Err: d.err}
	}
	if fh == nil { // the server may omit the handle: look it up
		if fh, _, err = c.handle(ctx, p); err != nil {
			return nil, err
		}
	}
	return &Writer{c: c, ctx: ctx, path: p, fh: fh}, nil
}

// Writer writes a file sequentially.
type Writer struct {
	c      *Client
	ctx    context.Context
	path   string
	fh     []byte
	off    uint64
	verf   []byte
	closed bool
}

// Write sends p in chunks of the server's maximum write size.
func (w *Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p
		if uint32(len(chunk)) > w.c.wmax {
			chunk = chunk[:w.c.wmax]
		}
		wrote, err := w.write(chunk, stableUnstable)
		n += wrote
		if err != nil {
			return n, err
		}
		p = p[wrote:]
	}
	return n, nil
}

func (w *Writer) write(p []byte, stable uint32) (int, error) {
	var e encoder
	e.opaque(w.fh)
	e.u64(w.off)
	e.u32(uint32(len(p)))
	e.u32(stable)
	e.opaque(p)
	d, err := w.c.nfs.call(w.ctx, procWrite, e.b)
	if err != nil {
		return 0, &OpError{Op: "write", Path: w.path, Err: err}
	}
	if err := result(d); err != nil {
		return 0, &OpError{Op: "write", Path: w.path, Err: err}
	}
	skipWcc(d)
	count := d.u32()
	d.u32() // committed
	verf := d.fixed(8)
	if d.err != nil {
		return 0, &OpError{Op: "write", Path: w.path, Err: d.err}
	}
	if count == 0 || count > uint32(len(p)) {
		return 0, &OpError{Op: "write", Path: w.path, Err: fmt.Errorf("server wrote %d of %d bytes", count, len(p))}
	}
	if err := w.checkVerf(verf); err != nil {
		return 0, err
	}
	w.off += uint64(count)
	return int(count), nil
}

func (w *Writer) checkVerf(verf []byte) error {
	if w.verf == nil {
		w.verf = verf
		return nil
	}
	if !bytes.Equal(w.verf, verf) {
		return &OpError{Op: "write", Path: w.path, Err: errors.New("server restarted during the write (verifier changed): data may be lost")}
	}
	return nil
}

// Close commits the written data to stable storage.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.verf == nil {
		return nil // nothing written
	}
	var e encoder
	e.opaque(w.fh)
	e.u64(0)
	e.u32(0) // to the end of the file
	d, err := w.c.nfs.call(w.ctx, procCommit, e.b)
	if err != nil {
		return &OpError{Op: "commit", Path: w.path, Err: err}
	}
	if err := result(d); err != nil {
		return &OpError{Op: "commit", Path: w.path, Err: err}
	}
	skipWcc(d)
	verf := d.fixed(8)
	if d.err != nil {
		return &OpError{Op: "commit", Path: w.path, Err: d.err}
	}
	return w.checkVerf(verf)
}

// WriteFile writes data to p in one go with FILE_SYNC writes (small files: heartbeats).
func (c *Client) WriteFile(ctx context.Context, p string, data []byte, mode uint32) error {
	w, err := c.Create(ctx, p, mode)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		chunk := data
		if uint32(len(chunk)) > c.wmax {
			chunk = chunk[:c.wmax]
		}
		n, err := w.write(chunk, stableFileSync)
		if err != nil {
			return err
		}
		data = data[n:]
	}
	w.closed = true
	return nil
}

// ReadAt reads up to n bytes of p from off; fewer at the end of the file.
func (c *Client) ReadAt(ctx context.Context, p string, off int64, n int) ([]byte, error) {
	fh, _, err := c.handle(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []byte
	for len(out) < n {
		want := n - len(out)
		if uint32(want) > c.rmax {
			want = int(c.rmax)
		}
		var e encoder
		e.opaque(fh)
		e.u64(uint64(off) + uint64(len(out)))
		e.u32(uint32(want))
		d, err := c.nfs.call(ctx, procRead, e.b)
		if err != nil {
			return nil, &OpError{Op: "read", Path: p, Err: err}
		}
		if err := result(d); err != nil {
			return nil, &OpError{Op: "read", Path: p, Err: err}
		}
		skipPostOpAttr(d)
		d.u32() // count
		eof := d.boolean()
		data := d.opaque(int(c.rmax))
		if d.err != nil {
			return nil, &OpError{Op: "read", Path: p, Err: d.err}
		}
		out = append(out, data...)
		if eof || len(data) == 0 {
			break
		}
	}
	return out, nil
}

var _ io.WriteCloser = (*Writer)(nil)
