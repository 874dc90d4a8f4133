package local

import (
	"fmt"
	"os"

	"github.com/atollcloud/atoll/storage"
)

// NewPool returns a primary storage pool in directory dir, created if missing.
func NewPool(id, dir string, o storage.PoolOptions) (storage.Pool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("local pool %s: %w", id, err)
	}
	return storage.NewPool(id, NewFS(dir), o), nil
}

// NewStore returns an image store in directory dir, created if missing.
func NewStore(dir string, o storage.StoreOptions) (*storage.ImageStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("local image store: %w", err)
	}
	return storage.NewImageStore(NewFS(dir), o), nil
}
