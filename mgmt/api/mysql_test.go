package api_test

import (
	"testing"

	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

func TestDomainLifecycleMariaDB(t *testing.T) {
	e := mgmttest.Start(t, mgmttest.Options{MySQL: true})
	d := mgmttest.Do(t, e.Admin, "createDomain", map[string]string{"name": "eng"})["domain"].(map[string]any)
	mgmttest.Fail(t, e.Admin, "createDomain", map[string]string{"name": "Eng"}, 431)
	mgmttest.DoAsync(t, e.Admin, "deleteDomain", map[string]string{"id": d["id"].(string)})
}
