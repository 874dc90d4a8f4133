package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/hypervisor"
	"github.com/atollcloud/atoll/storage"
	"github.com/atollcloud/atoll/storage/local"
	"github.com/atollcloud/atoll/storage/nfs"
)

// HostStorage is a real host's storage: the primary pools and image stores its VMs' disks
// live on, opened on first use from the references the management server sends (a pool's
// id, type and URL), and kept open.
type HostStorage struct {
	// NFSMode is how NFS exports are reached: auto (kernel mount where the kernel has an NFS
	// client, else userspace), kernel or userspace.
	NFSMode nfs.Mode
	// MountRoot is where kernel-mode NFS exports are mounted (default /mnt).
	MountRoot string
	Log       *slog.Logger

	mu     sync.Mutex
	pools  map[string]storage.Pool
	stores map[string]*storage.ImageStore
}

func (h *HostStorage) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// Pool returns the open pool ref names, opening it first if needed: a NetworkFilesystem
// pool is nfs://host/export; a Filesystem (local) pool is file:///dir or a plain /dir.
func (h *HostStorage) Pool(ctx context.Context, ref protocol.PoolRef) (storage.Pool, error) {
	if ref.ID == "" {
		return nil, errors.New("storage: pool reference without an id")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.pools[ref.ID]; ok {
		return p, nil
	}
	if ref.URL == "" {
		return nil, fmt.Errorf("storage: pool %s is not open on this host and its reference has no url", ref.ID)
	}
	opts := storage.PoolOptions{Logger: h.log()}
	var p storage.Pool
	switch scheme(ref.URL) {
	case "nfs":
		c, err := nfs.ConfigFromURL(ref.URL, ref.ID, h.NFSMode)
		if err != nil {
			return nil, err
		}
		c.MountRoot = h.MountRoot
		if p, _, err = nfs.OpenPool(ctx, ref.ID, c, opts); err != nil {
			return nil, err
		}
	case "file", "":
		dir, err := localDir(ref.URL)
		if err != nil {
			return nil, fmt.Errorf("storage: pool %s: %w", ref.ID, err)
		}
		if p, err = local.NewPool(ref.ID, dir, opts); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("storage: pool %s: url %q: only nfs:// and file:// pools are supported", ref.ID, ref.URL)
	}
	if h.pools == nil {
		h.pools = map[string]storage.Pool{}
	}
	h.pools[ref.ID] = p
	return p, nil
}

// Store returns the open image store ref names (by its URL), opening it first if needed.
func (h *HostStorage) Store(ctx context.Context, ref protocol.ImageStoreRef) (*storage.ImageStore, error) {
	if ref.URL == "" {
		return nil, fmt.Errorf("storage: image store %s has no url", ref.ID)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.stores[ref.URL]; ok {
		return s, nil
	}
	opts := storage.StoreOptions{Logger: h.log()}
	var s *storage.ImageStore
	switch scheme(ref.URL) {
	case "nfs":
		c, err := nfs.ConfigFromURL(ref.URL, storeMountName(ref), h.NFSMode)
		if err != nil {
			return nil, err
		}
		c.MountRoot = h.MountRoot
		if s, _, err = nfs.OpenStore(ctx, c, opts); err != nil {
			return nil, err
		}
	case "file", "":
		dir, err := localDir(ref.URL)
		if err != nil {
			return nil, fmt.Errorf("storage: image store %s: %w", ref.ID, err)
		}
		if s, err = local.NewStore(dir, opts); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("storage: image store url %q: only nfs:// and file:// stores are supported", ref.URL)
	}
	if h.stores == nil {
		h.stores = map[string]*storage.ImageStore{}
	}
	h.stores[ref.URL] = s
	return s, nil
}

// Close closes every open pool and store.
func (h *HostStorage) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for id, p := range h.pools {
		errs = append(errs, p.Close())
		delete(h.pools, id)
	}
	for u, s := range h.stores {
		errs = append(errs, s.Close())
		delete(h.stores, u)
	}
	return errors.Join(errs...)
}

func scheme(raw string) string {
	if i := strings.Index(raw, "://"); i > 0 {
		return strings.ToLower(raw[:i])
	}
	return ""
}

func localDir(raw string) (string, error) {
	if scheme(raw) == "" {
		if !strings.HasPrefix(raw, "/") {
			return "", fmt.Errorf("local path %q is not absolute", raw)
		}
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Host != "" && u.Host != "localhost" || !strings.HasPrefix(u.Path, "/") {
		return "", fmt.Errorf("url %q: want file:///absolute/dir", raw)
	}
	return u.Path, nil
}

// storeMountName names an image store's kernel mount point: its id when it has one.
func storeMountName(ref protocol.ImageStoreRef) string {
	if ref.ID != "" {
		return ref.ID
	}
	return "store-" + strings.NewReplacer("/", "-", ":", "-").Replace(strings.TrimPrefix(ref.URL, "nfs://"))
}

// PrepareDisks makes sure every disk of spec exists on its pool (a new ROOT disk is a linked
// clone of its template, installed in the pool once; a new data disk is an empty qcow2) and
// tells the hypervisor where each is. created lists the volumes this call made, for the
// caller to remove if the VM then fails to start; disks that existed are never removed.
func (h *HostStorage) PrepareDisks(ctx context.Context, spec protocol.VMSpec) (disks []hypervisor.DiskSpec, created []func(context.Context) error, err error) {
	return h.disks(ctx, spec, true)
}

// FindDisks tells the hypervisor where each disk of spec is, creating none: a VM migrating
// here brings disks that exist on shared pools, and a missing one is an error.
func (h *HostStorage) FindDisks(ctx context.Context, spec protocol.VMSpec) ([]hypervisor.DiskSpec, error) {
	disks, _, err := h.disks(ctx, spec, false)
	return disks, err
}

func (h *HostStorage) disks(ctx context.Context, spec protocol.VMSpec, create bool) (disks []hypervisor.DiskSpec, created []func(context.Context) error, err error) {
	defer func() {
		if err != nil {
			for i := len(created) - 1; i >= 0; i-- {
				if uerr := created[i](context.WithoutCancel(ctx)); uerr != nil {
					h.log().Warn("undo disk", "vm", spec.Name, "err", uerr)
				}
			}
			created = nil
		}
	}()
	for _, d := range spec.Disks {
		ds := hypervisor.DiskSpec{VolumeID: d.VolumeID, Type: d.Type, DeviceID: d.DeviceID, Path: d.Path, PoolID: d.PoolID,
			Size: d.Size, Format: d.Format, Template: d.Template}
		if d.Rates != nil {
			ds.Limits = hypervisor.DiskLimits{ReadBytesSec: d.Rates.BytesReadRate, WriteBytesSec: d.Rates.BytesWriteRate,
				ReadIOPS: d.Rates.IOPSReadRate, WriteIOPS: d.Rates.IOPSWriteRate}
		}
		if d.Pool == nil {
			return nil, created, fmt.Errorf("disk %s of %s: no pool in the spec", d.VolumeID, spec.Name)
		}
		pool, err := h.Pool(ctx, *d.Pool)
		if err != nil {
			return nil, created, fmt.Errorf("disk %s of %s: %w", d.VolumeID, spec.Name, err)
		}
		name := d.Path
		if name == "" {
			name = d.VolumeID
		}
		ok, err := pool.Exists(ctx, name)
		if err != nil {
			return nil, created, fmt.Errorf("disk %s of %s: %w", d.VolumeID, spec.Name, err)
		}
		if !ok && !create {
			return nil, created, fmt.Errorf("disk %s of %s: not on pool %s", d.VolumeID, spec.Name, d.Pool.ID)
		}
		if !ok {
			if err := h.createDisk(ctx, pool, name, d); err != nil {
				return nil, created, fmt.Errorf("disk %s of %s: %w", d.VolumeID, spec.Name, err)
			}
			created = append(created, func(ctx context.Context) error { return pool.Delete(ctx, name) })
		}
		ds.Path, ds.Source = name, driverSource(pool.Source(name))
		disks = append(disks, ds)
	}
	return disks, created, nil
}

func (h *HostStorage) createDisk(ctx context.Context, pool storage.Pool, name string, d protocol.DiskSpec) error {
	if d.Type != "ROOT" || d.TemplateSource == nil {
		_, err := pool.Create(ctx, name, d.Size)
		return err
	}
	store, err := h.Store(ctx, d.TemplateSource.Store)
	if err != nil {
		return err
	}
	tmpl := d.Template
	if tmpl == "" {
		return errors.New("a template source without a template id")
	}
	if _, err := pool.InstallTemplate(ctx, tmpl, store.FS(), d.TemplateSource.Path, strings.ToLower(d.TemplateSource.Format)); err != nil {
		return err
	}
	_, err = pool.CreateFromTemplate(ctx, name, storage.TemplateName(tmpl), d.Size)
	return err
}

// ISOSource finds an ISO on its image store (opening the store if needed) and says where the
// hypervisor reads it: over NFS QEMU opens the export itself (a network CD-ROM), so nothing is
// copied to the host.
func (h *HostStorage) ISOSource(ctx context.Context, ref protocol.ImageFileRef) (hypervisor.DiskSource, error) {
	store, err := h.Store(ctx, ref.Store)
	if err != nil {
		return hypervisor.DiskSource{}, err
	}
	if _, err := store.Stat(ctx, ref.Path); err != nil {
		return hypervisor.DiskSource{}, fmt.Errorf("iso %s: %w", ref.Path, err)
	}
	return driverSource(store.FS().Source(ref.Path)), nil
}

// driverSource turns the storage layer's Source into the hypervisor's.
func driverSource(s storage.Source) hypervisor.DiskSource {
	if s.Kind == storage.SourceNetwork {
		return hypervisor.DiskSource{NFSHost: s.Host, NFSPath: s.Name}
	}
	return hypervisor.DiskSource{File: s.Path}
}

// poolCheckTimeout bounds a pool's check, stats and heartbeat on a host, well within the
// management server's wait for the answer: an NFS server that is gone or hung is answered as
// unreachable, never waited on.
const poolCheckTimeout = 10 * time.Second

// poolStats connects a pool (opening it if needed), checks it answers, writes this host's
// heartbeat in it, and reports its space. A pool that fails is closed, so that the next
// check reaches its server afresh (an NFS server restarted, a mount gone stale).
func (a *Agent) poolStats(ctx context.Context, ref protocol.PoolRef) (protocol.PoolStats, error) {
	ctx, cancel := context.WithTimeout(ctx, poolCheckTimeout)
	defer cancel()
	st, err := a.checkPool(ctx, ref)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("pool %s did not answer within %s: %w", ref.ID, poolCheckTimeout, err)
		}
		a.cfg.Storage.Forget(ref.ID)
	}
	return st, err
}

