package kvm

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	libvirt "github.com/digitalocean/go-libvirt"

	"github.com/atollcloud/atoll/hypervisor"
)

// VMStats returns the counters of every running VM, from one ConnectGetAllDomainStats call.
func (d *Driver) VMStats(ctx context.Context) ([]hypervisor.VMStats, error) {
	want := libvirt.DomainStatsState | libvirt.DomainStatsCPUTotal | libvirt.DomainStatsBalloon |
		libvirt.DomainStatsVCPU | libvirt.DomainStatsInterface | libvirt.DomainStatsBlock
	var recs []libvirt.DomainStatsRecord
	err := d.conn.do(ctx, "stats", func(l *libvirt.Libvirt) error {
		var e error
		recs, e = l.ConnectGetAllDomainStats(nil, uint32(want), uint32(libvirt.ConnectGetAllDomainsStatsActive))
		return e
	})
	if err != nil {
		return nil, fmt.Errorf("kvm: vm stats: %w", err)
	}
	out := make([]hypervisor.VMStats, 0, len(recs))
	for _, r := range recs {
		out = append(out, parseStats(r.Dom.Name, r.Params))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// parseStats reads libvirt's flat stats parameters ("cpu.time", "block.0.rd.bytes" ...).
// Memory parameters are in KiB.
func parseStats(name string, ps []libvirt.TypedParam) hypervisor.VMStats {
	m := make(map[string]libvirt.TypedParam, len(ps))
	for _, p := range ps {
		m[p.Field] = p
	}
	i := func(k string) int64 {
		v, _ := paramInt(ps, k, m)
		return v
	}
	s := func(k string) string {
		if p, ok := m[k]; ok {
			if v, ok := p.Value.I.(string); ok {
				return v
			}
		}
		return ""
	}
	st := hypervisor.VMStats{Name: name, State: hypervisor.PowerUnknown}
	if v, ok := paramInt(ps, "state.state", m); ok {
		st.State = powerState(libvirt.DomainState(v))
	}
	st.CPUTimeNs = uint64(i("cpu.time"))
	st.CPUs = int(i("vcpu.current"))
	st.MemoryBytes = i("balloon.current") * 1024
	st.MaxMemory = i("balloon.maximum") * 1024
	st.RSSBytes = i("balloon.rss") * 1024
	st.FreeMemory = i("balloon.unused") * 1024
	for n := int64(0); n < i("block.count"); n++ {
		p := "block." + strconv.FormatInt(n, 10) + "."
		if s(p+"path") == "" {
			continue // an empty CD-ROM drive: no file, no I/O
		}
		st.Disks = append(st.Disks, hypervisor.DiskStats{Device: s(p + "name"), Path: s(p + "path"),
			ReadBytes: i(p + "rd.bytes"), WriteBytes: i(p + "wr.bytes"), ReadOps: i(p + "rd.reqs"), WriteOps: i(p + "wr.reqs")})
	}
	for n := int64(0); n < i("net.count"); n++ {
		p := "net." + strconv.FormatInt(n, 10) + "."
		st.Nics = append(st.Nics, hypervisor.NicStats{Device: s(p + "name"),
			RxBytes: i(p + "rx.bytes"), TxBytes: i(p + "tx.bytes"), RxPackets: i(p + "rx.pkts"), TxPackets: i(p + "tx.pkts")})
	}
	return st
}

// paramInt finds an integer parameter by name (through index when given) of any integer type.
func paramInt(ps []libvirt.TypedParam, name string, index ...map[string]libvirt.TypedParam) (int64, bool) {
	var p libvirt.TypedParam
	found := false
	if len(index) > 0 {
		p, found = index[0][name]
	} else {
		for _, q := range ps {
			if q.Field == name {
				p, found = q, true
				break
			}
		}
	}
	if !found {
		return 0, false
	}
	switch v := p.Value.I.(type) {
	case int32:
		return int64(v), true
	case uint32:
		return int64(v), true
	case int64:
		return v, true
	case uint64:
		return int64(v), true
	}
	return 0, false
}

func sortVMs(vms []hypervisor.VM) {
	sort.Slice(vms, func(i, j int) bool { return vms[i].Name < vms[j].Name })
}
