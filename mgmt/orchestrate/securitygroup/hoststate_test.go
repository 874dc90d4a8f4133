package securitygroup_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/atollcloud/atoll/mgmt/orchestrate/securitygroup"
	"github.com/google/uuid"
)

// world is a small placement: host h1 runs alice's v1 (groups web and default) and v5 (default,
// on an Advanced network without security groups) and bob's v4 (no group); h2 runs v2 (web);
// v3 (web) is stopped, last on h1.
type world struct {
	d                  *db.DB
	web, def           *db.SecurityGroup
	v1, v2, v3, v4, v5 *db.VM
	ips                map[string]string // vm id -> default NIC address
	macs               map[string]string
}

func build(t *testing.T, url string) *world {
	ctx := context.Background()
	d := dbtest.Open(t, url, true)
	w := &world{d: d, ips: map[string]string{}, macs: map[string]string{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	now := db.Now()
	dom := &db.Domain{ID: uuid.NewString(), Name: "ROOT", Path: "ROOT", State: "Active", Created: now}
	must(db.InsertDomain(ctx, d.SQL, dom))
	acct := func(name string) *db.Account {
		a := &db.Account{ID: uuid.NewString(), Name: name, DomainID: dom.ID, RoleID: uuid.NewString(), State: "enabled", Created: now}
		must(db.InsertAccount(ctx, d.SQL, a))
		return a
	}
	alice, bob := acct("alice"), acct("bob")
	basic := &db.Zone{ID: uuid.NewString(), Name: "basic", NetworkType: "Basic", AllocationState: "Enabled", ZoneToken: "b", Created: now}
	adv := &db.Zone{ID: uuid.NewString(), Name: "adv", NetworkType: "Advanced", AllocationState: "Enabled", ZoneToken: "a", Created: now}
	must(db.InsertZone(ctx, d.SQL, basic))
	must(db.InsertZone(ctx, d.SQL, adv))
	net := func(z *db.Zone, services string) *db.Network {
		n := &db.Network{ID: uuid.NewString(), Name: z.Name, ZoneID: z.ID, DomainID: dom.ID, NetworkOfferingID: uuid.NewString(),
			GuestType: db.GuestShared, TrafficType: "Guest", State: "Setup", ACLType: db.ACLDomain, Services: services, Created: now}
		must(db.InsertNetwork(ctx, d.SQL, n))
		return n
	}
	sgNet, plain := net(basic, "SecurityGroup,Dhcp"), net(adv, "Dhcp")
	var err error
	w.def, err = securitygroup.EnsureDefault(ctx, d.SQL, alice.ID)
	must(err)
	w.web = &db.SecurityGroup{ID: uuid.NewString(), Name: "web", AccountID: alice.ID, DomainID: dom.ID, Created: now}
	must(db.InsertSecurityGroup(ctx, d.SQL, w.web))
	n := 0
	vm := func(owner *db.Account, host, state string, nw *db.Network, groups ...*db.SecurityGroup) *db.VM {
		n++
		v := &db.VM{ID: uuid.NewString(), Name: fmt.Sprintf("v%d", n), AccountID: owner.ID, DomainID: dom.ID, ZoneID: nw.ZoneID,
			ServiceOfferingID: "so", State: state, Created: now}
		if state == db.VMStopped {
			v.LastHostID = host
		} else {
			v.HostID = host
		}
		must(db.InsertVM(ctx, d.SQL, v))
		ip := fmt.Sprintf("10.0.0.%d", n)
		mac := fmt.Sprintf("02:00:00:00:00:%02x", n)
		must(db.InsertNic(ctx, d.SQL, &db.Nic{ID: uuid.NewString(), VMID: v.ID, NetworkID: nw.ID, IPAddress: ip, MACAddress: mac,
			IsDefault: true, Created: now}))
		w.ips[v.ID], w.macs[v.ID] = ip, mac
		ids := []string{}
		for _, g := range groups {
			ids = append(ids, g.ID)
		}
		must(db.SetVMSecurityGroups(ctx, d.SQL, v.ID, ids))
		return v
	}
	w.v1 = vm(alice, "h1", db.VMRunning, sgNet, w.web, w.def)
	w.v2 = vm(alice, "h2", db.VMRunning, sgNet, w.web)
	w.v3 = vm(alice, "h1", db.VMStopped, sgNet, w.web)
	w.v4 = vm(bob, "h1", db.VMRunning, sgNet)
	w.v5 = vm(alice, "h1", db.VMRunning, plain, w.def)
	rule := func(g *db.SecurityGroup, typ, proto string, a, b int, cidr string, peer *db.SecurityGroup) {
		r := &db.SecurityGroupRule{ID: uuid.NewString(), GroupID: g.ID, Type: typ, Protocol: proto, StartPort: a, EndPort: b, CIDR: cidr, Created: now}
		if peer != nil {
			r.AllowedGroupID = peer.ID
		}
		ok, err := db.InsertSecurityGroupRule(ctx, d.SQL, r)
		must(err)
		if !ok {
			t.Fatalf("rule %+v not added", r)
		}
	}
	rule(w.web, db.SGIngress, "tcp", 80, 80, "0.0.0.0/0", nil)
	rule(w.web, db.SGEgress, "all", 0, 0, "0.0.0.0/0", nil)
	rule(w.def, db.SGIngress, "tcp", 22, 22, "", w.web)
	rule(w.def, db.SGIngress, "icmp", 8, 0, "192.0.2.0/24", nil)
	if ok, err := db.InsertSecurityGroupRule(ctx, d.SQL, &db.SecurityGroupRule{ID: uuid.NewString(), GroupID: w.web.ID, Type: db.SGIngress,
		Protocol: "tcp", StartPort: 80, EndPort: 80, CIDR: "0.0.0.0/0", Created: now}); err != nil || ok {
		t.Fatalf("a rule given twice: added %v, %v", ok, err)
	}
	return w
}

// TestHostState: a host's desired state holds the NICs of its active VMs on security group
// networks, each with its groups' rules, and the addresses of the active members of every
// group a rule names; Apply counts a change on exactly the hosts it touches.
func TestHostState(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		ctx := context.Background()
		w := build(t, url)
		st, err := securitygroup.ComputeHostState(ctx, w.d.SQL, "h1")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Nics) != 1 {
			t.Fatalf("h1 nics: %+v (want v1's only: v3 stopped, v4 in no group, v5 not on a security group network)", st.Nics)
		}
		nic := st.Nics[0]
		if nic.VMID != w.v1.ID || nic.MAC != w.macs[w.v1.ID] || nic.IP != w.ips[w.v1.ID] || nic.InstanceName != w.v1.InstanceName() {
			t.Fatalf("v1's nic: %+v", nic)
		}
		type rk struct {
			proto           string
			a, b, typ, code int
			cidr, peer      string
		}
		key := func(rs []securitygroup.Rule) []rk {
			out := []rk{}
			for _, r := range rs {
				out = append(out, rk{r.Protocol, r.StartPort, r.EndPort, r.ICMPType, r.ICMPCode, r.CIDR, r.PeerGroupID})
			}
			sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
			return out
		}
		wantIn := []rk{{"icmp", 0, 0, 8, 0, "192.0.2.0/24", ""}, {"tcp", 22, 22, 0, 0, "", w.web.ID}, {"tcp", 80, 80, 0, 0, "0.0.0.0/0", ""}}
		sort.Slice(wantIn, func(i, j int) bool { return fmt.Sprint(wantIn[i]) < fmt.Sprint(wantIn[j]) })
		if got := key(nic.Ingress); !reflect.DeepEqual(got, wantIn) {
			t.Fatalf("v1 ingress %v, want %v", got, wantIn)
		}
		if got := key(nic.Egress); !reflect.DeepEqual(got, []rk{{"all", 0, 0, 0, 0, "0.0.0.0/0", ""}}) {
			t.Fatalf("v1 egress %v", got)
		}
		wantMembers := []string{w.ips[w.v1.ID], w.ips[w.v2.ID]}
		sort.Strings(wantMembers)
		if !reflect.DeepEqual(st.Members, map[string][]string{w.web.ID: wantMembers}) {
			t.Fatalf("members %v, want web: %v (v3 is stopped)", st.Members, wantMembers)
		}
		if st2, err := securitygroup.ComputeHostState(ctx, w.d.SQL, "h2"); err != nil || len(st2.Nics) != 1 || st2.Nics[0].VMID != w.v2.ID ||
			len(st2.Nics[0].Ingress) != 1 || len(st2.Members) != 0 {
			t.Fatalf("h2: %+v %v", st2, err)
		}
		if st3, err := securitygroup.ComputeHostState(ctx, w.d.SQL, "h3"); err != nil || len(st3.Nics) != 0 || st3.Seq != 0 {
			t.Fatalf("h3: %+v %v", st3, err)
		}

		// web changes: its members' hosts (h1, h2), and h1 again for default, whose rule names web.
		hosts, err := securitygroup.AffectedHosts(ctx, w.d.SQL, []string{w.web.ID})
		if err != nil || !reflect.DeepEqual(hosts, []string{"h1", "h2"}) {
			t.Fatalf("hosts of web: %v %v", hosts, err)
		}
		if hosts, err = securitygroup.AffectedHosts(ctx, w.d.SQL, []string{w.def.ID}); err != nil || !reflect.DeepEqual(hosts, []string{"h1"}) {
			t.Fatalf("hosts of default: %v %v", hosts, err)
		}
		dep := &orchestrate.Deps{DB: w.d}
		if err := securitygroup.Apply(ctx, dep, []string{w.web.ID}); err != nil {
			t.Fatal(err)
		}
		if err := securitygroup.Apply(ctx, dep, []string{w.def.ID}); err != nil {
			t.Fatal(err)
		}
		for h, want := range map[string]int64{"h1": 2, "h2": 1, "h3": 0} {
			if seq, err := db.SecurityGroupHostSeq(ctx, w.d.SQL, h); err != nil || seq != want {
				t.Errorf("%s seq %d (%v), want %d", h, seq, err, want)
			}
		}
		if st, _ := securitygroup.ComputeHostState(ctx, w.d.SQL, "h1"); st.Seq != 2 {
			t.Errorf("h1 state seq %d", st.Seq)
		}
		// v2 (web) left h3 for h2: h1 and h2 (web's members, default naming web) and h3 learn it;
		// bob's v4, in no group, changes nothing.
		if err := securitygroup.VMChanged(ctx, dep, w.v2.ID, "h3", "h2"); err != nil {
			t.Fatal(err)
		}
		if err := securitygroup.VMChanged(ctx, dep, w.v4.ID, "h1"); err != nil {
			t.Fatal(err)
		}
		for h, want := range map[string]int64{"h1": 3, "h2": 2, "h3": 1} {
			if seq, err := db.SecurityGroupHostSeq(ctx, w.d.SQL, h); err != nil || seq != want {
				t.Errorf("after VMChanged: %s seq %d (%v), want %d", h, seq, err, want)
			}
		}
	})
}
