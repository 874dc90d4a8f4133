package nfs

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/atollcloud/atoll/storage"
	"github.com/atollcloud/atoll/storage/local"
)

// Open reaches an export in the configured mode (ModeAuto probes the kernel) and returns its
// FS and the mode used.
func Open(ctx context.Context, c Config) (storage.FS, Mode, error) {
	if c.Host == "" || c.Export == "" {
		return nil, "", errNoHost
	}
	mode, why := c.pick()
	ctx, cancel := withDefault(ctx, dialTimeout)
	defer cancel()
	switch mode {
	case ModeUserspace:
		fs, err := DialUserspace(ctx, c.Host, c.Export)
		if err != nil {
			return nil, mode, err
		}
		return fs, mode, nil
	case ModeKernel:
		if err := storage.CheckName(c.ID); err != nil {
			return nil, mode, fmt.Errorf("nfs: mount point name: %w", err)
		}
		root := c.MountRoot
		if root == "" {
			root = "/mnt"
		}
		target := filepath.Join(root, c.ID)
		if err := mountKernel(ctx, c, target); err != nil {
			return nil, mode, err
		}
		return local.NewGuardedFS(target), mode, nil
	}
	return nil, mode, fmt.Errorf("nfs: mode %q unknown (%s)", mode, why)
}

// OpenPool opens NFS primary storage pool id (its uuid: the kernel mount point's name).
func OpenPool(ctx context.Context, id string, c Config, o storage.PoolOptions) (storage.Pool, Mode, error) {
	c.ID = id
	fs, mode, err := Open(ctx, c)
	if err != nil {
		return nil, mode, fmt.Errorf("pool %s: %w", id, err)
	}
	if o.Logger != nil {
		o.Logger.Info("nfs pool opened", "pool", id, "host", c.Host, "export", c.Export, "mode", string(mode))
	}
	return storage.NewPool(id, fs, o), mode, nil
}

// OpenStore opens an NFS image store (secondary storage); c.ID names its mount point.
func OpenStore(ctx context.Context, c Config, o storage.StoreOptions) (*storage.ImageStore, Mode, error) {
	fs, mode, err := Open(ctx, c)
	if err != nil {
		return nil, mode, fmt.Errorf("image store: %w", err)
	}
	return storage.NewImageStore(fs, o), mode, nil
}
