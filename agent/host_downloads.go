package agent

import (
	"context"
	"sync"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/storage"
)

// downloads are the template downloads a real host runs into its image stores, by copy id.
// A download runs on after the command that started it has been answered; the management
// server polls it with the same command. A finished one is remembered for a while so that
// its last poll finds the outcome.
type downloads struct {
	mu sync.Mutex
	m  map[string]*download
}

type download struct {
	status   protocol.DownloadStatus
	finished time.Time
}

// downloadKeep is how long a finished download's outcome is kept for its last poll.
const downloadKeep = 10 * time.Minute

func (a *Agent) downloadTemplate(ctx context.Context, r protocol.DownloadTemplate) (protocol.DownloadStatus, error) {
	store, err := a.cfg.Storage.Store(ctx, r.Store)
	if err != nil {
		return protocol.DownloadStatus{}, err
	}
	d := &a.downloads
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	for id, x := range d.m {
		if !x.finished.IsZero() && now.Sub(x.finished) > downloadKeep {
			delete(d.m, id)
		}
	}
	if x, ok := d.m[r.ID]; ok {
		return x.status, nil
	}
	if d.m == nil {
		d.m = map[string]*download{}
	}
	x := &download{status: protocol.DownloadStatus{State: protocol.DownloadInProgress, Status: "0% Downloaded"}}
	d.m[r.ID] = x
	go func() {
		// Not the command's context: the download outlives the command that started it.
		res, err := store.Download(context.WithoutCancel(ctx), storage.DownloadRequest{URL: r.URL, Path: r.Path, Checksum: r.Checksum,
			Format: r.Format, MaxBytes: r.MaxBytes, Progress: func(done, total int64) {
				d.mu.Lock()
				defer d.mu.Unlock()
				x.status.Status = storage.DownloadStatus(done, total)
				if total > 0 {
					x.status.Pct = int(min(99, done*100/total))
				}
			}})
		d.mu.Lock()
		defer d.mu.Unlock()
		x.finished = time.Now()
		if err != nil {
			x.status = protocol.DownloadStatus{State: protocol.DownloadError, Pct: x.status.Pct, Status: x.status.Status, Error: err.Error()}
			a.log.Warn("template download failed", "id", r.ID, "url", r.URL, "err", err)
			return
		}
		x.status = protocol.DownloadStatus{State: protocol.DownloadDone, Pct: 100, Status: "100% Downloaded", Size: res.VirtualSize,
			PhysicalSize: res.Size, Path: res.Path}
		a.log.Info("template downloaded", "id", r.ID, "url", r.URL, "path", res.Path, "bytes", res.Size)
	}()
	return x.status, nil
}
