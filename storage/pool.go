package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PoolOptions tune NewPool.
type PoolOptions struct {
	QemuImg QemuImg
	Logger  *slog.Logger
	// OpTimeout bounds a metadata operation (create, info, resize, delete ...) whose context
	// has no deadline of its own. Default 2 minutes.
	OpTimeout time.Duration
	// HeartbeatTimeout bounds one heartbeat. Default 10 seconds.
	HeartbeatTimeout time.Duration
}

// NewPool returns the Pool over fs: qcow2 files in its root, handled with qemu-img through
// fs.Locate and with fs for what qemu-img cannot do. The pool owns fs and closes it.
func NewPool(id string, fs FS, o PoolOptions) Pool {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = 2 * time.Minute
	}
	if o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = 10 * time.Second
	}
	return &filePool{
		id:       id,
		fs:       fs,
		qemu:     o.QemuImg,
		log:      o.Logger.With("component", "storage", "pool", id),
		opts:     o,
		installs: map[string]*install{},
	}
}

type filePool struct {
	id   string
	fs   FS
	qemu QemuImg
	log  *slog.Logger
	opts PoolOptions

	mu       sync.Mutex
	installs map[string]*install // template name -> install in progress on this host
}

type install struct {
	done chan struct{}
	info VolumeInfo
	err  error
}

func (p *filePool) ID() string { return p.id }

func (p *filePool) Close() error { return p.fs.Close() }

// bound applies the default operation timeout when ctx has no deadline.
func (p *filePool) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, p.opts.OpTimeout)
}

func (p *filePool) errorf(op, name string, err error) error {
	return fmt.Errorf("pool %s: %s %s: %w", p.id, op, name, err)
}

func (p *filePool) Check(ctx context.Context) error {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	if fi, err := p.fs.Stat(ctx, "."); err != nil {
		return fmt.Errorf("pool %s: check: %w", p.id, err)
	} else if !fi.Dir {
		return fmt.Errorf("pool %s: check: the pool's root is not a directory", p.id)
	}
	if _, err := p.fs.StatFS(ctx); err != nil {
		return fmt.Errorf("pool %s: check: %w", p.id, err)
	}
	return nil
}

func (p *filePool) Capacity(ctx context.Context) (Capacity, error) {
	ctx, cancel := p.bound(ctx)
	defer cancel()
	c, err := p.fs.StatFS(ctx)
	if err != nil {
		return Capacity{}, fmt.Errorf("pool %s: capacity: %w", p.id, err)
	}
	return c, nil
}

func (p *filePool) Source(name string) Source { return p.fs.Source(name) }

