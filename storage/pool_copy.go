package storage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"
)

// Copies between a pool and a secondary store. They run qemu-img convert, which takes as
// long as the data does: the caller's context is the only bound.

func (p *filePool) InstallTemplate(ctx context.Context, templateID string, from FS, src, format string) (VolumeInfo, error) {
	name := TemplateName(templateID)
	if err := CheckName(name); err != nil {
		return VolumeInfo{}, err
	}
	if err := CheckPath(src); err != nil {
		return VolumeInfo{}, err
	}
	switch format {
	case "qcow2", "raw":
	default:
		return VolumeInfo{}, p.errorf("install template", name, fmt.Errorf("format %q: only qcow2 and raw templates go to primary storage", format))
	}
	// One install per template on this host; others wait for it and share its result.
	p.mu.Lock()
	if in, ok := p.installs[name]; ok {
		p.mu.Unlock()
		select {
		case <-in.done:
			return in.info, in.err
		case <-ctx.Done():
			return VolumeInfo{}, p.errorf("install template", name, ctx.Err())
		}
	}
	in := &install{done: make(chan struct{})}
	p.installs[name] = in
	p.mu.Unlock()
	in.info, in.err = p.install(ctx, name, from, src, format)
	p.mu.Lock()
	delete(p.installs, name)
	p.mu.Unlock()
	close(in.done)
	return in.info, in.err
}

func (p *filePool) install(ctx context.Context, name string, from FS, src, format string) (VolumeInfo, error) {
	if _, err := p.fs.Stat(ctx, name); err == nil {
		return p.info(ctx, name) // installed before
	} else if !errors.Is(err, ErrNotFound) {
		return VolumeInfo{}, p.errorf("install template", name, err)
	}
	if _, err := from.Stat(ctx, src); err != nil {
		return VolumeInfo{}, p.errorf("install template", name, fmt.Errorf("on secondary storage: %w", err))
	}
	start := time.Now()
	err := p.publish(ctx, name, func(tmp string) error {
		return p.qemu.Convert(ctx, from.Locate(src), format, p.fs.Locate(tmp), "qcow2")
	})
	if errors.Is(err, ErrExists) {
		// Another host sharing the pool installed it first; its copy is complete.
		p.log.Info("template installed by another host", "template", name)
		return p.info(ctx, name)
	}
	if err != nil {
		return VolumeInfo{}, p.errorf("install template", name, err)
	}
	p.log.Info("template installed", "template", name, "from", from.Locate(src), "took", time.Since(start))
	return p.info(ctx, name)
}

func (p *filePool) BackupSnapshot(ctx context.Context, name string, to FS, dst string) (Backup, error) {
	if err := CheckName(name); err != nil {
		return Backup{}, err
	}
	if err := CheckPath(dst); err != nil {
		return Backup{}, err
	}
	if _, err := p.fs.Stat(ctx, name); err != nil {
		return Backup{}, p.errorf("backup", name, err)
	}
	if dir := path.Dir(dst); dir != "." {
		if err := to.MkdirAll(ctx, dir); err != nil {
			return Backup{}, p.errorf("backup", name, err)
		}
	}
	start := time.Now()
	err := publishFile(ctx, to, dst, func(tmp string) error {
		return p.qemu.Convert(ctx, p.fs.Locate(name), "qcow2", to.Locate(tmp), "qcow2")
	})
	if errors.Is(err, ErrExists) {
		err = fmt.Errorf("%w: backup %s exists on secondary storage", ErrExists, dst)
	}
	if err != nil {
		return Backup{}, p.errorf("backup", name, err)
	}
	fi, err := to.Stat(ctx, dst)
	if err != nil {
		return Backup{}, p.errorf("backup", name, err)
	}
	ii, err := p.qemu.Info(ctx, to.Locate(dst), "qcow2")
	if err != nil {
		return Backup{}, p.errorf("backup", name, err)
	}
	p.log.Info("snapshot backed up", "volume", name, "to", to.Locate(dst), "took", time.Since(start))
	return Backup{Path: dst, PhysicalSize: fi.Used, VirtualSize: ii.VirtualSize}, nil
}

func (p *filePool) CreateFromSnapshot(ctx context.Context, name string, from FS, src string, size int64) (VolumeInfo, error) {
	if err := CheckName(name); err != nil {
		return VolumeInfo{}, err
	}
	if err := CheckPath(src); err != nil {
		return VolumeInfo{}, err
	}
	if _, err := from.Stat(ctx, src); err != nil {
		return VolumeInfo{}, p.errorf("create from snapshot", name, fmt.Errorf("on secondary storage: %w", err))
	}
	if v, ok, err := p.replay(ctx, name, func(v VolumeInfo) bool { return v.BackingFile == "" && v.VirtualSize >= size }); ok || err != nil {
		return v, err
	}
	err := p.publish(ctx, name, func(tmp string) error {
		loc := p.fs.Locate(tmp)
		if err := p.qemu.Convert(ctx, from.Locate(src), "qcow2", loc, "qcow2"); err != nil {
			return err
		}
		ii, err := p.qemu.Info(ctx, loc, "qcow2")
		if err != nil {
			return err
		}
		if size > ii.VirtualSize {
			return p.qemu.Resize(ctx, loc, size, false)
		}
		return nil
	})
	if err != nil {
		return VolumeInfo{}, p.errorf("create from snapshot", name, err)
	}
	p.log.Info("volume created from snapshot", "volume", name, "from", from.Locate(src))
	return p.info(ctx, name)
}
