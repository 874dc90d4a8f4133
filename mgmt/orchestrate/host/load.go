package host

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Load loads a listed host by id, with CloudStack's error for an unknown (or unbound) one.
func Load(ctx context.Context, q db.Querier, id string) (*db.Host, error) {
	id = strings.ToLower(id)
	h, err := db.GetHost(ctx, q, id)
	if errors.Is(err, db.ErrNotFound) || err == nil && h.Unbound() {
		return nil, orchestrate.ErrParam("Unable to find host by id %s", id)
	}
	return h, err
}

// wait polls a host until ok or the wait is over, and returns it as last read.
func wait(ctx context.Context, d *orchestrate.Deps, id string, within time.Duration, ok func(*db.Host) bool) (*db.Host, error) {
	deadline := time.Now().Add(within)
	for {
		h, err := db.GetHost(ctx, d.DB.Read(), id)
		if err != nil {
			return nil, err
		}
		if ok(h) || time.Now().After(deadline) {
			return h, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
