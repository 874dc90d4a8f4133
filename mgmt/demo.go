package mgmt

import (
	"context"
	"fmt"

	"github.com/atollcloud/atoll/mgmt/api"
)

// DemoZone is the name of the zone Demo builds.
const DemoZone = "demo"

// Demo builds, once, a ready Advanced zone of Simulator hosts through the server's own API (the
// same commands an operator or Ansible would send): a VXLAN guest physical network with the
// virtual router enabled, a VLAN public one, traffic types, a pod, two clusters of two hosts,
// cluster primary storage, an NFS image store and a public IP range; then enables the zone.
// It does nothing when the zone exists already.
func Demo(ctx context.Context, c *api.Client) error {
	return DemoWith(ctx, c, DemoOptions{})
}

// DemoOptions shape the zone DemoWith builds; zero values give Demo's zone.
type DemoOptions struct {
	Zone            string // zone name (DemoZone)
	Clusters        int    // Simulator clusters (2)
	HostsPerCluster int    // hosts per cluster (2)
	// HostQuery is the Simulator URL query giving each host's hardware, e.g.
	// "cpunumber=64&cpuspeed=4000&memory=1048576" (MiB); "" gives the Simulator's defaults.
	HostQuery string
	PoolBytes int64  // each cluster pool's capacity (0: the Simulator pool default)
	VNIs      string // the guest physical network's VNI range ("5000-5999")
	GuestCIDR string // the zone's guest CIDR ("10.1.0.0/16")
	// Hypervisor is the clusters' hypervisor: Simulator (the default) adds Simulator hosts;
	// KVM adds none (real hosts join with a host token naming their cluster).
	Hypervisor string
	// PrimaryURL and SecondaryURL are the storage URLs (nfs://host/export); empty gives
	// placeholders on 192.0.2.10, which only Simulator hosts can use. With PrimaryURL set the
	// clusters share that one pool, created zone-wide.
	PrimaryURL, SecondaryURL string
	// Public is the zone's public IP range; nil gives 203.0.113.10-250 on VLAN 100.
	Public *PublicRange
	// PublicLabel is the KVM traffic label of public traffic: the bridge each host's routers
	// join their public side to ("cloudbr2").
	PublicLabel string
}

// PublicRange is a public IP range: its VLAN ("untagged" or a number), gateway, netmask and
// first and last addresses.
type PublicRange struct{ VLAN, Gateway, Netmask, Start, End string }

