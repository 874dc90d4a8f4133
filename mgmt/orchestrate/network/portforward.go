package network

import (
	"context"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
)

// Port forwarding and static NAT (CloudStack's RulesManager): both send a public address's
// traffic to a VM's NIC in the address's network, and exclude each other on one address.

// guestVM loads a VM the caller may act on, for a rule or static NAT on address p: a live
// VM of p's owner.
func guestVM(ctx context.Context, q db.Querier, a orchestrate.Actor, vmID string, p *db.PublicAddress) (*db.VM, error) {
	v, err := db.GetVM(ctx, q, strings.ToLower(vmID))
	if errors.Is(err, db.ErrNotFound) || err == nil && v.Removed != 0 {
		return nil, orchestrate.ErrParam("Unable to find virtual machine with specified id %s (virtualmachineid)", vmID)
	}
	if err != nil {
		return nil, err
	}
	if err := orchestrate.CheckOwnerAccess(ctx, q, a.Caller, v.ID, v.AccountID, v.DomainID); err != nil {
		return nil, err
	}
	if v.State == db.VMDestroyed || v.State == db.VMExpunging {
		return nil, orchestrate.ErrParam("Invalid user vm: %s", v.ID)
	}
	if v.AccountID != p.AccountID {
		return nil, orchestrate.ErrParam("Unable to create ip forwarding rule, IP address %s owner is not the same as owner of virtual machine %s", p.Address, orchestrate.VMString(v))
	}
	return v, nil
}

// guestNicIP is the VM's address in the network: its NIC's, which vmIP (when given) must be.
func guestNicIP(ctx context.Context, q db.Querier, vmID, networkID, vmIP, noNic string) (string, error) {
	nics, err := db.ListNics(ctx, q, db.NicFilter{VMID: vmID, NetworkID: networkID})
	if err != nil {
		return "", err
	}
	if len(nics) == 0 || nics[0].IPAddress == "" {
		return "", orchestrate.ErrParam("%s", noNic)
	}
	if vmIP != "" && vmIP != nics[0].IPAddress {
		return "", orchestrate.ErrParam("IP Address is not in the VM nic's network (vmguestip %s)", vmIP)
	}
	return nics[0].IPAddress, nil
}

func newPortForwarding(ctx context.Context, tx db.Tx, a orchestrate.Actor, spec *RuleSpec) (*db.FirewallRule, error) {
	p, err := ruleIP(ctx, tx, a, spec.IPID, "port forwarding")
	if err != nil {
		return nil, err
	}
	if p.VMID != "" {
		return nil, orchestrate.ErrParam("Unable to create port forwarding rule; ip id=%s has static nat enabled", p.ID)
	}
	n, err := ruleNetwork(ctx, tx, p, "PortForwarding")
	if err != nil {
		return nil, err
	}
	if spec.NetworkID != "" && spec.NetworkID != n.ID {
		return nil, orchestrate.ErrParam("Ip address %s is not assigned to the network %s (networkid)", p.Address, spec.NetworkID)
	}
	if err := checkPorts(spec, p.ZoneName); err != nil {
		return nil, err
	}
	if spec.DestStartPort != -1 && !validPort(spec.DestStartPort) {
		return nil, orchestrate.ErrParam("privatePort is an invalid value: %d", spec.DestStartPort)
	}
	if spec.DestEndPort != -1 && !validPort(spec.DestEndPort) {
		return nil, orchestrate.ErrParam("Private port range is an invalid value: %d", spec.DestEndPort)
	}
	if spec.DestStartPort > spec.DestEndPort {
		return nil, orchestrate.ErrParam("Start port can't be bigger than end port")
	}
	if spec.DestEndPort-spec.DestStartPort != spec.EndPort-spec.StartPort {
		return nil, orchestrate.ErrParam("Source port and destination port ranges should be of equal sizes.")
	}
	v, err := guestVM(ctx, tx, a, spec.VMID, p)
	if err != nil {
		return nil, err
	}
	ip, err := guestNicIP(ctx, tx, v.ID, n.ID, spec.VMIP, "Vm doesn't belong to network associated with ipAddress")
	if err != nil {
		return nil, err
	}
	if spec.StartPort != spec.EndPort || spec.DestStartPort != spec.DestEndPort {
		if spec.StartPort != spec.DestStartPort {
			return nil, orchestrate.ErrParam("Private port start should be equal to public port start")
		}
		if spec.EndPort != spec.DestEndPort {
			return nil, orchestrate.ErrParam("Private port end should be equal to public port end")
		}
	}
	spec.VMID, spec.VMIP = v.ID, ip
	return newRuleRow(spec, n.ID, p.ID, p.AccountID, p.DomainID), nil
}

