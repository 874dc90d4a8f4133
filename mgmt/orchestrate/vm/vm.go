package vm

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/planner"
)

// JobType is the instance type of a VM's jobs (jobs of one VM run one at a time).
const JobType = "VirtualMachine"

// AgentTimeout bounds one VM command on an agent.
var AgentTimeout = 60 * time.Second

// MigrateTimeout bounds a live migration on the source host: the guest's memory crosses
// the network while it runs (CloudStack's migratewait is an hour; its pages rarely need it).
var MigrateTimeout = 15 * time.Minute

// Get loads a VM the caller may act on. A VM that does not exist, or that the caller may not
// see, answers 431 "Unable to find virtual machine" (CloudStack's wording for a bad id).
func Get(ctx context.Context, q db.Querier, caller *iam.Caller, id string) (*db.VM, error) {
	id = strings.ToLower(id)
	v, err := db.GetVM(ctx, q, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, orchestrate.ErrParam("Unable to find virtual machine with specified id %s", id)
	}
	if err != nil {
		return nil, err
	}
	if err := orchestrate.CheckOwnerAccess(ctx, q, caller, id, v.AccountID, v.DomainID); err != nil {
		return nil, err
	}
	return v, nil
}

// Read reads a VM as it is now (what a workflow answers for its caller to render).
func Read(ctx context.Context, d *orchestrate.Deps, id string) (*db.VM, error) {
	return db.GetVM(ctx, d.DB.SQL, id)
}

// StartJob queues the actor's job on the VM id names (the caller may act on it) and returns
// the job's id and the VM's.
func StartJob(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string) (jobID, vmID string, err error) {
	err = d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := Get(ctx, tx, a.Caller, id)
		if err != nil {
			return err
		}
		vmID = v.ID
		jobID, err = orchestrate.EnqueueJob(ctx, tx, a, JobType, v.ID)
		return err
	})
	return jobID, vmID, err
}

// DeployErr turns a planner refusal into CloudStack's 533.
func DeployErr(v *db.VM, err error) error {
	var de *planner.DeployError
	if errors.As(err, &de) {
		return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSInsufficientServerCapacity, "Unable to create a deployment for %s: %s", orchestrate.VMString(v), de.Reason)
	}
	var ce *planner.CapacityError
	if errors.As(err, &ce) {
		return orchestrate.Errorf(orchestrate.CodeCapacity, orchestrate.CSInsufficientServerCapacity, "Unable to create a deployment for %s: %v", orchestrate.VMString(v), ce)
	}
	return err
}

// Uncount takes a VM out of its account's instance, CPU and memory counts, in tx.
func Uncount(ctx context.Context, d *orchestrate.Deps, tx db.Tx, v *db.VM) error {
	return d.ChargeResources(ctx, tx, v.AccountID, map[string]int64{db.ResUserVM: -1, db.ResCPU: -int64(v.CPUNumber), db.ResMemory: -v.Memory})
}

// DestroyVolumes marks a VM's ROOT volume (and, with all, every volume of it; else the
// DATADISKs listed) Destroy and takes them out of the volume and storage counts, in tx. Their
// pool allocation stays until they are expunged.
func DestroyVolumes(ctx context.Context, d *orchestrate.Deps, tx db.Tx, v *db.VM, dataIDs []string, all bool) error {
	vols, _, err := db.ListVolumes(ctx, tx, db.VolumeFilter{VMID: v.ID})
	if err != nil {
		return err
	}
	var n, bytes int64
	for _, o := range vols {
		if o.State == db.VolumeDestroy || !(all || o.Type == db.VolumeRoot || ListHas(dataIDs, o.ID)) {
			continue
		}
		o.State = db.VolumeDestroy
		if err := db.UpdateVolume(ctx, tx, o); err != nil {
			return err
		}
		n++
		bytes += o.Size
	}
	if n == 0 {
		return nil
	}
	return d.ChargeResources(ctx, tx, v.AccountID, map[string]int64{db.ResVolume: -n, db.ResPrimaryStorage: -bytes})
}

// ListHas tells whether list holds s, case aside.
func ListHas(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

// MergeDetails is a's details with b's over them.
func MergeDetails(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
