package api

import (
	"context"
	"strings"
	"time"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/agents"
)

func reconnectHostStart(c *Call) (any, error) {
	h, err := c.hostForCall(c.S.DB.Read())
	if err != nil {
		return nil, err
	}
	return c.StartJob("Host", h.ID)
}

// reconnectHostJob drops the host's agent connection and waits for the agent to connect
// again (a simulated host's agent is restarted; a real one is told to reconnect).
func reconnectHostJob(c *Call, _ *db.Job) (any, error) {
	m, err := c.agents()
	if err != nil {
		return nil, err
	}
	h, err := c.hostForCall(c.S.DB.Read())
	if err != nil {
		return nil, err
	}
	sim := strings.HasPrefix(h.GUID, agents.SimGUIDPrefix)
	switch {
	case sim && (h.Owner == "" || h.Owner == m.ServerID() || h.Status != db.HostStatusUp):
		m.StopSimulator(h.ID)
		if err := m.StartSimulator(c.Ctx, h.ID); err != nil {
			return nil, ErrInternal("Failed to reconnect host %s: %s", h.Name, c.cause(err))
		}
	case h.Status == db.HostStatusUp || h.Status == db.HostStatusConnecting:
		ctx, cancel := context.WithTimeout(c.Ctx, 10*time.Second)
		ans, err := m.Send(ctx, h.ID, protocol.CmdReconnect, nil)
		cancel()
		if err != nil {
			return nil, ErrInternal("Failed to reconnect host %s: %s", h.Name, c.cause(err))
		}
		if !ans.OK {
			return nil, ErrInternal("Failed to reconnect host %s: %s", h.Name, ans.Error)
		}
	default:
		return nil, ErrInternal("Host %s is %s: its agent is not connected to any management server, and reconnects by itself when it can reach one", h.Name, h.Status)
	}
	v0 := h.Version
	h, err = c.waitHost(h.ID, reconnectWait, func(n *db.Host) bool { return n.Version != v0 && n.Status == db.HostStatusUp })
	if err != nil {
		return nil, err
	}
	if h.Status != db.HostStatusUp {
		return nil, ErrInternal("Host %s did not reconnect within %v (state %s)", h.Name, reconnectWait, h.Status)
	}
	return c.hostObject(h.ID)
}

func canMaintain(rs string) bool {
	switch rs {
	case db.HostResourceEnabled, db.HostResourceDisabled, db.HostResourceErrorInMaint, db.HostResourceErrorInPrepare:
		return true
	}
	return false
}

func inMaintenance(rs string) bool {
	switch rs {
	case db.HostResourcePrepareMaint, db.HostResourceMaintenance, db.HostResourceErrorInMaint, db.HostResourceErrorInPrepare:
		return true
	}
	return false
}

// prepareMaintenanceStart moves the host to PrepareForMaintenance in the transaction that
// writes the job.
func prepareMaintenanceStart(c *Call) (any, error) {
	var jobID, hostID string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		h, err := c.hostForCall(tx)
		if err != nil {
			return err
		}
		if !canMaintain(h.ResourceState) {
			return ErrParam("Host %s is in resource state %s: it cannot be put into maintenance", h.Name, h.ResourceState)
		}
		h.ResourceState = db.HostResourcePrepareMaint
		if err := db.UpdateHost(c.Ctx, tx, h); err != nil {
			return err
		}
		hostID = h.ID
		if jobID, err = c.EnqueueJob(tx, "Host", h.ID); err != nil {
			return err
		}
		return c.Event(tx, "MAINT.PREPARE", "Preparing host "+h.Name+" for maintenance", "Host", h.ID)
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: hostID}, nil
}

// prepareMaintenanceJob finishes the move to Maintenance once nothing runs on the host (no VM
// runs anywhere yet, so at once) and takes the host's capacity out of the ledger's sums.
func prepareMaintenanceJob(c *Call, _ *db.Job) (any, error) {
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		h, err := c.hostForCall(tx)
		if err != nil {
			return err
		}
		id = h.ID
		switch h.ResourceState {
		case db.HostResourceMaintenance:
			return nil // done by an earlier run of this job
		case db.HostResourcePrepareMaint:
		default:
			return ErrInternal("Host %s left PrepareForMaintenance (now %s): maintenance was cancelled", h.Name, h.ResourceState)
		}
		h.ResourceState = db.HostResourceMaintenance
		if err := db.UpdateHost(c.Ctx, tx, h); err != nil {
			return err
		}
		return db.SetCapacityEnabled(c.Ctx, tx, h.ID, false)
	})
	if err != nil {
		return nil, err
	}
	return c.hostObject(id)
}

func cancelMaintenanceStart(c *Call) (any, error) {
	h, err := c.hostForCall(c.S.DB.Read())
	if err != nil {
		return nil, err
	}
	if !inMaintenance(h.ResourceState) {
		return nil, ErrParam("Host %s is not in maintenance (resource state %s)", h.Name, h.ResourceState)
	}
	return c.StartJob("Host", h.ID)
}

func cancelMaintenanceJob(c *Call, _ *db.Job) (any, error) {
	var id string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		h, err := c.hostForCall(tx)
		if err != nil {
			return err
		}
		id = h.ID
		if h.ResourceState == db.HostResourceEnabled {
			return nil // done by an earlier run of this job
		}
		if !inMaintenance(h.ResourceState) {
			return ErrInternal("Host %s is not in maintenance (resource state %s)", h.Name, h.ResourceState)
		}
		h.ResourceState = db.HostResourceEnabled
		if err := db.UpdateHost(c.Ctx, tx, h); err != nil {
			return err
		}
		if err := db.SetCapacityEnabled(c.Ctx, tx, h.ID, true); err != nil {
			return err
		}
		return c.Event(tx, "MAINT.CANCEL", "Cancelling maintenance of host "+h.Name, "Host", h.ID)
	})
	if err != nil {
		return nil, err
	}
	return c.hostObject(id)
}