// DemoWith builds, once, a zone as Demo does, shaped by o.
func DemoWith(ctx context.Context, c *api.Client, o DemoOptions) error {
	if o.Zone == "" {
		o.Zone = DemoZone
	}
	if o.Clusters <= 0 {
		o.Clusters = 2
	}
	if o.HostsPerCluster <= 0 {
		o.HostsPerCluster = 2
	}
	if o.PublicLabel == "" {
		o.PublicLabel = "cloudbr2"
	}
	if o.VNIs == "" {
		o.VNIs = "5000-5999"
	}
	if o.GuestCIDR == "" {
		o.GuestCIDR = "10.1.0.0/16"
	}
	if o.Hypervisor == "" {
		o.Hypervisor = "Simulator"
	}
	sim := o.Hypervisor == "Simulator"
	do := func(cmd string, p map[string]string) (map[string]any, error) {
		r, err := c.DoWait(ctx, cmd, p)
		if err != nil {
			return nil, fmt.Errorf("demo: %s: %w", cmd, err)
		}
		return r, nil
	}
	obj := api.First
	id := func(r map[string]any, key string) string { s, _ := obj(r, key)["id"].(string); return s }

	zones, err := do("listZones", map[string]string{"name": o.Zone})
	if err != nil {
		return err
	}
	if _, ok := zones["zone"]; ok {
		return nil
	}
	z, err := do("createZone", map[string]string{"name": o.Zone, "networktype": "Advanced", "dns1": "192.0.2.53",
		"internaldns1": "192.0.2.53", "guestcidraddress": o.GuestCIDR, "domain": o.Zone + ".atoll"})
	if err != nil {
		return err
	}
	zoneID := id(z, "zone")
	guest, err := do("createPhysicalNetwork", map[string]string{"zoneid": zoneID, "name": "guest", "isolationmethods": "VXLAN",
		"vlan": o.VNIs, "state": "Enabled"})
	if err != nil {
		return err
	}
	guestID := id(guest, "physicalnetwork")
	public, err := do("createPhysicalNetwork", map[string]string{"zoneid": zoneID, "name": "public", "isolationmethods": "VLAN", "state": "Enabled"})
	if err != nil {
		return err
	}
	publicID := id(public, "physicalnetwork")
	for _, tt := range []struct{ net, typ, label string }{
		{guestID, "Guest", "cloudbr1"}, {guestID, "Management", "cloudbr0"}, {publicID, "Public", o.PublicLabel},
	} {
		if _, err := do("addTrafficType", map[string]string{"physicalnetworkid": tt.net, "traffictype": tt.typ, "kvmnetworklabel": tt.label}); err != nil {
			return err
		}
	}
	elems, err := do("listVirtualRouterElements", nil)
	if err != nil {
		return err
	}
	nsps, err := do("listNetworkServiceProviders", map[string]string{"physicalnetworkid": guestID, "name": "VirtualRouter"})
	if err != nil {
		return err
	}
	vrID := id(nsps, "networkserviceprovider")
	list, _ := elems["virtualrouterelement"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		if m["nspid"] == vrID {
			if _, err := do("configureVirtualRouterElement", map[string]string{"id": m["id"].(string), "enabled": "true"}); err != nil {
				return err
			}
		}
	}
	if _, err := do("updateNetworkServiceProvider", map[string]string{"id": vrID, "state": "Enabled"}); err != nil {
		return err
	}
	pod, err := do("createPod", map[string]string{"zoneid": zoneID, "name": "pod-1", "gateway": "192.168.100.1",
		"netmask": "255.255.255.0", "startip": "192.168.100.10", "endip": "192.168.100.250"})
	if err != nil {
		return err
	}
	podID := id(pod, "pod")
	for ci := 1; ci <= o.Clusters; ci++ {
		cl := fmt.Sprintf("cluster-%d", ci)
		r, err := do("addCluster", map[string]string{"zoneid": zoneID, "podid": podID, "clustername": cl, "hypervisor": o.Hypervisor,
			"clustertype": "CloudManaged"})
		if err != nil {
			return err
		}
		clusterID := id(r, "cluster")
		for hi := 1; sim && hi <= o.HostsPerCluster; hi++ {
			u := fmt.Sprintf("http://sim/%s/%s-host-%d", cl, cl, hi)
			if o.HostQuery != "" {
				u += "?" + o.HostQuery
			}
			if _, err := do("addHost", map[string]string{"zoneid": zoneID, "podid": podID, "clusterid": clusterID, "hypervisor": "Simulator",
				"url": u, "username": "root", "password": "password"}); err != nil {
				return err
			}
		}
		if o.PrimaryURL != "" {
			continue
		}
		pool := map[string]string{"zoneid": zoneID, "podid": podID, "clusterid": clusterID,
			"name": "primary-" + cl, "url": "nfs://192.0.2.10/export/" + o.Zone + "-primary-" + cl, "scope": "cluster"}
		if o.PoolBytes > 0 {
			pool["capacitybytes"] = fmt.Sprint(o.PoolBytes)
		}
		if _, err := do("createStoragePool", pool); err != nil {
			return err
		}
	}
	if o.PrimaryURL != "" {
		if _, err := do("createStoragePool", map[string]string{"zoneid": zoneID, "name": o.Zone + "-primary", "url": o.PrimaryURL,
			"scope": "zone", "hypervisor": o.Hypervisor}); err != nil {
			return err
		}
	}
	store := "secondary" // image store names are unique across zones
	if o.Zone != DemoZone {
		store = o.Zone + "-secondary"
	}
	secondary := o.SecondaryURL
	if secondary == "" {
		secondary = "nfs://192.0.2.10/export/" + o.Zone + "-secondary"
	}
	if _, err := do("addImageStore", map[string]string{"zoneid": zoneID, "name": store, "provider": "NFS", "url": secondary}); err != nil {
		return err
	}
	pub := o.Public
	if pub == nil {
		pub = &PublicRange{VLAN: "100", Gateway: "203.0.113.1", Netmask: "255.255.255.0", Start: "203.0.113.10", End: "203.0.113.250"}
	}
	if _, err := do("createVlanIpRange", map[string]string{"zoneid": zoneID, "physicalnetworkid": publicID, "vlan": pub.VLAN,
		"gateway": pub.Gateway, "netmask": pub.Netmask, "startip": pub.Start, "endip": pub.End,
		"forvirtualnetwork": "true"}); err != nil {
		return err
	}
	_, err = do("updateZone", map[string]string{"id": zoneID, "allocationstate": "Enabled"})
	return err
}
