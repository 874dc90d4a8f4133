package nfs3

import (
	"context"
	"errors"
	"io/fs"
	"time"
)

// File types (ftype3).
const (
	typeReg = 1
	typeDir = 2
)

// Attr is the part of fattr3 Atoll uses.
type Attr struct {
	Type  uint32
	Mode  uint32
	Size  uint64 // bytes
	Used  uint64 // bytes allocated on the server
	MTime time.Time
}

// IsDir reports whether the attributes are a directory's.
func (a *Attr) IsDir() bool { return a.Type == typeDir }

func readFattr(d *decoder) *Attr {
	a := &Attr{}
	a.Type = d.u32()
	a.Mode = d.u32()
	d.u32() // nlink
	d.u32() // uid
	d.u32() // gid
	a.Size = d.u64()
	a.Used = d.u64()
	d.u64() // rdev
	d.u64() // fsid
	d.u64() // fileid
	d.u64() // atime
	sec, nsec := d.u32(), d.u32()
	a.MTime = time.Unix(int64(sec), int64(nsec))
	d.u64() // ctime
	return a
}

// postOpAttr reads post_op_attr: nil when the server sent none.
func postOpAttr(d *decoder) *Attr {
	if !d.boolean() {
		return nil
	}
	return readFattr(d)
}

func skipPostOpAttr(d *decoder) { postOpAttr(d) }

// skipWcc reads wcc_data: pre_op_attr then post_op_attr.
func skipWcc(d *decoder) {
	if d.boolean() {
		d.u64() // size
		d.u64() // mtime
		d.u64() // ctime
	}
	skipPostOpAttr(d)
}

// result checks a procedure's status; on failure the failure body is not needed.
func result(d *decoder) error {
	st := d.u32()
	if d.err != nil {
		return d.err
	}
	if st != 0 {
		return Status(st)
	}
	return nil
}

func (c *Client) getattr(ctx context.Context, fh []byte) (*Attr, error) {
	var e encoder
	e.opaque(fh)
	d, err := c.nfs.call(ctx, procGetAttr, e.b)
	if err != nil {
		return nil, err
	}
	if err := result(d); err != nil {
		return nil, err
	}
	a := readFattr(d)
	return a, d.err
}

func (c *Client) lookup(ctx context.Context, dir []byte, name string) ([]byte, *Attr, error) {
	var e encoder
	e.opaque(dir)
	e.str(name)
	d, err := c.nfs.call(ctx, procLookup, e.b)
	if err != nil {
		return nil, nil, err
	}
	if err := result(d); err != nil {
		return nil, nil, err
	}
	fh := d.opaque(maxFH)
	a := postOpAttr(d)
	return fh, a, d.err
}

// Stat returns p's attributes; errors.Is(err, fs.ErrNotExist) when it does not exist.
func (c *Client) Stat(ctx context.Context, p string) (*Attr, error) {
	_, a, err := c.handle(ctx, p)
	return a, err
}

// Entry is one directory entry.
type Entry struct {
	Name string
	Attr *Attr // nil when the server sent no attributes
}

// ReadDir lists directory p (without "." and "..").
func (c *Client) ReadDir(ctx context.Context, p string) ([]Entry, error) {
	fh, a, err := c.handle(ctx, p)
	if err != nil {
		return nil, err
	}
	if !a.IsDir() {
		return nil, &OpError{Op: "readdir", Path: p, Err: ErrNotDir}
	}
	var out []Entry
	var cookie uint64
	verf := make([]byte, 8)
	for {
		var e encoder
		e.opaque(fh)
		e.u64(cookie)
		e.fixed(verf)
		e.u32(8192)  // dircount
		e.u32(32768) // maxcount
		d, err := c.nfs.call(ctx, procReadDirPlus, e.b)
		if err != nil {
			return nil, &OpError{Op: "readdirplus", Path: p, Err: err}
		}
		if err := result(d); err != nil {
			return nil, &OpError{Op: "readdirplus", Path: p, Err: err}
		}
		skipPostOpAttr(d)
		verf = d.fixed(8)
		for d.boolean() {
			d.u64() // fileid
			name := d.str(maxName)
			cookie = d.u64()
			attr := postOpAttr(d)
			if d.boolean() { // post_op_fh3
				d.opaque(maxFH)
			}
			if name != "." && name != ".." {
				out = append(out, Entry{Name: name, Attr: attr})
			}
		}
		eof := d.boolean()
		if d.err != nil {
			return nil, &OpError{Op: "readdirplus", Path: p, Err: d.err}
		}
		if eof {
			return out, nil
		}
	}
}

