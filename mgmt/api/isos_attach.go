package api

import (
	"fmt"

	"github.com/atollcloud/atoll/db"
)

// Event types for attaching ISOs (CloudStack's EventTypes).
const (
	evISOAttach = "ISO.ATTACH"
	evISODetach = "ISO.DETACH"
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

// attachIso records the ISO on the VM, with the job, in one transaction. On the Simulator
// the virtual CD-ROM is the VM's record; no agent command is sent.
func attachIso(c *Call) (any, error) {
	var vmID, jobID string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := c.vmOf(tx, c.P.String("virtualmachineid"))
		if err != nil {
			return err
		}
		vmID = v.ID
		iso, err := c.imageByID(tx, isoKind, c.P.String("id"))
		if err != nil {
			return ErrParam("Unable to find an ISO with id %s", c.P.String("id"))
		}
		if err := c.checkImageUse(tx, isoKind, iso); err != nil {
			return err
		}
		if v.State != "Running" && v.State != "Stopped" {
			return ErrParam("Please specify a VM that is either Stopped or Running.")
		}
		if v.ISOID != "" {
			return ErrParam("An ISO is already attached to VM %s", v.Name)
		}
		ready, err := db.TemplateReadyInZone(c.Ctx, tx, iso.ID, v.ZoneID)
		if err != nil {
			return err
		}
		if !ready {
			return ErrParam("The ISO %s is not ready in the zone of VM %s", iso.Name, v.Name)
		}
		v.ISOID = iso.ID
		if err := db.UpdateVM(c.Ctx, tx, v); err != nil {
			return err
		}
		if err := c.Event(tx, evISOAttach, fmt.Sprintf("attaching ISO %s to VM %s", iso.Name, v.Name), "VirtualMachine", v.ID); err != nil {
			return err
		}
		jobID, err = c.EnqueueJob(tx, "VirtualMachine", v.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: vmID}, nil
}

func detachIso(c *Call) (any, error) {
	var vmID, jobID string
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		v, err := c.vmOf(tx, c.P.String("virtualmachineid"))
		if err != nil {
			return err
		}
		vmID = v.ID
		if v.ISOID == "" {
			return ErrParam("The specified VM has no ISO attached to it.")
		}
		if v.State != "Running" && v.State != "Stopped" {
			return ErrParam("Please specify a VM that is either Stopped or Running.")
		}
		iso := v.ISOID
		v.ISOID = ""
		if err := db.UpdateVM(c.Ctx, tx, v); err != nil {
			return err
		}
		if err := c.Event(tx, evISODetach, fmt.Sprintf("detaching ISO %s from VM %s", iso, v.Name), "VirtualMachine", v.ID); err != nil {
			return err
		}
		jobID, err = c.EnqueueJob(tx, "VirtualMachine", v.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: vmID}, nil
}

// isoVMJob answers the VM after an attach or detach made in the handler's transaction.
func isoVMJob(c *Call, j *db.Job) (any, error) { return c.vmObject(j.InstanceID) }