// PortForwardUpdate is what updatePortForwardingRule changes; nil or -1 leaves a field.
type PortForwardUpdate struct {
	VMID, VMIP                 string
	DestStartPort, DestEndPort int
	CIDRs                      *[]string
	ForDisplay                 *bool
	CustomID                   string
}

// UpdatePortForwarding is updatePortForwardingRule's job: another VM (of the address's
// network), other private ports, other source CIDRs, display; then the network's rules are
// applied. customid is refused: rules keep their ids.
func UpdatePortForwarding(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, id string, u PortForwardUpdate) error {
	var networkID string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		r, err := RuleForCaller(ctx, tx, a, id, db.PurposePortForwarding, "")
		if err != nil {
			return err
		}
		if r.State == db.RuleRevoke {
			return orchestrate.ErrParam("Unable to update the port forwarding rule %s: it is being deleted", r.ID)
		}
		if u.CustomID != "" && u.CustomID != r.ID {
			return orchestrate.ErrParam("customid cannot be changed on a port forwarding rule")
		}
		if err := db.LockPublicAddress(ctx, tx, r.IPID); err != nil {
			return err
		}
		p, err := db.GetPublicAddress(ctx, tx, r.IPID)
		if err != nil {
			return err
		}
		if u.DestStartPort != -1 {
			if !validPort(u.DestStartPort) {
				return orchestrate.ErrParam("privatePort is an invalid value: %d", u.DestStartPort)
			}
			end := u.DestEndPort
			if end == -1 {
				end = u.DestStartPort + (r.EndPort - r.StartPort)
			}
			if !validPort(end) || end < u.DestStartPort {
				return orchestrate.ErrParam("Private port range is an invalid value: %d", end)
			}
			if end-u.DestStartPort != r.EndPort-r.StartPort {
				return orchestrate.ErrParam("Source port and destination port ranges should be of equal sizes.")
			}
			r.DestStartPort, r.DestEndPort = u.DestStartPort, end
		}
		vmID := r.VMID
		if u.VMID != "" {
			vmID = u.VMID
		}
		if u.VMID != "" || u.VMIP != "" {
			v, err := guestVM(ctx, tx, a, vmID, p)
			if err != nil {
				return err
			}
			ip, err := guestNicIP(ctx, tx, v.ID, r.NetworkID, u.VMIP, "Vm doesn't belong to network associated with ipAddress")
			if err != nil {
				return err
			}
			r.VMID, r.VMIP = v.ID, ip
		}
		if u.CIDRs != nil {
			r.CIDRs = strings.Join(*u.CIDRs, ",")
		}
		if u.ForDisplay != nil {
			r.ForDisplay = *u.ForDisplay
		}
		if r.State == db.RuleActive {
			r.State = db.RuleAdd
		}
		if err := db.UpdateRule(ctx, tx, r); err != nil {
			return err
		}
		if u.CIDRs != nil {
			if err := detectConflicts(ctx, tx, r); err != nil {
				return err
			}
		}
		networkID = r.NetworkID
		return orchestrate.Event(ctx, tx, a, "NET.RULEMODIFY", "Updating port forwarding rule "+r.ID, RuleJobType, r.ID)
	})
	if err != nil {
		return err
	}
	return ApplyRules(ctx, d, networkID)
}

