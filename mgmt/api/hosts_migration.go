package api

import (
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/planner"
)

func registerHostsForMigration(s *Server) {
	s.Reg.Add(&Command{Name: "findHostsForMigration", Response: hostForMigrationResponse, Roles: Admin, List: true, ResponseKey: "host",
		Description: "Find hosts suitable for migrating a virtual machine.",
		Params:      []Param{{Name: "virtualmachineid", Type: TUUID, Required: true, Description: "find hosts to which this VM can be migrated and flag the hosts with enough CPU/RAM to host the VM"}},
		Handler:     func(c *Call) (any, error) { return c.hostsForMigration(c.P.String("virtualmachineid")) }})
}

// hostsForMigration answers findHostsForMigration, and listHosts with virtualmachineid, as
// CloudStack does: every host of the VM's zone and hypervisor but its own (by keyword, paged),
// each with suitableformigration set when migrateVirtualMachine with hostid set to it would place
// the VM there now (state, allocation, host tags, capacity: the planner's checks, run without
// taking anything), and requiresStorageMotion set when it is in another cluster while one of
// the VM's volumes is on cluster storage, or for every host when one is on its host's local
// storage. Atoll does not move volumes with a VM, so such a host is never suitable.
func (c *Call) hostsForMigration(vmID string) (any, error) {
	q := c.S.DB.Read()
	v, err := c.vmOf(q, vmID)
	if err != nil {
		return nil, err
	}
	if v.State != db.VMRunning {
		return nil, ErrParam("VM is not Running, unable to migrate the vm %s", vmString(v))
	}
	all, _, err := db.ListHosts(c.Ctx, q, db.HostFilter{ZoneID: v.ZoneID, Hypervisor: v.HypervisorType, Keyword: c.P.String("keyword")})
	if err != nil {
		return nil, err
	}
	hosts := make([]*db.Host, 0, len(all))
	for _, h := range all {
		if h.ID != v.HostID && strings.EqualFold(h.Type, db.HostTypeRouting) {
			hosts = append(hosts, h)
		}
	}
	total := len(hosts)
	if limit, offset := c.P.Paging(); limit > 0 {
		hosts = hosts[min(offset, len(hosts)):min(offset+limit, len(hosts))]
	}
	zoneWide, local, err := vmStorageScope(c, q, v.ID)
	if err != nil {
		return nil, err
	}
	cands, err := planner.Candidates(c.Ctx, q, v.ZoneID)
	if err != nil {
		return nil, err
	}
	// As migrateVirtualMachine with a hostid: the cluster thresholds do not apply.
	req := c.migrationRequest(q, v)
	req.IgnoreThreshold, req.Candidates, req.DeferTake = true, cands, true
	items, err := c.renderHosts(hosts)
	if err != nil {
		return nil, err
	}
	l := c.ledger().Snapshot() // one snapshot: each cluster's rules are read once, not per host
	for i, h := range hosts {
		motion := local || h.ClusterID != v.ClusterID && !zoneWide
		suitable := false
		if !motion {
			r := req
			r.HostID = h.ID
			// DeferTake without disks only chooses: it reads and writes nothing.
			_, err := l.Deploy(c.Ctx, q, r, nil)
			var de *planner.DeployError
			var ce *planner.CapacityError
			if err != nil && !errors.As(err, &de) && !errors.As(err, &ce) {
				return nil, err
			}
			suitable = err == nil
		}
		m := items[i].(map[string]any)
		m["suitableformigration"], m["requiresStorageMotion"] = suitable, motion
	}
	return ListResult{Key: "host", Items: items, Count: total}, nil
}
