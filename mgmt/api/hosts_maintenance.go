package api

import (
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/host"
)

func reconnectHostStart(c *Call) (any, error) {
	h, err := c.hostForCall(c.S.DB.Read())
	if err != nil {
		return nil, err
	}
	return c.StartJob(host.JobType, h.ID)
}

// reconnectHostJob drops the host's agent connection and waits for the agent to connect
// again (host.Reconnect).
func reconnectHostJob(c *Call, _ *db.Job) (any, error) {
	h, err := host.Reconnect(c.Ctx, c.deps(), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	return c.hostObject(h.ID)
}

// prepareMaintenanceStart moves the host to PrepareForMaintenance in the transaction that
// writes the job (host.StartPrepareMaintenance).
func prepareMaintenanceStart(c *Call) (any, error) {
	jobID, hostID, err := host.StartPrepareMaintenance(c.Ctx, c.deps(), c.actor(), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: hostID}, nil
}

// prepareMaintenanceJob finishes the move to Maintenance (host.PrepareMaintenance).
func prepareMaintenanceJob(c *Call, _ *db.Job) (any, error) {
	id, err := host.PrepareMaintenance(c.Ctx, c.deps(), c.P.String("id"))
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
	if !host.InMaintenance(h.ResourceState) {
		return nil, ErrParam("Host %s is not in maintenance (resource state %s)", h.Name, h.ResourceState)
	}
	return c.StartJob(host.JobType, h.ID)
}

func cancelMaintenanceJob(c *Call, _ *db.Job) (any, error) {
	id, err := host.CancelMaintenance(c.Ctx, c.deps(), c.actor(), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	return c.hostObject(id)
}
