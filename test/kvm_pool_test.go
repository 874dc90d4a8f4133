package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atollcloud/atoll/mgmt/api"
)

// poolState answers the primary pool's state as listStoragePools shows it, and how long the
// call took.
func (h *kvmHost) poolState(t *testing.T) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	r, err := h.c.Do(h.ctx, "listStoragePools", map[string]string{"zoneid": h.zoneID})
	took := time.Since(start)
	if err != nil || r["storagepool"] == nil {
		return fmt.Sprint(r, err), took
	}
	return fmt.Sprint(api.First(r, "storagepool")["state"]), took
}

// waitPool waits for the pool to reach state and returns how long it took; no
// listStoragePools call may take long meanwhile (nothing waits on the NFS server).
func (h *kvmHost) waitPool(t *testing.T, state string, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, "primary pool "+state, max, func() (bool, string) {
		st, took := h.poolState(t)
		if took > 2*time.Second {
			t.Errorf("listStoragePools took %s while the NFS server was away", took)
		}
		return st == state, st
	})
	return time.Since(start)
}

// alertWith reports whether listAlerts has an alert mentioning every one of words.
func (h *kvmHost) alertWith(t *testing.T, words ...string) bool {
	t.Helper()
	for _, a := range h.do(t, "listAlerts", nil)["alert"].([]any) {
		s := fmt.Sprint(a)
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestKVMPoolDown: the NFS server of the primary pool hung (SIGSTOP) and then stopped
// (ganesha.sh stop) is each time reported, not waited on: within a bounded time the pool is
// Down in listStoragePools with an alert, the API keeps answering at once, and a deploy is
// refused with CloudStack's capacity error (the planner places nothing on it) without
// creating anything; with the server back the pool is Up again, with an alert, and a deploy
// runs on it.
func TestKVMPoolDown(t *testing.T) {
	h := startKVMHost(t)
	h.do(t, "updateConfiguration", map[string]string{"name": "storage.stats.interval", "value": "2000"})
	url, sum, _ := serveTemplate(t)
	tid, tmpl := h.registerTiny(t, "tiny", url, sum)
	if tmpl["isready"] != true {
		t.Fatalf("template not ready: %v", tmpl["status"])
	}
	offering := api.First(h.do(t, "createServiceOffering", map[string]string{"name": "tiny", "displaytext": "tiny", "cpunumber": "1",
		"cpuspeed": "500", "memory": "160"}), "serviceoffering")["id"].(string)
	h.waitPool(t, "Up", 30*time.Second)
	pool := api.First(h.do(t, "listStoragePools", map[string]string{"zoneid": h.zoneID}), "storagepool")
	poolName := pool["name"].(string)

	down := func(how string) {
		t.Helper()
		took := h.waitPool(t, "Down", 60*time.Second)
		t.Logf("NFS server %s: pool Down in listStoragePools after %s (storage.stats.interval 2 s)", how, took.Round(time.Millisecond))
		if !h.alertWith(t, poolName, "Down") {
			t.Errorf("no alert for the pool going Down (%s)", how)
		}
		if st := fmt.Sprint(api.First(h.do(t, "listStoragePools", map[string]string{"status": "Down"}), "storagepool")["name"]); st != poolName {
			t.Errorf("listStoragePools status=Down: %v", st)
		}
		files := exportFiles(t, h.primary)
		start := time.Now()
		_, err := h.c.DoWait(h.ctx, "deployVirtualMachine", map[string]string{"zoneid": h.zoneID, "templateid": tid,
			"serviceofferingid": offering, "name": "pool-down"})
		t.Logf("deploy with the pool Down (%s) refused in %s: %v", how, time.Since(start).Round(time.Millisecond), err)
		if err == nil || !strings.Contains(err.Error(), "533") || !strings.Contains(err.Error(), "primary storage") {
			t.Errorf("deploy with the pool Down: %v; want CloudStack's capacity error 533", err)
		}
		if time.Since(start) > 15*time.Second {
			t.Errorf("deploy with the pool Down took %s", time.Since(start))
		}
		if after := exportFiles(t, h.primary); after != files {
			t.Errorf("the refused deploy changed the export: %s -> %s", files, after)
		}
	}
	up := func(how string) {
		t.Helper()
		took := h.waitPool(t, "Up", 60*time.Second)
		t.Logf("NFS server %s: pool Up again after %s", how, took.Round(time.Millisecond))
		if !h.alertWith(t, poolName, "Up") {
			t.Errorf("no alert for the pool coming back (%s)", how)
		}
	}

	// A hung server: every NFS call from the agent times out.
	gpid, _ := strconv.Atoi(strings.TrimSpace(readFile(filepath.Join(h.ganeshaDir, "ganesha.pid"))))
	if gpid == 0 {
		t.Fatal("no ganesha pid")
	}
	if err := syscall.Kill(gpid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	cont := true
	t.Cleanup(func() {
		if cont {
			syscall.Kill(gpid, syscall.SIGCONT)
		}
	})
	down("hung (SIGSTOP)")
	if err := syscall.Kill(gpid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	cont = false
	up("resumed (SIGCONT)")

	// A stopped server, then started again on the same exports.
	script(t, "ganesha.sh", "stop", h.ganeshaDir)
	down("stopped")
	exports := strings.Fields(script(t, "ganesha.sh", "start", h.ganeshaDir, h.primary, h.secondary))
	if len(exports) != 2 {
		t.Fatalf("ganesha.sh printed %v", exports)
	}
	up("started again")

	// The planner places volumes on it again.
	vm := api.First(h.do(t, "deployVirtualMachine", map[string]string{"zoneid": h.zoneID, "templateid": tid,
		"serviceofferingid": offering, "name": "pool-up"}), "virtualmachine")
	if vm["state"] != "Running" {
		t.Fatalf("deploy after the pool came back: %v", vm)
	}
	root := api.First(h.do(t, "listVolumes", map[string]string{"virtualmachineid": vm["id"].(string), "type": "ROOT"}), "volume")
	if _, err := os.Stat(filepath.Join(h.primary, root["id"].(string))); err != nil {
		t.Errorf("root volume of the deploy after the pool came back: %v", err)
	}
	h.do(t, "destroyVirtualMachine", map[string]string{"id": vm["id"].(string), "expunge": "true"})
}
