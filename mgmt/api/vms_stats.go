package api

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate/vm"
)

// vmStatsResponse holds UserVmResponse's statistics fields, rendered for a VM with stats when
// the details asked for include them (all or stats). The KiB figures are the sums of the
// increases of every sample kept, or the last interval's (accumulate, vm.stats.increment.metrics).
type vmStatsResponse struct {
	CPUUsed          string `json:"cpuused,omitempty"`
	NetworkKbsRead   *int64 `json:"networkkbsread,omitempty"`
	NetworkKbsWrite  *int64 `json:"networkkbswrite,omitempty"`
	DiskKbsRead      *int64 `json:"diskkbsread,omitempty"`
	DiskKbsWrite     *int64 `json:"diskkbswrite,omitempty"`
	DiskIORead       *int64 `json:"diskioread,omitempty"`
	DiskIOWrite      *int64 `json:"diskiowrite,omitempty"`
	MemoryKbs        *int64 `json:"memorykbs,omitempty"`
	MemoryIntFreeKbs *int64 `json:"memoryintfreekbs,omitempty"`
	MemoryTargetKbs  *int64 `json:"memorytargetkbs,omitempty"`
}

// vmStatsFields are the statistics fields of UserVmResponse.
var vmStatsFields = []Field{
	f("cpuused", rString, "the percentage of the VM's vCPUs used between its last two samples, e.g. 12.5%"),
	f("networkkbsread", rLong, "KiB the VM received over the network"),
	f("networkkbswrite", rLong, "KiB the VM sent over the network"),
	f("diskkbsread", rLong, "KiB the VM read from its disks"),
	f("diskkbswrite", rLong, "KiB the VM wrote to its disks"),
	f("diskioread", rLong, "read operations of the VM's disks"),
	f("diskiowrite", rLong, "write operations of the VM's disks"),
	f("memorykbs", rLong, "the memory the VM may have, in KiB"),
	f("memoryintfreekbs", rLong, "the memory the guest reports unused, in KiB (when it reports it)"),
	f("memorytargetkbs", rLong, "the memory the VM has now (its balloon's target), in KiB"),
}

// vmMetricsFields are what VmMetricsResponse adds to UserVmResponse.
var vmMetricsFields = []Field{
	f("cputotal", rString, "the VM's CPU capacity, e.g. 1.0 Ghz"),
	f("memorytotal", rString, "the VM's memory, e.g. 0.50 GiB"),
	f("networkread", rString, "networkkbsread in MiB, e.g. 1.25 MiB"),
	f("networkwrite", rString, "networkkbswrite in MiB"),
	f("diskread", rString, "diskkbsread in MiB"),
	f("diskwrite", rString, "diskkbswrite in MiB"),
	f("diskiopstotal", rLong, "diskioread plus diskiowrite"),
}

// vmMetricsResponse is CloudStack's VmMetricsResponse: a UserVmResponse with its figures in
// readable units.
type vmMetricsResponse struct {
	*vmResponse
	CPUTotal      string `json:"cputotal,omitempty"`
	MemoryTotal   string `json:"memorytotal,omitempty"`
	NetworkRead   string `json:"networkread,omitempty"`
	NetworkWrite  string `json:"networkwrite,omitempty"`
	DiskRead      string `json:"diskread,omitempty"`
	DiskWrite     string `json:"diskwrite,omitempty"`
	DiskIOPSTotal *int64 `json:"diskiopstotal,omitempty"`
}

func registerVMMetrics(s *Server) {
	// listVirtualMachines' parameters, less the paging ones Add appends to every list again.
	paging := map[string]bool{}
	for _, p := range pagingParams {
		paging[p.Name] = true
	}
	var params []Param
	for _, p := range s.Reg.Get("listVirtualMachines").Params {
		if !paging[p.Name] {
			params = append(params, p)
		}
	}
	s.Reg.Add(&Command{Name: "listVirtualMachinesMetrics", Response: join(vmResponseFields, vmMetricsFields), Roles: AllRoles, List: true,
		ResponseKey: "virtualmachine", Description: "Lists VM metrics: listVirtualMachines' answer with the VMs' figures in readable units.",
		Params: params, Handler: listVMMetrics})
}

// wantsStats reports whether the details parameter asks for the statistics (all or stats;
// none given means all).
func wantsStats(c *Call) bool {
	ds := c.P.List("details")
	if len(ds) == 0 {
		return true
	}
	for _, d := range ds {
		if strings.EqualFold(d, "all") || strings.EqualFold(d, "stats") {
			return true
		}
	}
	return false
}