func (p *filePool) Exists(ctx context.Context, name string) (bool, error) {
	if err := CheckName(name); err != nil {
		return false, err
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	_, err := p.fs.Stat(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, p.errorf("stat", name, err)
}

func (p *filePool) Info(ctx context.Context, name string) (VolumeInfo, error) {
	if err := CheckName(name); err != nil {
		return VolumeInfo{}, err
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	return p.info(ctx, name)
}

// info stats first so that a missing volume is ErrNotFound, not a qemu-img message.
func (p *filePool) info(ctx context.Context, name string) (VolumeInfo, error) {
	if _, err := p.fs.Stat(ctx, name); err != nil {
		return VolumeInfo{}, p.errorf("info", name, err)
	}
	ii, err := p.qemu.Info(ctx, p.fs.Locate(name), "qcow2")
	if err != nil {
		return VolumeInfo{}, p.errorf("info", name, err)
	}
	return VolumeInfo{
		Name:        name,
		Format:      ii.Format,
		VirtualSize: ii.VirtualSize,
		ActualSize:  ii.ActualSize,
		BackingFile: ii.BackingFile,
		Source:      p.fs.Source(name),
	}, nil
}

func (p *filePool) Create(ctx context.Context, name string, size int64) (VolumeInfo, error) {
	if err := CheckName(name); err != nil {
		return VolumeInfo{}, err
	}
	if size <= 0 {
		return VolumeInfo{}, p.errorf("create", name, fmt.Errorf("invalid size %d", size))
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	if v, ok, err := p.replay(ctx, name, func(v VolumeInfo) bool { return v.VirtualSize == size && v.BackingFile == "" }); ok || err != nil {
		return v, err
	}
	err := p.publish(ctx, name, func(tmp string) error {
		return p.qemu.Create(ctx, p.fs.Locate(tmp), size)
	})
	if err != nil {
		return VolumeInfo{}, p.errorf("create", name, err)
	}
	p.log.Info("volume created", "volume", name, "size", size)
	return p.info(ctx, name)
}

func (p *filePool) CreateFromTemplate(ctx context.Context, name, template string, size int64) (VolumeInfo, error) {
	if err := CheckName(name); err != nil {
		return VolumeInfo{}, err
	}
	if err := CheckName(template); err != nil {
		return VolumeInfo{}, err
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	// The backing file is named absolutely (the FS's Locate: /mnt/<pool>/template-x in kernel
	// mode, as CloudStack does, or nfs://host/export/template-x in userspace mode). QEMU 7.2's
	// nfs driver resolves a relative backing name wrongly (under the overlay's own path, not
	// its directory), so a relative name would break userspace clones. A pool's clones are
	// thus tied to the mode that created them.
	backing := p.fs.Locate(template)
	if v, ok, err := p.replay(ctx, name, func(v VolumeInfo) bool { return v.BackingFile == backing }); ok || err != nil {
		return v, err
	}
	tmpl, err := p.info(ctx, template)
	if err != nil {
		return VolumeInfo{}, p.errorf("clone", name, err)
	}
	if size < tmpl.VirtualSize {
		size = 0 // the template's size
	}
	err = p.publish(ctx, name, func(tmp string) error {
		return p.qemu.CreateOverlay(ctx, p.fs.Locate(tmp), backing, tmpl.Format, size)
	})
	if err != nil {
		return VolumeInfo{}, p.errorf("clone", name, err)
	}
	p.log.Info("volume cloned", "volume", name, "template", template, "size", size)
	return p.info(ctx, name)
}

// replay returns an existing volume that same reports as the one asked for again (ok), an
// ErrExists error for a different one, and ok false when there is none.
func (p *filePool) replay(ctx context.Context, name string, same func(VolumeInfo) bool) (VolumeInfo, bool, error) {
	if _, err := p.fs.Stat(ctx, name); errors.Is(err, ErrNotFound) {
		return VolumeInfo{}, false, nil
	} else if err != nil {
		return VolumeInfo{}, false, p.errorf("stat", name, err)
	}
	v, err := p.info(ctx, name)
	if err != nil {
		return VolumeInfo{}, false, err
	}
	if !same(v) {
		return VolumeInfo{}, false, p.errorf("create", name, fmt.Errorf("%w: a different volume has this name", ErrExists))
	}
	return v, true, nil
}

// publish has write create a file at a hidden temporary name, then links it to name, which
// never replaces an existing file, and removes the temporary name. So name is either absent
// or complete, whatever crashes or races.
func (p *filePool) publish(ctx context.Context, name string, write func(tmp string) error) error {
	return publishFile(ctx, p.fs, name, write)
}

func publishFile(ctx context.Context, fs FS, name string, write func(tmp string) error) error {
	tmp := tempName(name, randomTag())
	defer func() {
		// The temporary name goes even when ctx has expired, within its own deadline.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		fs.Remove(cctx, tmp)
	}()
	if err := write(tmp); err != nil {
		return err
	}
	return fs.Link(ctx, tmp, name)
}

func randomTag() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (p *filePool) Resize(ctx context.Context, name string, size int64, shrink bool) (VolumeInfo, error) {
	if err := CheckName(name); err != nil {
		return VolumeInfo{}, err
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	v, err := p.info(ctx, name)
	if err != nil {
		return VolumeInfo{}, err
	}
	switch {
	case size <= 0:
		return VolumeInfo{}, p.errorf("resize", name, fmt.Errorf("invalid size %d", size))
	case size == v.VirtualSize:
		return v, nil
	case size < v.VirtualSize && !shrink:
		return VolumeInfo{}, p.errorf("resize", name, fmt.Errorf("shrinking from %d to %d bytes needs shrink", v.VirtualSize, size))
	}
	if err := p.qemu.Resize(ctx, p.fs.Locate(name), size, size < v.VirtualSize); err != nil {
		return VolumeInfo{}, p.errorf("resize", name, err)
	}
	p.log.Info("volume resized", "volume", name, "from", v.VirtualSize, "to", size)
	return p.info(ctx, name)
}

func (p *filePool) Delete(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	if err := p.fs.Remove(ctx, name); err != nil {
		return p.errorf("delete", name, err)
	}
	p.log.Info("volume deleted", "volume", name)
	return nil
}

func (p *filePool) Heartbeat(ctx context.Context, hostID string) error {
	if err := CheckName(hostID); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.HeartbeatTimeout)
	defer cancel()
	path := heartbeatPath(hostID)
	data := []byte(hostID + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + "\n")
	err := p.fs.WriteFile(ctx, path, data)
	if errors.Is(err, ErrNotFound) {
		if err = p.fs.MkdirAll(ctx, HeartbeatDir); err == nil {
			err = p.fs.WriteFile(ctx, path, data)
		}
	}
	if err != nil {
		return fmt.Errorf("pool %s: heartbeat: %w", p.id, err)
	}
	got, err := p.fs.ReadAt(ctx, path, 0, len(data)+1)
	if err != nil {
		return fmt.Errorf("pool %s: heartbeat read back: %w", p.id, err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("pool %s: heartbeat read back %q, wrote %q", p.id, got, data)
	}
	return nil
}

func (p *filePool) LastHeartbeat(ctx context.Context, hostID string) (time.Time, error) {
	if err := CheckName(hostID); err != nil {
		return time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.HeartbeatTimeout)
	defer cancel()
	b, err := p.fs.ReadAt(ctx, heartbeatPath(hostID), 0, 512)
	if err != nil {
		return time.Time{}, fmt.Errorf("pool %s: heartbeat of %s: %w", p.id, hostID, err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 || f[0] != hostID {
		return time.Time{}, fmt.Errorf("pool %s: heartbeat of %s: unreadable %q", p.id, hostID, b)
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("pool %s: heartbeat of %s: unreadable %q", p.id, hostID, b)
	}
	return time.Unix(0, ns), nil
}

func (p *filePool) Replace(ctx context.Context, from, to string) error {
	if err := CheckName(from); err != nil {
		return err
	}
	if err := CheckName(to); err != nil {
		return err
	}
	ctx, cancel := p.bound(ctx)
	defer cancel()
	if err := p.fs.Rename(ctx, from, to); err != nil {
		return p.errorf("replace", to, err)
	}
	return nil
}