func (a *Agent) checkPool(ctx context.Context, ref protocol.PoolRef) (protocol.PoolStats, error) {
	p, err := a.cfg.Storage.Pool(ctx, ref)
	if err != nil {
		return protocol.PoolStats{}, err
	}
	if err := p.Check(ctx); err != nil {
		return protocol.PoolStats{}, err
	}
	c, err := p.Capacity(ctx)
	if err != nil {
		return protocol.PoolStats{}, err
	}
	if a.id != nil && a.id.guid != "" {
		// The heartbeat file says which hosts reach the pool (and when they last did).
		if err := p.Heartbeat(ctx, a.id.guid); err != nil {
			return protocol.PoolStats{}, err
		}
	}
	return protocol.PoolStats{CapacityBytes: c.Total, UsedBytes: c.Used, AvailableBytes: c.Available}, nil
}

// Forget closes an open pool and drops it (a pool that failed its check): the next use opens
// it again from its reference. Closing waits for nothing on the pool's server.
func (h *HostStorage) Forget(id string) {
	h.mu.Lock()
	p, ok := h.pools[id]
	delete(h.pools, id)
	h.mu.Unlock()
	if ok {
		go func() {
			if err := p.Close(); err != nil {
				h.log().Debug("close a pool that failed", "pool", id, "err", err)
			}
		}()
	}
}