// addVMStats fills in the statistics of the VMs rendered (items of *vmResponse) that have
// any, when the details ask for them.
func (c *Call) addVMStats(q db.Querier, items []any) error {
	if len(items) == 0 || !wantsStats(c) {
		return nil
	}
	if some, err := db.AnyRows(c.Ctx, q, "vm_stats", "1 = 1"); err != nil || !some {
		return err
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.(*vmResponse).ID)
	}
	stats, err := db.VMStatsOf(c.Ctx, q, ids)
	if err != nil {
		return err
	}
	if len(stats) == 0 {
		return nil
	}
	acc, ok := c.P.Bool("accumulate")
	if !ok {
		acc = true
		if v, err := c.S.Config.Get(c.Ctx, config.Global, "", vm.StatsIncrementSetting); err == nil {
			acc, _ = strconv.ParseBool(v)
		}
	}
	for _, it := range items {
		r := it.(*vmResponse)
		if st := stats[r.ID]; st != nil {
			r.vmStatsResponse = renderVMStats(st, acc)
		}
	}
	return nil
}

func kib(b int64) *int64 { v := b / 1024; return &v }

func count(n int64) *int64 { return &n }

// renderVMStats renders a VM's stats row: with acc the summed increases, else the last
// interval's.
func renderVMStats(s *db.VMStats, acc bool) vmStatsResponse {
	io := s.Last
	if acc {
		io = s.Acc
	}
	r := vmStatsResponse{NetworkKbsRead: kib(io.NetRxBytes), NetworkKbsWrite: kib(io.NetTxBytes), DiskKbsRead: kib(io.DiskReadBytes),
		DiskKbsWrite: kib(io.DiskWriteBytes), DiskIORead: count(io.DiskReadOps), DiskIOWrite: count(io.DiskWriteOps),
		MemoryKbs: kib(max(s.MaxMemory, s.MemoryBytes)), MemoryTargetKbs: kib(s.MemoryBytes)}
	if s.FreeMemory > 0 {
		r.MemoryIntFreeKbs = kib(s.FreeMemory)
	}
	if s.CPUUsed.Valid {
		r.CPUUsed = cpuPercent(s.CPUUsed.Float64)
	}
	return r
}

// cpuPercent renders a percentage as CloudStack's DecimalFormat("#.##") does, then "%": at most
// two decimals (half-even), no trailing zeros.
func cpuPercent(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s + "%"
}

// fixed renders v with n decimals as Java's String.format("%.nf") does: from v's shortest
// decimal representation, rounded half-up.
func fixed(v float64, n int) string {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(v, 'g', -1, 64))
	if !ok {
		return strconv.FormatFloat(v, 'f', n, 64)
	}
	return halfUp(r, n)
}

func halfUp(r *big.Rat, n int) string {
	neg := r.Sign() < 0
	a := new(big.Rat).Abs(r)
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	a.Mul(a, new(big.Rat).SetInt(scale))
	a.Add(a, big.NewRat(1, 2))
	q := new(big.Int).Quo(a.Num(), a.Denom())
	digits := q.String()
	if len(digits) <= n {
		digits = strings.Repeat("0", n-len(digits)+1) + digits
	}
	out := digits
	if n > 0 {
		out = digits[:len(digits)-n] + "." + digits[len(digits)-n:]
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out
}

// metricsOf is MetricsServiceImpl.listVmMetrics: the VM's response with cputotal (GHz),
// memorytotal (GiB) and, where the VM has them, its KiB figures in MiB and its total IOPS.
func metricsOf(r *vmResponse) *vmMetricsResponse {
	m := &vmMetricsResponse{vmResponse: r,
		CPUTotal:    fixed(float64(r.CPUNumber)*float64(r.CPUSpeed)/1000, 1) + " Ghz",
		MemoryTotal: fixed(float64(r.Memory)/1024, 2) + " GiB"}
	mib := func(k *int64) string {
		if k == nil {
			return ""
		}
		return fixed(float64(*k)/1024, 2) + " MiB"
	}
	m.NetworkRead, m.NetworkWrite = mib(r.NetworkKbsRead), mib(r.NetworkKbsWrite)
	m.DiskRead, m.DiskWrite = mib(r.DiskKbsRead), mib(r.DiskKbsWrite)
	if r.DiskIORead != nil && r.DiskIOWrite != nil {
		m.DiskIOPSTotal = count(*r.DiskIORead + *r.DiskIOWrite)
	}
	return m
}

func listVMMetrics(c *Call) (any, error) {
	res, err := listVMs(c)
	if err != nil {
		return nil, err
	}
	lr, ok := res.(ListResult)
	if !ok {
		return nil, fmt.Errorf("listVirtualMachinesMetrics: unexpected list answer %T", res)
	}
	for i, it := range lr.Items {
		lr.Items[i] = metricsOf(it.(*vmResponse))
	}
	return lr, nil
}
