package nfs3

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// XDR (RFC 4506): big-endian 4-byte units, opaque data and strings padded to 4 bytes.

type encoder struct{ b []byte }

func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }

func (e *encoder) boolean(v bool) {
	if v {
		e.u32(1)
	} else {
		e.u32(0)
	}
}

func (e *encoder) opaque(p []byte) {
	e.u32(uint32(len(p)))
	e.fixed(p)
}

// fixed appends fixed-length opaque data with its padding.
func (e *encoder) fixed(p []byte) {
	e.b = append(e.b, p...)
	if pad := (4 - len(p)%4) % 4; pad > 0 {
		e.b = append(e.b, make([]byte, pad)...)
	}
}

func (e *encoder) str(s string) { e.opaque([]byte(s)) }

var errShort = errors.New("nfs3: short xdr reply")

// decoder reads XDR; the first error sticks and later reads return zero values.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || d.off+n > len(d.b) {
		d.err = errShort
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u32() uint32 {
	p := d.take(4)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (d *decoder) u64() uint64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (d *decoder) boolean() bool { return d.u32() != 0 }

// opaque reads variable-length opaque data of at most max bytes.
func (d *decoder) opaque(max int) []byte {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if int64(n) > int64(max) {
		d.err = fmt.Errorf("nfs3: xdr opaque of %d bytes exceeds %d", n, max)
		return nil
	}
	return d.fixed(int(n))
}

func (d *decoder) fixed(n int) []byte {
	p := d.take(n)
	d.take((4 - n%4) % 4)
	if d.err != nil {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) str(max int) string { return string(d.opaque(max)) }
