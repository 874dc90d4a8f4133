package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/atollcloud/atoll/storage"
)

// FS is a directory on the host.
type FS struct {
	root  string
	guard bool
}

// NewFS returns the FS of directory root (which must exist).
func NewFS(root string) *FS { return &FS{root: filepath.Clean(root)} }

// NewGuardedFS is NewFS for a directory that may hang (a kernel NFS mount): every call runs
// in a goroutine and returns when its context ends, leaving the stuck system call behind.
func NewGuardedFS(root string) *FS { return &FS{root: filepath.Clean(root), guard: true} }

// Root is the directory.
func (f *FS) Root() string { return f.root }

// abs maps a relative slash path into the root; ".." never escapes it.
func (f *FS) abs(p string) (string, error) {
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", fmt.Errorf("path %q leaves the root", p)
		}
	}
	return filepath.Join(f.root, filepath.FromSlash(p)), nil
}

// do runs fn, under ctx when guarded.
func (f *FS) do(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !f.guard {
		return fn()
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %s did not answer", ctx.Err(), f.root)
	}
}

func (f *FS) Locate(p string) string {
	a, err := f.abs(p)
	if err != nil {
		return filepath.Join(f.root, "invalid-path")
	}
	return a
}

func (f *FS) Source(p string) storage.Source {
	return storage.Source{Kind: storage.SourceFile, Path: f.Locate(p)}
}

func info(name string, fi os.FileInfo) storage.FileInfo {
	out := storage.FileInfo{Name: name, Size: fi.Size(), Dir: fi.IsDir(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.Used = st.Blocks * 512
	}
	return out
}

func (f *FS) Stat(ctx context.Context, p string) (storage.FileInfo, error) {
	a, err := f.abs(p)
	if err != nil {
		return storage.FileInfo{}, err
	}
	var out storage.FileInfo
	err = f.do(ctx, func() error {
		fi, err := os.Stat(a)
		if err == nil {
			out = info(filepath.Base(a), fi)
		}
		return err
	})
	return out, err
}

func (f *FS) ReadDir(ctx context.Context, p string) ([]storage.FileInfo, error) {
	a, err := f.abs(p)
	if err != nil {
		return nil, err
	}
	var out []storage.FileInfo
	err = f.do(ctx, func() error {
		ents, err := os.ReadDir(a)
		if err != nil {
			return err
		}
		for _, e := range ents {
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			if err != nil {
				return err
			}
			out = append(out, info(e.Name(), fi))
		}
		return nil
	})
	return out, err
}

func (f *FS) MkdirAll(ctx context.Context, p string) error {
	a, err := f.abs(p)
	if err != nil {
		return err
	}
	return f.do(ctx, func() error { return os.MkdirAll(a, 0o755) })
}

func (f *FS) Remove(ctx context.Context, p string) error {
	a, err := f.abs(p)
	if err != nil {
		return err
	}
	return f.do(ctx, func() error {
		if err := os.Remove(a); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

func (f *FS) Rename(ctx context.Context, from, to string) error {
	a, err := f.abs(from)
	if err != nil {
		return err
	}
	b, err := f.abs(to)
	if err != nil {
		return err
	}
	return f.do(ctx, func() error { return os.Rename(a, b) })
}

func (f *FS) Link(ctx context.Context, from, to string) error {
	a, err := f.abs(from)
	if err != nil {
		return err
	}
	b, err := f.abs(to)
	if err != nil {
		return err
	}
	return f.do(ctx, func() error { return os.Link(a, b) })
}

func (f *FS) Create(ctx context.Context, p string) (io.WriteCloser, error) {
	a, err := f.abs(p)
	if err != nil {
		return nil, err
	}
	var file *os.File
	err = f.do(ctx, func() error {
		var err error
		file, err = os.OpenFile(a, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &writer{f: f, ctx: ctx, file: file}, nil
}

type writer struct {
	f    *FS
	ctx  context.Context
	file *os.File
}

func (w *writer) Write(p []byte) (int, error) {
	var n int
	err := w.f.do(w.ctx, func() error {
		var err error
		n, err = w.file.Write(p)
		return err
	})
	return n, err
}

// Close syncs the file to stable storage, then closes it.
func (w *writer) Close() error {
	err := w.f.do(w.ctx, func() error { return w.file.Sync() })
	return errors.Join(err, w.file.Close())
}

func (f *FS) WriteFile(ctx context.Context, p string, data []byte) error {
	a, err := f.abs(p)
	if err != nil {
		return err
	}
	return f.do(ctx, func() error {
		file, err := os.OpenFile(a, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = file.Write(data)
		if err == nil {
			err = file.Sync()
		}
		return errors.Join(err, file.Close())
	})
}

func (f *FS) ReadAt(ctx context.Context, p string, off int64, n int) ([]byte, error) {
	a, err := f.abs(p)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = f.do(ctx, func() error {
		file, err := os.Open(a)
		if err != nil {
			return err
		}
		defer file.Close()
		buf := make([]byte, n)
		k, err := file.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		out = buf[:k]
		return nil
	})
	return out, err
}

func (f *FS) StatFS(ctx context.Context) (storage.Capacity, error) {
	var c storage.Capacity
	err := f.do(ctx, func() error {
		var st syscall.Statfs_t
		if err := syscall.Statfs(f.root, &st); err != nil {
			return err
		}
		bs := int64(st.Bsize)
		c.Total = int64(st.Blocks) * bs
		c.Used = (int64(st.Blocks) - int64(st.Bfree)) * bs
		c.Available = int64(st.Bavail) * bs
		return nil
	})
	return c, err
}

func (f *FS) Close() error { return nil }

var _ storage.FS = (*FS)(nil)
