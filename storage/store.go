package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// StoreOptions tune NewImageStore.
type StoreOptions struct {
	QemuImg    QemuImg
	Logger     *slog.Logger
	HTTPClient *http.Client // default: http.DefaultClient's transport, no overall timeout
	// MaxBytes is the largest download accepted when a request sets none (CloudStack's
	// max.template.iso.size is 50 GB). Default 50 GiB.
	MaxBytes int64
	// ProgressEvery is the least time between two progress reports. Default 1 second.
	ProgressEvery time.Duration
	// OpTimeout bounds a metadata operation whose context has no deadline. Default 2 minutes.
	OpTimeout time.Duration
}

// ImageStore is a secondary storage (image store): templates, ISOs and snapshot backups, on
// an NFS export or a host directory.
type ImageStore struct {
	fs   FS
	qemu QemuImg
	log  *slog.Logger
	http *http.Client
	opts StoreOptions
}

// NewImageStore returns the store over fs; the store owns fs and closes it.
func NewImageStore(fs FS, o StoreOptions) *ImageStore {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 50 << 30
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = time.Second
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = 2 * time.Minute
	}
	return &ImageStore{fs: fs, qemu: o.QemuImg, log: o.Logger.With("component", "imagestore"), http: o.HTTPClient, opts: o}
}

// FS is the store's file side, for Pool.InstallTemplate, BackupSnapshot and
// CreateFromSnapshot.
func (s *ImageStore) FS() FS { return s.fs }

// Close closes the store's FS.
func (s *ImageStore) Close() error { return s.fs.Close() }

func (s *ImageStore) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.opts.OpTimeout)
}

// Capacity reports the store's space.
func (s *ImageStore) Capacity(ctx context.Context) (Capacity, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	c, err := s.fs.StatFS(ctx)
	if err != nil {
		return Capacity{}, fmt.Errorf("image store: capacity: %w", err)
	}
	return c, nil
}

// Stat returns a stored file's size.
func (s *ImageStore) Stat(ctx context.Context, path string) (FileInfo, error) {
	if err := CheckPath(path); err != nil {
		return FileInfo{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	fi, err := s.fs.Stat(ctx, path)
	if err != nil {
		return FileInfo{}, fmt.Errorf("image store: %w", err)
	}
	return fi, nil
}

// Delete removes a template, ISO or snapshot backup; a missing one is not an error.
func (s *ImageStore) Delete(ctx context.Context, path string) error {
	if err := CheckPath(path); err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.fs.Remove(ctx, path); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("image store: delete %s: %w", path, err)
	}
	return nil
}
