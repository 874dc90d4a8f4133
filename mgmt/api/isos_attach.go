package api

import (
	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
)

func registerIsoAttach(s *Server) {
	s.Reg.Add(&Command{Name: "attachIso", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Attaches an ISO to a virtual machine.",
		Params: []Param{
			{Name: "id", Type: TUUID, Required: true, Description: "the ID of the ISO file"},
			{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "the ID of the virtual machine"},
			{Name: "forced", Type: TBool, Description: "If true, ejects existing ISO before attaching on VMware. Default: false"},
		},
		Handler: attachIso, Job: isoVMJob})
	s.Reg.Add(&Command{Name: "detachIso", Response: vmResponseFields, Roles: AllRoles, Async: true, ResponseKey: "virtualmachine",
		Description: "Detaches any ISO file (if any) currently attached to a virtual machine.",
		Params: []Param{
			{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "The ID of the virtual machine"},
			{Name: "forced", Type: TBool, Description: "If true, ejects the ISO before detaching on VMware. Default: false"},
		},
		Handler: detachIso, Job: isoVMJob})
}

// attachIso records the ISO on the VM, with the job (vm.AttachISO).
func attachIso(c *Call) (any, error) {
	jobID, vmID, err := vm.AttachISO(c.Ctx, c.deps(), c.actor(), c.P.String("virtualmachineid"), c.P.String("id"))
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: vmID}, nil
}

// detachIso takes the ISO off the VM, with the job (vm.DetachISO).
func detachIso(c *Call) (any, error) {
	jobID, vmID, err := vm.DetachISO(c.Ctx, c.deps(), c.actor(), c.P.String("virtualmachineid"))
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: vmID}, nil
}

// isoVMJob answers the VM after an attach or detach made in the handler's transaction.
func isoVMJob(c *Call, j *db.Job) (any, error) { return c.vmObject(j.InstanceID) }
