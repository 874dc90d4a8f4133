package host

import (
	"context"
	"sync"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
)

// emptyWait bounds how long a forced Delete waits for the host's answer to each stop.
var emptyWait = 10 * time.Second

// Delete removes a host in maintenance, disconnected or down, with its capacity rows. Forced,
// it first empties the host (see empty) whatever its state. Its agent connection, if this
// management server holds it, closes.
func Delete(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, forced bool) error {
	m, err := Manager(d)
	if err != nil {
		return err
	}
	if forced {
		if err := empty(ctx, d, a, id); err != nil {
			return err
		}
	}
	var removed *db.Host
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		h, err := Load(ctx, tx, id)
		if err != nil {
			return err
		}
		deletable := h.ResourceState == db.HostResourceMaintenance || h.Status == db.HostStatusDisconnected || h.Status == db.HostStatusDown
		if !deletable && !forced {
			return orchestrate.Errorf(orchestrate.CodeInternal, orchestrate.CSCloudRuntime, "Host %s cannot be deleted as it is not in maintenance mode (resource state %s, state %s). Either put the host into maintenance or perform a forced deletion.",
				h.ID, h.ResourceState, h.Status)
		}
		// CloudStack refuses while VMs use the host; forced, empty has stopped them, and one
		// still here was placed on it since.
		if states, err := db.HostVMStates(ctx, tx, h.ID); err != nil {
			return err
		} else if len(states) > 0 && forced {
			return orchestrate.Errorf(orchestrate.CodeInternal, orchestrate.CSCloudRuntime, "Unable to delete the host: %d VM(s) were placed on it while its VMs were being stopped; delete it again", len(states))
		} else if len(states) > 0 {
			return orchestrate.Errorf(orchestrate.CodeInternal, orchestrate.CSCloudRuntime, "Unable to delete the host as there are vms in %s state using this host and isForced=false specified",
				states[0])
		}
		if err := db.RemoveHost(ctx, tx, h.ID, h.Version); err != nil {
			return err
		}
		if err := db.DeleteCapacity(ctx, tx, h.ID); err != nil {
			return err
		}
		removed = h
		return orchestrate.Event(ctx, tx, a, "HOST.DELETE", "Deleting host "+h.Name, "Host", h.ID)
	})
	if err != nil {
		return err
	}
	// A connection held here closes now; one held elsewhere closes at its next ping, which
	// finds the host gone.
	m.Disconnect(removed.ID)
	return nil
}

// empty is Delete's forced path, as CloudStack's: the host is disabled (nothing more is placed
// on it), every VM on it is stopped, forced (the host's answer is not needed, its CPU and
// memory are released either way), and those that offer HA get a start job, which places them
// on another host. A VM starting, or migrating from or to the host, belongs to a job still
// running: the call is refused before anything changes.
func empty(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) error {
	var stopping []*db.VM
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		stopping = nil
		h, err := Load(ctx, tx, id)
		if err != nil {
			return err
		}
		vms, _, err := db.ListVMs(ctx, tx, db.VMFilter{HostID: h.ID})
		if err != nil {
			return err
		}
		if states, err := db.HostVMStates(ctx, tx, h.ID); err != nil {
			return err
		} else if len(states) > len(vms) {
			return orchestrate.Errorf(orchestrate.CodeInternal, orchestrate.CSCloudRuntime, "Unable to delete the host: a VM is migrating to it; delete it once the migration has ended")
		}
		for _, v := range vms {
			switch v.State {
			case db.VMRunning, db.VMStopping:
			default:
				return orchestrate.Errorf(orchestrate.CodeInternal, orchestrate.CSCloudRuntime, "Unable to delete the host: VM %s is %s; delete it once that has ended", orchestrate.VMString(v), v.State)
			}
		}
		if len(vms) == 0 {
			return nil
		}
		// Nothing is placed on the host from here on (its VMs' HA restarts included), so that
		// once they are stopped it stays empty until it is removed.
		if h.ResourceState == db.HostResourceEnabled {
			h.ResourceState = db.HostResourceDisabled
			if err := db.UpdateHost(ctx, tx, h); err != nil {
				return err
			}
		}
		for _, v := range vms {
			if v.State == db.VMRunning {
				v.State = db.VMStopping
				if err := db.UpdateVM(ctx, tx, v); err != nil {
					return err
				}
			}
			stopping = append(stopping, v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// At most 8 at once, each waiting at most emptyWait for the host: forced, the stop does
	// not need its answer, and a host being deleted is often one that no longer answers.
	errs := make([]error, len(stopping))
	slots := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, v := range stopping {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			errs[i] = vm.StopOnHost(ctx, d, v, true, emptyWait)
		}()
	}
	wg.Wait()
	var restart []*db.VM
	for i, v := range stopping {
		if errs[i] != nil {
			return errs[i]
		}
		if v.HAEnabled {
			restart = append(restart, v)
		}
	}
	if len(restart) == 0 {
		return nil
	}
	// The VMs that offer HA start again elsewhere (CloudStack's HA restart) as soon as they are
	// stopped, whatever becomes of the deletion: the host takes nothing now.
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		for _, v := range restart {
			start := orchestrate.Actor{Caller: a.Caller, Cmd: "startVirtualMachine", Params: map[string]string{"id": v.ID}}
			if _, err := orchestrate.EnqueueJob(ctx, tx, start, vm.JobType, v.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && d.Jobs != nil {
		d.Jobs.Wake()
	}
	return err
}