// EnableStaticNAT is enableStaticNat (synchronous, as in CloudStack): the address's traffic
// goes to the VM's NIC in its network, one VM address per public address, never a source NAT
// address nor one with port forwarding rules. The network's rules are then applied.
func EnableStaticNAT(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, ipID, vmID, vmIP, networkID string) error {
	var applyNet string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		// Lock first, then read: what is read is what the lock holder last committed.
		if err := db.LockPublicAddress(ctx, tx, ipID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		p, err := PublicIPForCaller(ctx, tx, a.Caller, ipID, true)
		if err != nil {
			return err
		}
		if p.State != db.IPAllocated {
			return orchestrate.ErrParam("Unable to enable static nat for the ipAddress id=%s as ip is not in Allocated state", p.ID)
		}
		if p.SourceNAT {
			return orchestrate.ErrParam("Can't enable static, ip address %s is a sourceNat ip address", p.Address)
		}
		if p.VMID == "" {
			pf, _, err := db.ListRules(ctx, tx, db.RuleFilter{IPID: p.ID, Purpose: db.PurposePortForwarding, NotRevoked: true, Limit: 1})
			if err != nil {
				return err
			}
			if len(pf) > 0 {
				return errNetworkRuleConflict("Failed to enable static nat for the ip address %s as it already has PortForwarding rules assigned", p.Address)
			}
		} else if p.VMID != strings.ToLower(vmID) {
			return errNetworkRuleConflict("Failed to enable static for the ip address %s and vm id=%s as it's already assigned to antoher vm", p.Address, vmID)
		}
		n, err := ruleNetwork(ctx, tx, p, "StaticNat")
		if err != nil {
			return err
		}
		if networkID != "" && networkID != n.ID {
			return orchestrate.ErrParam("Vm doesn't belong to the network with specified id (networkid %s): IP address %s is of network %s", networkID, p.Address, n.Name)
		}
		v, err := guestVM(ctx, tx, a, vmID, p)
		if err != nil {
			return err
		}
		ip, err := guestNicIP(ctx, tx, v.ID, n.ID, vmIP, "Vm doesn't belong to the network with specified id")
		if err != nil {
			return err
		}
		if old, err := db.StaticNATOfVM(ctx, tx, v.ID, ip); err != nil {
			return err
		} else if old != nil && old.ID != p.ID {
			return errNetworkRuleConflict("Failed to enable static nat for the ip address with specified ipId as vm id=%s is already associated with ip id=%s", v.ID, old.ID)
		}
		if err := db.SetStaticNAT(ctx, tx, p.ID, v.ID, ip); err != nil {
			return err
		}
		applyNet = n.ID
		return orchestrate.Event(ctx, tx, a, "STATICNAT.ENABLE", "Enabling static NAT of "+p.Address+" to "+ip, "IpAddress", p.ID)
	})
	if err != nil {
		return err
	}
	return ApplyRules(ctx, d, applyNet)
}

// CheckDisableStaticNAT refuses an address without static NAT.
func CheckDisableStaticNAT(p *db.PublicAddress) error {
	if p.VMID == "" {
		return orchestrate.ErrParam("Specified IP address id is not associated with any vm Id")
	}
	return nil
}

// DisableStaticNAT is disableStaticNat's job: the address no longer goes to its VM; the
// network's rules are applied. An address whose static NAT is off already is done.
func DisableStaticNAT(ctx context.Context, d *orchestrate.Deps, a orchestrate.Actor, ipID string) error {
	var applyNet string
	err := d.DB.Transaction(ctx, func(tx db.Tx) error {
		p, err := PublicIPForCaller(ctx, tx, a.Caller, ipID, true)
		if err != nil {
			return err
		}
		if p.VMID == "" {
			return nil
		}
		if err := db.SetStaticNAT(ctx, tx, p.ID, "", ""); err != nil {
			return err
		}
		applyNet = p.NetworkID
		return orchestrate.Event(ctx, tx, a, "STATICNAT.DISABLE", "Disabling static NAT of "+p.Address, "IpAddress", p.ID)
	})
	if err != nil || applyNet == "" {
		return err
	}
	return ApplyRules(ctx, d, applyNet)
}

// ReleaseVMRules is what expunging a VM does to the rules that point at it, in the caller's
// transaction: its port forwarding rules are revoked and its static NAT addresses turned off.
// It answers the networks whose rules must then be applied (ApplyRules).
func ReleaseVMRules(ctx context.Context, tx db.Tx, vmID string) ([]string, error) {
	nets := map[string]bool{}
	rules, _, err := db.ListRules(ctx, tx, db.RuleFilter{VMID: vmID, Purpose: db.PurposePortForwarding, NotRevoked: true})
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if _, err := db.RevokeRules(ctx, tx, r.ID, "", ""); err != nil {
			return nil, err
		}
		nets[r.NetworkID] = true
	}
	ips, _, err := db.ListPublicAddresses(ctx, tx, db.PublicAddressFilter{VMID: vmID})
	if err != nil {
		return nil, err
	}
	for _, p := range ips {
		if err := db.SetStaticNAT(ctx, tx, p.ID, "", ""); err != nil {
			return nil, err
		}
		nets[p.NetworkID] = true
	}
	out := make([]string, 0, len(nets))
	for n := range nets {
		out = append(out, n)
	}
	return out, nil
}
