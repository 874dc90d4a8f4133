package agents

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

var errSimRemoved = errors.New("the host was removed")

// registerHost creates or updates the host of a registering agent: a known guid keeps its
// host (same id, back to Up); a new one is placed by its hints (zone, pod, cluster) or, with
// none that resolve, waits unbound until addHost names its address.
func (m *Manager) registerHost(ctx context.Context, s *session, r *protocol.Register) (*db.Host, error) {
	var out *db.Host
	err := m.db.Transaction(ctx, func(tx db.Tx) error {
		now := db.Now()
		// Most registrations are of known hosts (reconnects), but in a crowd of new ones the
		// full host read (with its zone, pod and cluster names) is a cost: look first.
		_, err := db.HostIDByGUID(ctx, tx, r.GUID)
		var h *db.Host
		if err == nil {
			h, err = db.GetHostByGUID(ctx, tx, r.GUID)
		}
		isNew := errors.Is(err, db.ErrNotFound)
		switch {
		case isNew && s.sim:
			return fmt.Errorf("simulated host %s: %w", r.GUID, errSimRemoved)
		case isNew:
			h = &db.Host{ID: uuid.NewString(), GUID: r.GUID, Name: r.Name, Type: db.HostTypeUnbound, Created: now,
				Status: db.HostStatusConnecting, ResourceState: db.HostResourceCreating}
			if h.Name == "" {
				h.Name = r.Address
			}
			if p, err := db.ResolvePlacement(ctx, tx, r.Zone, r.Pod, r.Cluster); err == nil {
				if !strings.EqualFold(p.ClusterHypervisor, r.HypervisorType) {
					m.log.Warn("agent's cluster hint is of another hypervisor; waiting for addHost", "guid", r.GUID,
						"cluster", p.ClusterName, "cluster_hypervisor", p.ClusterHypervisor, "agent_hypervisor", r.HypervisorType)
				} else {
					h.ZoneID, h.PodID, h.ClusterID = p.ZoneID, p.PodID, p.ClusterID
					h.Type, h.ResourceState = db.HostTypeRouting, db.HostResourceEnabled
					h.URL = "http://" + r.Address
				}
			}
		case err != nil:
			return err
		}
		if !s.sim && r.Address != "" {
			h.IPAddress = r.Address
		} else if h.IPAddress == "" {
			h.IPAddress = s.remoteIP
		}
		h.HypervisorType = r.HypervisorType
		h.HypervisorVersion = r.HypervisorVersion
		h.CPUSockets, h.CPUs, h.CPUSpeed = r.CPUSockets, r.CPUCores, r.CPUSpeedMHz
		h.Memory, h.LocalStorage = r.MemoryBytes, r.LocalStorageBytes
		h.Capabilities = strings.Join(r.Capabilities, ",")
		h.AgentVersion = r.AgentVersion
		h.Owner, h.LastPing = m.id, now
		if s.certSerial != "" {
			h.CertSerial = s.certSerial
		}
		if h.Unbound() {
			h.Status = db.HostStatusConnecting
		} else {
			h.Status = db.HostStatusUp
		}
		if isNew {
			if err := db.InsertHost(ctx, tx, h); err != nil {
				if db.IsDuplicate(err) {
					return db.ErrConflict // registered concurrently elsewhere: read it again
				}
				return err
			}
		} else if err := db.UpdateHost(ctx, tx, h); err != nil {
			return err
		}
		if !h.Unbound() {
			write := SetHostCapacity
			if isNew {
				write = insertHostCapacity // a new host has no ledger rows: one statement
			}
			if err := write(ctx, tx, h); err != nil {
				return err
			}
		}
		out = h
		return nil
	})
	return out, err
}

// hostCapacity is a host's rows of the capacity ledger: CPU (cores x MHz), memory and CPU cores.
func hostCapacity(h *db.Host) []db.Capacity {
	var out []db.Capacity
	for _, c := range []struct {
		typ   int
		total int64
	}{{db.CapCPU, int64(h.CPUs) * h.CPUSpeed}, {db.CapMemory, h.Memory}, {db.CapCPUCore, int64(h.CPUs)}} {
		out = append(out, db.Capacity{Type: c.typ, ObjectID: h.ID, ZoneID: h.ZoneID, PodID: h.PodID, ClusterID: h.ClusterID, Total: c.total})
	}
	return out
}

// SetHostCapacity writes a host's totals to the capacity ledger: CPU (cores x MHz), memory
// and CPU cores.
func SetHostCapacity(ctx context.Context, q db.Querier, h *db.Host) error {
	for _, c := range hostCapacity(h) {
		if err := db.SetCapacityTotal(ctx, q, c); err != nil {
			return err
		}
	}
	return nil
}

func insertHostCapacity(ctx context.Context, q db.Querier, h *db.Host) error {
	return db.InsertCapacityRows(ctx, q, hostCapacity(h))
}
