package vm

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/securitygroup"
)

// UpdateSpec is what updateVirtualMachine changes; nil (or empty) leaves a property as it is.
type UpdateSpec struct {
	DeleteProtection    *bool
	Name                string
	DisplayName         *string
	Group               *string
	HAEnabled           *bool
	DisplayVM           *bool
	DynamicallyScalable *bool
	UserData            *string
	OSTypeID            string
	CleanupDetails      bool
	Details             map[string]string
	SecurityGroupIDs    []string
	SecurityGroupNames  []string
}

// Update changes a VM's properties (the caller may act on it); its host name only while it is
// Stopped. It returns the VM to answer.
func Update(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, s UpdateSpec) (*db.VM, error) {
	var sgIDs []string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := Get(ctx, tx, a.Caller, id)
		if err != nil {
			return err
		}
		id = v.ID
		if s.DeleteProtection != nil {
			v.DeleteProtection = *s.DeleteProtection
		}
		if name := strings.TrimSpace(s.Name); name != "" && name != v.Name {
			if err := CheckHostname(name); err != nil {
				return err
			}
			if v.State != db.VMStopped {
				return orchestrate.ErrParam("Update VM name is not allowed as %s is in state %s: stop it first", orchestrate.VMString(v), v.State)
			}
			v.Name = name
		}
		if s.DisplayName != nil {
			v.DisplayName = *s.DisplayName
		}
		if s.Group != nil {
			v.Group = *s.Group
		}
		if s.HAEnabled != nil {
			v.HAEnabled = *s.HAEnabled
		}
		if s.DisplayVM != nil {
			v.DisplayVM = *s.DisplayVM
		}
		if s.DynamicallyScalable != nil {
			v.DynamicallyScalable = *s.DynamicallyScalable
		}
		if s.UserData != nil {
			v.UserData = *s.UserData
		}
		if os := s.OSTypeID; os != "" {
			if _, err := db.GetOSType(ctx, tx, strings.ToLower(os)); errors.Is(err, db.ErrNotFound) {
				return orchestrate.ErrParam("Please specify a valid guest OS type id: %s", os)
			} else if err != nil {
				return err
			}
			v.OSTypeID = strings.ToLower(os)
		}
		if s.CleanupDetails {
			v.Details = nil
		}
		if len(s.Details) > 0 {
			v.Details = MergeDetails(v.Details, s.Details)
		}
		if len(s.SecurityGroupIDs) > 0 && len(s.SecurityGroupNames) > 0 {
			return orchestrate.ErrParam("securitygroupids parameter is mutually exclusive with securitygroupnames parameter")
		}
		if sgIDs, err = securitygroup.Update(ctx, tx, a.Caller, v, s.SecurityGroupIDs, s.SecurityGroupNames); err != nil {
			return err
		}
		if err := db.UpdateVM(ctx, tx, v); err != nil {
			if db.IsDuplicate(err) {
				return orchestrate.ErrParam("The vm with hostName %s already exists in this zone for the account", v.Name)
			}
			return err
		}
		return orchestrate.Event(ctx, tx, a, "VM.UPDATE", "Updated VM "+v.Name, "VirtualMachine", v.ID)
	})
	if err != nil {
		return nil, err
	}
	if len(sgIDs) > 0 {
		if err := securitygroup.Apply(ctx, d, sgIDs); err != nil && d.Log != nil {
			d.Log.Warn("security groups: recording a VM's new groups failed", "vm", id, "err", err)
		}
	}
	return Read(ctx, d, id)
}

// ResetSSHKey gives a Stopped VM the owner's key pairs named (keypair, keypairs). It returns
// the VM to answer.
func ResetSSHKey(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id, keypair string, keypairs []string) (*db.VM, error) {
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := db.GetVM(ctx, tx, id)
		if err != nil {
			return err
		}
		if v.State != db.VMStopped {
			return orchestrate.ErrParam("Vm %s should be stopped to do SSH Key reset", orchestrate.VMString(v))
		}
		owner, err := db.GetAccount(ctx, tx, v.AccountID)
		if err != nil {
			return err
		}
		names, err := KeyPairs(ctx, tx, owner, keypair, keypairs)
		if err != nil {
			return err
		}
		v.KeyPairs = strings.Join(names, ",")
		if err := db.UpdateVM(ctx, tx, v); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "VM.RESETSSHKEY", "Reset the SSH key of VM "+v.Name, "VirtualMachine", v.ID)
	})
	if err != nil {
		return nil, err
	}
	return Read(ctx, d, id)
}

// ResetPassword gives a Stopped VM of a password-enabled template a new password (the one
// given, or a generated one). It returns the VM to answer (with its password).
func ResetPassword(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id, password string) (*db.VM, error) {
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := db.GetVM(ctx, tx, id)
		if err != nil {
			return err
		}
		tid := v.TemplateID
		if tid == "" {
			tid = v.ISOID
		}
		t, err := db.GetTemplate(ctx, tx, tid)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		if t == nil || !t.PasswordEnabled {
			return orchestrate.ErrParam("Fail to reset password for the virtual machine, the template is not password enabled")
		}
		if v.State != db.VMStopped {
			return orchestrate.ErrParam("Vm %s should be stopped to do password reset", orchestrate.VMString(v))
		}
		v.Password = password
		if v.Password == "" {
			v.Password = RandomPassword()
		}
		if err := db.UpdateVM(ctx, tx, v); err != nil {
			return err
		}
		return orchestrate.Event(ctx, tx, a, "VM.RESETPASSWORD", "Reset the password of VM "+v.Name, "VirtualMachine", v.ID)
	})
	if err != nil {
		return nil, err
	}
	return Read(ctx, d, id)
}

// UpdateAffinityGroups replaces a Stopped VM's affinity groups with the owner's groups given
// by ids or names. It returns the VM to answer.
func UpdateAffinityGroups(ctx context.Context, d *orchestrate.Deps, id string, ids, names []string) (*db.VM, error) {
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		v, err := db.GetVM(ctx, tx, id)
		if err != nil {
			return err
		}
		if v.State != db.VMStopped {
			return orchestrate.ErrParam("Unable to update affinity groups of the virtual machine %s in state %s; make sure the virtual machine is stopped and not in an error state before updating.",
				orchestrate.VMString(v), v.State)
		}
		owner, err := db.GetAccount(ctx, tx, v.AccountID)
		if err != nil {
			return err
		}
		groups, err := AffinityGroups(ctx, tx, owner, ids, names)
		if err != nil {
			return err
		}
		gids := make([]string, len(groups))
		for i, g := range groups {
			gids[i] = g.ID
		}
		if err := db.SetVMAffinityGroups(ctx, tx, v.ID, gids); err != nil {
			return err
		}
		return db.UpdateVM(ctx, tx, v)
	})
	if err != nil {
		return nil, err
	}
	return Read(ctx, d, id)
}
