package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
)

// The VM state machine's commands. Handlers check the VM exists and the caller may act on it,
// then queue a job on the VM (jobs of one VM run one at a time); the job runs the workflow of
// mgmt/orchestrate/vm and renders the VM it answers.

// vmJob queues a job on the VM named by the parameter.
func (c *Call) vmJob(param string) (any, error) {
	jobID, id, err := vm.StartJob(c.Ctx, c.deps(), c.actor(), c.P.String(param))
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
}

// refuseStartPlacement refuses where-to-start parameters from callers other than root admins.
func (c *Call) refuseStartPlacement() error {
	for _, k := range []string{"hostid", "clusterid", "podid", "deploymentplanner"} {
		if c.P.String(k) != "" && !c.Caller.IsRootAdmin() {
			return ErrDenied("Parameter %s can only be specified by a Root Admin, permission denied", k)
		}
	}
	return nil
}

func startVM(c *Call) (any, error) {
	if err := c.refuseStartPlacement(); err != nil {
		return nil, err
	}
	return c.vmJob("id")
}

// startSpec reads where a start may go from the call's parameters.
func (c *Call) startSpec() vm.StartSpec {
	last, _ := c.P.Bool("considerlasthost")
	return vm.StartSpec{PodID: strings.ToLower(c.P.String("podid")), ClusterID: strings.ToLower(c.P.String("clusterid")),
		HostID: strings.ToLower(c.P.String("hostid")), Planner: c.P.String("deploymentplanner"),
		ConsiderLastHost: last || !c.P.Has("considerlasthost")}
}

// startVMJob starts a VM (deployVirtualMachine's job too, with the deploy's hint when run by
// the server that deployed it); a deploy's answer carries the VM's generated password.
func startVMJob(c *Call, j *db.Job) (any, error) {
	deploying := j.Cmd == "deployVirtualMachine"
	h, _ := c.Hint.(*vm.Hint)
	v, err := vm.Start(c.Ctx, c.deps(), j.InstanceID, deploying, h, c.startSpec())
	if err != nil {
		return nil, err
	}
	o, _, err := c.vmObjectFrom(v)
	return c.withPassword(o, v, err, deploying)
}

// vmResult renders a VM as a job's result; with password the generated password is included.
func (c *Call) vmResult(id string, password bool) (any, error) {
	o, v, err := c.vmObjectOf(id)
	return c.withPassword(o, v, err, password)
}

// withPassword adds a VM's generated password to its rendering when password is set.
func (c *Call) withPassword(o any, v *db.VM, err error, password bool) (any, error) {
	if err != nil || !password {
		return o, err
	}
	obj := o.(Object)
	if v.Password != "" {
		obj.Value.(*vmResponse).Password = v.Password
	}
	return obj, nil
}

func stopVM(c *Call) (any, error) { return c.vmJob("id") }

// stopVMJob stops a VM (vm.Stop).
func stopVMJob(c *Call, j *db.Job) (any, error) {
	forced, _ := c.P.Bool("forced")
	return c.vmAnswer(vm.Stop(c.Ctx, c.deps(), j.InstanceID, forced))
}

func rebootVM(c *Call) (any, error) { return c.vmJob("id") }

// rebootVMJob reboots a VM; forced, it is stopped and started again (vm.Reboot).
func rebootVMJob(c *Call, j *db.Job) (any, error) {
	forced, _ := c.P.Bool("forced")
	return c.vmAnswer(vm.Reboot(c.Ctx, c.deps(), j.InstanceID, forced, j.Attempts, c.startSpec()))
}

// destroySpec reads a destroy's expunge and volumeids.
func (c *Call) destroySpec() vm.DestroySpec {
	expunge, _ := c.P.Bool("expunge")
	return vm.DestroySpec{Expunge: expunge, VolumeIDs: c.P.List("volumeids")}
}

func destroyVM(c *Call) (any, error) {
	if expunge, _ := c.P.Bool("expunge"); expunge {
		if err := c.checkExpungeRecover("Parameter expunge"); err != nil {
			return nil, err
		}
	}
	jobID, id, err := vm.StartDestroy(c.Ctx, c.deps(), c.actor(), c.P.String("id"), c.destroySpec())
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
}

// destroyVMJob destroys a VM (vm.Destroy). An expunged VM's answer is the VM as it was once
// stopped, in state Expunged.
func destroyVMJob(c *Call, j *db.Job) (any, error) {
	s := c.destroySpec()
	var result any
	v, err := vm.Destroy(c.Ctx, c.deps(), c.actor(), j.InstanceID, s, func(id string) error {
		var err error
		result, err = c.vmObject(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if s.Expunge {
		if o, ok := result.(Object); ok {
			o.Value.(*vmResponse).State = db.VMExpunged
		}
		return result, nil
	}
	return c.vmAnswer(v, nil)
}

// recoverVM brings a Destroyed VM back to Stopped, counted again (vm.Recover).
func recoverVM(c *Call) (any, error) {
	if err := c.checkExpungeRecover("Recovering a vm"); err != nil {
		return nil, err
	}
	return c.vmAnswer(vm.Recover(c.Ctx, c.deps(), c.actor(), c.P.String("id")))
}

func expungeVM(c *Call) (any, error) {
	if err := c.checkExpungeRecover("Expunging a vm"); err != nil {
		return nil, err
	}
	return c.vmJob("id")
}

func expungeVMJob(c *Call, j *db.Job) (any, error) {
	if err := vm.ExpungeDestroyed(c.Ctx, c.deps(), c.actor(), j.InstanceID); err != nil {
		return nil, err
	}
	return Success(), nil
}
