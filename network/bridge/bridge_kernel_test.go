package bridge

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/hypervisor"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestKernelEnsureListRemove(t *testing.T) {
	n := newTestNS(t)
	ctx := context.Background()
	const br = "atbr-nabc123"

	wantList(t, n)
	if err := timed(t, "Ensure (create)", func() error { return n.m.Ensure(ctx, br, Options{}) }); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	l := n.link(t, br)
	if _, ok := l.(*netlink.Bridge); !ok || !isUp(l) || l.Attrs().MTU != 1500 {
		t.Fatalf("after Ensure: %s is a %s, up=%v, mtu %d; want an up bridge of mtu 1500", br, l.Type(), isUp(l), l.Attrs().MTU)
	}
	index := l.Attrs().Index
	wantList(t, n, br+"[]")

	// Ensure again: the same bridge; then with an MTU, which it takes.
	if err := timed(t, "Ensure (exists)", func() error { return n.m.Ensure(ctx, br, Options{}) }); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if err := n.m.Ensure(ctx, br, Options{MTU: 9000}); err != nil {
		t.Fatalf("Ensure with mtu: %v", err)
	}
	if l = n.link(t, br); l.Attrs().Index != index || l.Attrs().MTU != 9000 {
		t.Fatalf("after Ensure with mtu 9000: index %d (was %d), mtu %d", l.Attrs().Index, index, l.Attrs().MTU)
	}
	// A bridge someone set down comes back up.
	if err := n.h.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	if err := n.m.Ensure(ctx, br, Options{}); err != nil {
		t.Fatalf("Ensure of a down bridge: %v", err)
	}
	if l = n.link(t, br); !isUp(l) || l.Attrs().MTU != 9000 {
		t.Fatalf("after Ensure of a down bridge: up=%v mtu %d, want up and 9000 kept", isUp(l), l.Attrs().MTU)
	}

	// Ports: a VM NIC's tap (named as the KVM driver names it) and a veth.
	tap := hypervisor.TapName("52:54:00:AB:CD:EF")
	n.tap(t, tap)
	n.veth(t, "atvg0", "atvg0p")
	n.plug(t, tap, br)
	n.plug(t, "atvg0", br)
	infos, err := n.m.List(ctx)
	if err != nil || len(infos) != 1 {
		t.Fatalf("List = %+v, %v", infos, err)
	}
	if got := infos[0]; got.Name != br || got.Index != index || got.MTU != 9000 || !got.Up || len(got.Ports) != 2 {
		t.Fatalf("List[0] = %+v", got)
	}
	wantList(t, n, br+"["+tap+":tuntap,atvg0:veth]")

	// Remove refuses while guests are plugged in, and says which.
	err = n.m.Remove(ctx, br, false)
	wantErrIs(t, "Remove with ports", err, ErrBusy, "bridge "+br, tap, "atvg0")
	if !n.exists(t, br) {
		t.Fatal("a refused Remove deleted the bridge")
	}
	// Forced, it detaches the ports (leaving them to their owners) and deletes the bridge.
	if err := timed(t, "Remove (forced, 2 ports)", func() error { return n.m.Remove(ctx, br, true) }); err != nil {
		t.Fatalf("forced Remove: %v", err)
	}
	wantList(t, n)
	for _, p := range []string{tap, "atvg0"} {
		if l := n.link(t, p); l.Attrs().MasterIndex != 0 {
			t.Errorf("port %s still has master %d", p, l.Attrs().MasterIndex)
		}
	}
	if err := n.m.Remove(ctx, br, false); err != nil {
		t.Fatalf("Remove of a missing bridge: %v", err)
	}

	// An empty bridge goes without force.
	if err := n.m.Ensure(ctx, "atbr-v7", Options{}); err != nil {
		t.Fatal(err)
	}
	if err := timed(t, "Remove (empty)", func() error { return n.m.Remove(ctx, "atbr-v7", false) }); err != nil {
		t.Fatalf("Remove of an empty bridge: %v", err)
	}
	wantList(t, n)
}

func TestKernelRefusals(t *testing.T) {
	n := newTestNS(t)
	ctx := context.Background()

	// Names without the prefix are not ours: lo exists, and Remove must not touch it.
	wantErrIs(t, "Remove lo", n.m.Remove(ctx, "lo", true), ErrNotManaged, "bridge lo")
	if !n.exists(t, "lo") {
		t.Fatal("Remove(lo) deleted lo")
	}
	wantErrIs(t, "Ensure eth0", n.m.Ensure(ctx, "eth0", Options{}), ErrNotManaged)
	if n.exists(t, "eth0") {
		t.Fatal("Ensure(eth0) made a link")
	}

	// A link with a managed name that is no bridge: Ensure and Remove refuse, List skips it.
	n.veth(t, "atbr-fake", "atbr-fakep")
	wantErrIs(t, "Ensure over a veth", n.m.Ensure(ctx, "atbr-fake", Options{}), ErrNotBridge, "bridge atbr-fake", "veth")
	wantErrIs(t, "Remove of a veth", n.m.Remove(ctx, "atbr-fake", true), ErrNotBridge)
	if !n.exists(t, "atbr-fake") {
		t.Fatal("the veth was deleted")
	}
	wantList(t, n)

	// Bad options change nothing.
	err := n.m.Ensure(ctx, "atbr-v1", Options{VLAN: &VLANLink{Uplink: "eth1", ID: 5000}})
	if err == nil || n.exists(t, "atbr-v1") {
		t.Fatalf("Ensure with vlan 5000: %v; bridge made: %v", err, n.exists(t, "atbr-v1"))
	}

	// A cancelled context changes nothing either.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := n.m.Ensure(cctx, "atbr-v2", Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ensure with a cancelled context: %v", err)
	}
	if _, err := n.m.List(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("List with a cancelled context: %v", err)
	}
	wantList(t, n)
}

// TestKernelEnsureConcurrent has two Managers (two netlink handles, as two agents' worth of
// callers would) ensure the same bridge at once: every call succeeds and one bridge results.
func TestKernelEnsureConcurrent(t *testing.T) {
	n := newTestNS(t)
	m2, err := New(n.ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		m := n.m
		if i%2 == 1 {
			m = m2
		}
		wg.Go(func() { errs <- m.Ensure(context.Background(), "atbr-x9", Options{}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Ensure: %v", err)
		}
	}
	wantList(t, n, "atbr-x9[]")
}

// TestKernelHostUntouched checks that a Manager made on a test namespace works there and
// not in the namespace of the test process.
func TestKernelHostUntouched(t *testing.T) {
	n := newTestNS(t)
	if err := n.m.Ensure(context.Background(), "atbr-n7e57", Options{}); err != nil {
		t.Fatal(err)
	}
	host, err := netlink.NewHandleAt(netns.None())
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if _, err := host.LinkByName("atbr-n7e57"); !isNotFound(err) {
		t.Fatalf("the bridge is visible in the host namespace (err %v)", err)
	}
	if !n.exists(t, "atbr-n7e57") {
		t.Fatal("the bridge is not in the test namespace")
	}
}
