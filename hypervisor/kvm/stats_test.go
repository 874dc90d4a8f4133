package kvm

import (
	"reflect"
	"testing"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/atollcloud/atoll/hypervisor"
)

func tp(field string, v any) libvirt.TypedParam {
	var val *libvirt.TypedParamValue
	switch x := v.(type) {
	case int32:
		val = libvirt.NewTypedParamValueInt(x)
	case uint32:
		val = libvirt.NewTypedParamValueUint(x)
	case uint64:
		val = libvirt.NewTypedParamValueUllong(x)
	case string:
		val = libvirt.NewTypedParamValueString(x)
	}
	return libvirt.TypedParam{Field: field, Value: *val}
}

func TestParseStats(t *testing.T) {
	ps := []libvirt.TypedParam{
		tp("state.state", int32(1)), tp("state.reason", int32(1)),
		tp("cpu.time", uint64(12980000000)),
		tp("balloon.current", uint64(262144)), tp("balloon.maximum", uint64(524288)), tp("balloon.rss", uint64(230208)),
		tp("vcpu.current", uint32(2)), tp("vcpu.maximum", uint32(4)),
		tp("net.count", uint32(1)), tp("net.0.name", "at02004c6e0001"),
		tp("net.0.rx.bytes", uint64(1000)), tp("net.0.rx.pkts", uint64(10)), tp("net.0.tx.bytes", uint64(2000)), tp("net.0.tx.pkts", uint64(20)),
		tp("block.count", uint32(3)),
		tp("block.0.name", "vda"), tp("block.0.path", "/pool/root.qcow2"),
		tp("block.0.rd.reqs", uint64(343)), tp("block.0.rd.bytes", uint64(10070528)), tp("block.0.wr.reqs", uint64(7)), tp("block.0.wr.bytes", uint64(4096)),
		tp("block.1.name", "hdd"), tp("block.1.path", "/cd/i-2-10-VM.iso"), tp("block.1.rd.reqs", uint64(10)), tp("block.1.rd.bytes", uint64(16434)),
		tp("block.2.name", "hdc"), // the empty ISO drive: no path, left out
	}
	got := parseStats("i-2-10-VM", ps)
	want := hypervisor.VMStats{
		Name: "i-2-10-VM", State: hypervisor.PowerOn, CPUs: 2, CPUTimeNs: 12980000000,
		MemoryBytes: 256 << 20, MaxMemory: 512 << 20, RSSBytes: 230208 * 1024,
		Disks: []hypervisor.DiskStats{
			{Device: "vda", Path: "/pool/root.qcow2", ReadBytes: 10070528, WriteBytes: 4096, ReadOps: 343, WriteOps: 7},
			{Device: "hdd", Path: "/cd/i-2-10-VM.iso", ReadBytes: 16434, ReadOps: 10},
		},
		Nics: []hypervisor.NicStats{{Device: "at02004c6e0001", RxBytes: 1000, TxBytes: 2000, RxPackets: 10, TxPackets: 20}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseStats =\n%+v\nwant\n%+v", got, want)
	}
	if s := parseStats("x", nil); s.State != hypervisor.PowerUnknown || s.Disks != nil || s.Nics != nil {
		t.Errorf("empty stats = %+v", s)
	}
}

func TestPowerState(t *testing.T) {
	cases := map[libvirt.DomainState]hypervisor.PowerState{
		libvirt.DomainRunning: hypervisor.PowerOn, libvirt.DomainBlocked: hypervisor.PowerOn,
		libvirt.DomainPaused: hypervisor.PowerOn, libvirt.DomainPmsuspended: hypervisor.PowerOn,
		libvirt.DomainShutdown: hypervisor.PowerOff, libvirt.DomainShutoff: hypervisor.PowerOff,
		libvirt.DomainCrashed: hypervisor.PowerOff, libvirt.DomainNostate: hypervisor.PowerUnknown,
	}
	for s, want := range cases {
		if got := powerState(s); got != want {
			t.Errorf("powerState(%d) = %s, want %s", s, got, want)
		}
	}
}
