package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atollcloud/atoll/agent/protocol"
	"github.com/atollcloud/atoll/db"
)

// RealHost reports whether a VM runs on a hypervisor whose disks are real files (anything but
// the Simulator).
func RealHost(v *db.VM) bool { return !strings.EqualFold(v.HypervisorType, "Simulator") }

// ForRealHost adds to a VM's spec what a real host needs beyond a Simulator's: each disk's
// pool (type and URL, so the host can open it), where a ROOT disk's template and the ISO in
// its CD-ROM drive are on the zone's secondary storage, the disk offerings' I/O rates, the SSH keys and password for the
// config drive. vols are the VM's volumes the spec was made from (SpecOf). A Simulator VM's
// spec is left as it is (its deploy path reads nothing more).
func ForRealHost(ctx context.Context, q db.Querier, v *db.VM, vols []*db.Volume, s *protocol.VMSpec) error {
	if !RealHost(v) {
		return nil
	}
	byID := make(map[string]*db.Volume, len(vols))
	for _, o := range vols {
		byID[o.ID] = o
	}
	pools := map[string]*protocol.PoolRef{}
	for i := range s.Disks {
		dk := &s.Disks[i]
		if dk.PoolID != "" {
			ref, ok := pools[dk.PoolID]
			if !ok {
				p, err := db.GetStoragePool(ctx, q, dk.PoolID)
				if err != nil {
					return fmt.Errorf("spec of %s: pool %s: %w", v.ID, dk.PoolID, err)
				}
				ref = &protocol.PoolRef{ID: p.ID, Type: p.PoolType, URL: p.URL}
				pools[dk.PoolID] = ref
			}
			dk.Pool = ref
		}
		vol := byID[dk.VolumeID]
		if vol == nil {
			return fmt.Errorf("spec of %s: volume %s not among its volumes", v.ID, dk.VolumeID)
		}
		if vol.DiskOfferingID != "" {
			if do, err := db.GetDiskOffering(ctx, q, vol.DiskOfferingID); err == nil {
				dk.Rates = rates(do.IORates)
			}
		} else if dk.Type == db.VolumeRoot && v.ServiceOfferingID != "" {
			if so, err := db.GetServiceOffering(ctx, q, v.ServiceOfferingID); err == nil {
				dk.Rates = rates(so.IORates)
			}
		}
		if dk.Type == db.VolumeRoot && dk.Template != "" {
			src, err := templateSource(ctx, q, dk.Template, v.ZoneID)
			if err != nil {
				return fmt.Errorf("spec of %s: %w", v.ID, err)
			}
			dk.TemplateSource = src
		}
	}
	if s.BootISO != "" {
		src, err := templateSource(ctx, q, s.BootISO, v.ZoneID)
		if err != nil {
			return fmt.Errorf("spec of %s: iso: %w", v.ID, err)
		}
		s.BootISOSource = src
	}
	if v.KeyPairs != "" {
		for _, name := range strings.Split(v.KeyPairs, ",") {
			k, err := db.GetSSHKeyPair(ctx, q, v.AccountID, strings.TrimSpace(name))
			if errors.Is(err, db.ErrNotFound) {
				continue // deleted since: CloudStack keeps the VM's copy; we have none to give
			}
			if err != nil {
				return err
			}
			s.SSHKeys = append(s.SSHKeys, k.PublicKey)
		}
	}
	s.Password = v.Password
	s.ConfigDrive = true
	return nil
}

// templateSource finds a template's file on a secondary store of the zone.
func templateSource(ctx context.Context, q db.Querier, templateID, zoneID string) (*protocol.ImageFileRef, error) {
	t, err := db.GetTemplate(ctx, q, templateID)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", templateID, err)
	}
	copies, err := db.ListTemplateCopies(ctx, q, templateID, zoneID)
	if err != nil {
		return nil, err
	}
	for _, cp := range copies {
		if cp.DownloadState != db.DownloadDone || cp.InstallPath == "" {
			continue
		}
		st, err := db.GetImageStore(ctx, q, cp.StoreID)
		if errors.Is(err, db.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &protocol.ImageFileRef{Store: protocol.ImageStoreRef{ID: st.ID, URL: st.URL}, Path: cp.InstallPath, Format: t.Format}, nil
	}
	return nil, ErrParam("Template %s is not downloaded to an image store of zone %s", t.Name, zoneID)
}

func rates(r db.DiskIORates) *protocol.DiskRates {
	out := &protocol.DiskRates{BytesReadRate: r.BytesReadRate, BytesWriteRate: r.BytesWriteRate, IOPSReadRate: r.IopsReadRate, IOPSWriteRate: r.IopsWriteRate}
	if *out == (protocol.DiskRates{}) {
		return nil
	}
	return out
}