func (c *Client) dirop(ctx context.Context, op string, proc uint32, p string, extra func(*encoder)) (*decoder, error) {
	dir, name, err := c.walk(ctx, p)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, &OpError{Op: op, Path: p, Err: errors.New("not allowed on the export root")}
	}
	var e encoder
	e.opaque(dir)
	e.str(name)
	if extra != nil {
		extra(&e)
	}
	d, err := c.nfs.call(ctx, proc, e.b)
	if err != nil {
		return nil, &OpError{Op: op, Path: p, Err: err}
	}
	if err := result(d); err != nil {
		return nil, &OpError{Op: op, Path: p, Err: err}
	}
	return d, nil
}

// sattrMode encodes sattr3 setting only the mode.
func sattrMode(e *encoder, mode uint32) {
	e.boolean(true)
	e.u32(mode)
	e.boolean(false) // uid
	e.boolean(false) // gid
	e.boolean(false) // size
	e.u32(0)         // atime: don't change
	e.u32(0)         // mtime: don't change
}

// Mkdir creates directory p; fs.ErrExist if it exists.
func (c *Client) Mkdir(ctx context.Context, p string, mode uint32) error {
	_, err := c.dirop(ctx, "mkdir", procMkdir, p, func(e *encoder) { sattrMode(e, mode) })
	return err
}

// MkdirAll creates p and its missing parents.
func (c *Client) MkdirAll(ctx context.Context, p string, mode uint32) error {
	parts, err := split(p)
	if err != nil {
		return err
	}
	for i := range parts {
		sub := joinParts(parts[:i+1])
		err := c.Mkdir(ctx, sub, mode)
		if err == nil || errors.Is(err, fs.ErrExist) {
			continue
		}
		return err
	}
	return nil
}

func joinParts(parts []string) string {
	s := ""
	for i, p := range parts {
		if i > 0 {
			s += "/"
		}
		s += p
	}
	return s
}

// Remove removes file p.
func (c *Client) Remove(ctx context.Context, p string) error {
	_, err := c.dirop(ctx, "remove", procRemove, p, nil)
	return err
}

// Rmdir removes empty directory p.
func (c *Client) Rmdir(ctx context.Context, p string) error {
	_, err := c.dirop(ctx, "rmdir", procRmdir, p, nil)
	return err
}

// Rename renames from to to, replacing to if it exists (atomic on the server).
func (c *Client) Rename(ctx context.Context, from, to string) error {
	tdir, tname, err := c.walk(ctx, to)
	if err != nil {
		return err
	}
	_, err = c.dirop(ctx, "rename", procRename, from, func(e *encoder) {
		e.opaque(tdir)
		e.str(tname)
	})
	return err
}

// Link makes to a hard link of from; fs.ErrExist if to exists. With Remove(from) after it,
// this is a rename that never replaces an existing file.
func (c *Client) Link(ctx context.Context, from, to string) error {
	fh, _, err := c.handle(ctx, from)
	if err != nil {
		return err
	}
	tdir, tname, err := c.walk(ctx, to)
	if err != nil {
		return err
	}
	if tname == "" {
		return &OpError{Op: "link", Path: to, Err: errors.New("not allowed on the export root")}
	}
	var e encoder
	e.opaque(fh)
	e.opaque(tdir)
	e.str(tname)
	d, err := c.nfs.call(ctx, procLink, e.b)
	if err != nil {
		return &OpError{Op: "link", Path: to, Err: err}
	}
	if err := result(d); err != nil {
		return &OpError{Op: "link", Path: to, Err: err}
	}
	return nil
}

// FSStat is the export's file system space, in bytes.
type FSStat struct {
	Total, Free, Avail uint64
}

// StatFS asks the server for the export's space (FSSTAT).
func (c *Client) StatFS(ctx context.Context) (FSStat, error) {
	var e encoder
	e.opaque(c.root)
	d, err := c.nfs.call(ctx, procFSStat, e.b)
	if err != nil {
		return FSStat{}, &OpError{Op: "fsstat", Path: c.export, Err: err}
	}
	if err := result(d); err != nil {
		return FSStat{}, &OpError{Op: "fsstat", Path: c.export, Err: err}
	}
	skipPostOpAttr(d)
	s := FSStat{Total: d.u64(), Free: d.u64(), Avail: d.u64()}
	return s, d.err
}
