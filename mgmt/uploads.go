package mgmt

import (
	"context"
	"strconv"
	"time"

	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
)

// uploadMonitorEvery is how often uploads that never came are abandoned (CloudStack's
// upload.monitoring.interval).
const uploadMonitorEvery = time.Minute

// watchUploads marks abandoned, every uploadMonitorEvery, the volumes and template copies that
// waited for their POSTed bytes longer than upload.operation.timeout, after which their upload
// URL no longer works. Every server runs it; the updates are conditional.
func (s *Server) watchUploads(ctx context.Context, d *orchestrate.Deps) {
	t := time.NewTicker(uploadMonitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mins := 10
		if v, err := d.Config.Get(ctx, config.Global, "", "upload.operation.timeout"); err == nil {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				mins = n
			}
		}
		timeout := time.Duration(mins) * time.Minute
		if err := volume.AbandonUploads(ctx, d, timeout); err != nil && ctx.Err() == nil {
			s.log.Warn("abandon volume uploads", "err", err)
		}
		if err := template.AbandonUploads(ctx, d, timeout); err != nil && ctx.Err() == nil {
			s.log.Warn("abandon template uploads", "err", err)
		}
	}
}
