package api_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// TestDeployAddressRace deploys at once as many VMs as a /28 network has addresses: every
// deploy gets its own address (on MariaDB the address and NIC inserts travel with the VM's
// insert, and a lost race runs the deploy's transaction again), and one more is refused.
func TestDeployAddressRace(t *testing.T) { testDeployAddressRace(t, false) }

func TestDeployAddressRaceOnMariaDB(t *testing.T) {
	mgmttest.MySQLBase(t)
	testDeployAddressRace(t, true)
}

func testDeployAddressRace(t *testing.T, mysql bool) {
	v := newVMEnv(t, mysql)
	var offeringID string
	for _, o := range mgmttest.Do(t, v.Admin, "listNetworkOfferings", nil)["networkoffering"].([]any) {
		if m := o.(map[string]any); m["name"] == "DefaultIsolatedNetworkOfferingWithSourceNatService" {
			offeringID = m["id"].(string)
		}
	}
	n := mgmttest.Do(t, v.tenant, "createNetwork", map[string]string{"name": "small", "displaytext": "small", "networkofferingid": offeringID,
		"zoneid": v.zoneID, "gateway": "10.9.0.1", "netmask": "255.255.255.240"})["network"].(map[string]any)["id"].(string)
	so := mgmttest.Do(t, v.Admin, "createServiceOffering", map[string]string{"name": "race-tiny", "displaytext": "race-tiny",
		"cpunumber": "1", "cpuspeed": "10", "memory": "32"})["serviceoffering"].(map[string]any)["id"].(string)
	const free = 13 // 10.9.0.2 to 10.9.0.14
	deploy := func(name string) (map[string]any, error) {
		res, err := v.tenant.DoWait(context.Background(), "deployVirtualMachine", map[string]string{"serviceofferingid": so,
			"templateid": db.SimulatorTemplateID, "zoneid": v.zoneID, "networkids": n, "name": name})
		if err != nil {
			return nil, err
		}
		return res["virtualmachine"].(map[string]any), nil
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ips := map[string]string{}
	for i := 0; i < free; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			vm, err := deploy(fmt.Sprintf("race-%02d", i))
			if err != nil {
				t.Errorf("deploy %d: %v", i, err)
				return
			}
			ip := vm["nic"].([]any)[0].(map[string]any)["ipaddress"].(string)
			mu.Lock()
			defer mu.Unlock()
			if other, ok := ips[ip]; ok {
				t.Errorf("%s given to %s and %v", ip, other, vm["name"])
			}
			ips[ip] = vm["name"].(string)
		}(i)
	}
	wg.Wait()
	if len(ips) != free {
		t.Fatalf("%d distinct addresses for %d deploys: %v", len(ips), free, ips)
	}
	if _, err := deploy("race-extra"); err == nil {
		t.Fatal("a deploy into the full network succeeded")
	}
	v.checkLedger(t)
}
