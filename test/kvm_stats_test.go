package test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atollcloud/atoll/mgmt/api"
)

// checkVMStats samples a running guest of the real host with a short vm.stats.interval and
// checks what listVirtualMachinesMetrics makes of its counters: a CPU use above zero (the
// guest's CPU time between two samples), its memory, and the bytes and reads it took from its
// disks to boot. It puts the interval back to CloudStack's default when done.
func (h *kvmHost) checkVMStats(t *testing.T, vmID string) {
	t.Helper()
	h.do(t, "updateConfiguration", map[string]string{"name": "vm.stats.interval", "value": "1000"})
	defer h.do(t, "updateConfiguration", map[string]string{"name": "vm.stats.interval", "value": "60000"})
	start := time.Now()
	var m map[string]any
	waitFor(t, "the guest's stats with a CPU use", 30*time.Second, func() (bool, string) {
		m = api.First(h.do(t, "listVirtualMachinesMetrics", map[string]string{"id": vmID}), "virtualmachine")
		return m["cpuused"] != nil, fmt.Sprint(m["cpuused"], m["memorykbs"])
	})
	t.Logf("stats after %s: cpuused %v cputotal %v memorykbs %v memorytargetkbs %v memorytotal %v diskkbsread %v diskioread %v diskkbswrite %v diskread %v networkkbsread %v networkkbswrite %v",
		time.Since(start).Round(time.Millisecond), m["cpuused"], m["cputotal"], m["memorykbs"], m["memorytargetkbs"], m["memorytotal"],
		m["diskkbsread"], m["diskioread"], m["diskkbswrite"], m["diskread"], m["networkkbsread"], m["networkkbswrite"])
	used, err := strconv.ParseFloat(strings.TrimSuffix(fmt.Sprint(m["cpuused"]), "%"), 64)
	if err != nil || used <= 0 || !strings.HasSuffix(fmt.Sprint(m["cpuused"]), "%") {
		t.Errorf("cpuused of a running guest: %v (%v)", m["cpuused"], err)
	}
	if m["cputotal"] != "0.5 Ghz" {
		t.Errorf("cputotal of a 1 x 500 MHz VM: %v", m["cputotal"])
	}
	num := func(k string) float64 { f, _ := m[k].(float64); return f }
	// The offering's 192 MiB, as libvirt reports the domain's memory.
	if num("memorykbs") != 192*1024 || num("memorytargetkbs") <= 0 || num("memorytargetkbs") > num("memorykbs") {
		t.Errorf("memory of a 192 MiB guest: memorykbs %v memorytargetkbs %v", m["memorykbs"], m["memorytargetkbs"])
	}
	if num("diskkbsread") <= 0 || num("diskioread") <= 0 || num("diskiopstotal") < num("diskioread") || !strings.HasSuffix(fmt.Sprint(m["diskread"]), " MiB") {
		t.Errorf("disk reads of a booted guest: diskkbsread %v diskioread %v diskiopstotal %v diskread %v", m["diskkbsread"], m["diskioread"], m["diskiopstotal"], m["diskread"])
	}
	if _, ok := m["networkkbsread"].(float64); !ok {
		t.Errorf("networkkbsread of a guest with a NIC: %v", m["networkkbsread"])
	}
}
