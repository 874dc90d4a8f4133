package nfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/atollcloud/atoll/storage"
	"github.com/atollcloud/atoll/storage/internal/nfs3"
)

// userFS reaches an export without a kernel mount: qemu-img gets nfs:// URLs (libnfs in
// qemu-block-extra), everything else goes through the NFSv3 client.
type userFS struct {
	host, export string
	c            *nfs3.Client
}

// DialUserspace connects to an export in userspace.
func DialUserspace(ctx context.Context, host, export string) (storage.FS, error) {
	c, err := nfs3.Dial(ctx, host, export, nfs3.Options{})
	if err != nil {
		return nil, err
	}
	return &userFS{host: host, export: export, c: c}, nil
}

func (u *userFS) Locate(p string) string { return URL(u.host, u.export, p) }

func (u *userFS) Source(p string) storage.Source {
	return storage.Source{Kind: storage.SourceNetwork, Protocol: "nfs", Host: u.host, Name: path.Join("/", u.export, p)}
}

func fileInfo(name string, a *nfs3.Attr) storage.FileInfo {
	if a == nil {
		return storage.FileInfo{Name: name}
	}
	return storage.FileInfo{Name: name, Size: int64(a.Size), Used: int64(a.Used), Dir: a.IsDir(), ModTime: a.MTime}
}

func (u *userFS) Stat(ctx context.Context, p string) (storage.FileInfo, error) {
	a, err := u.c.Stat(ctx, p)
	if err != nil {
		return storage.FileInfo{}, err
	}
	return fileInfo(path.Base(p), a), nil
}

func (u *userFS) ReadDir(ctx context.Context, p string) ([]storage.FileInfo, error) {
	ents, err := u.c.ReadDir(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]storage.FileInfo, 0, len(ents))
	for _, e := range ents {
		out = append(out, fileInfo(e.Name, e.Attr))
	}
	return out, nil
}

func (u *userFS) MkdirAll(ctx context.Context, p string) error { return u.c.MkdirAll(ctx, p, 0o755) }

func (u *userFS) Remove(ctx context.Context, p string) error {
	err := u.c.Remove(ctx, p)
	if errors.Is(err, nfs3.ErrIsDir) {
		err = u.c.Rmdir(ctx, p)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (u *userFS) Rename(ctx context.Context, from, to string) error { return u.c.Rename(ctx, from, to) }

func (u *userFS) Link(ctx context.Context, from, to string) error { return u.c.Link(ctx, from, to) }

func (u *userFS) Create(ctx context.Context, p string) (io.WriteCloser, error) {
	return u.c.Create(ctx, p, 0o644)
}

func (u *userFS) WriteFile(ctx context.Context, p string, data []byte) error {
	return u.c.WriteFile(ctx, p, data, 0o644)
}

func (u *userFS) ReadAt(ctx context.Context, p string, off int64, n int) ([]byte, error) {
	return u.c.ReadAt(ctx, p, off, n)
}

func (u *userFS) StatFS(ctx context.Context) (storage.Capacity, error) {
	s, err := u.c.StatFS(ctx)
	if err != nil {
		return storage.Capacity{}, err
	}
	return storage.Capacity{Total: int64(s.Total), Used: int64(s.Total - s.Free), Available: int64(s.Avail)}, nil
}

func (u *userFS) Close() error { return u.c.Close() }

// dialTimeout bounds connecting to an export when the caller's context has no deadline.
const dialTimeout = 30 * time.Second

func withDefault(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

var errNoHost = errors.New("nfs: no host or export")
