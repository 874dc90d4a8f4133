package atoll_test

// apiPending lists the mgmt/api files TestAPIIsAThinAdapter lets through for now, each with
// why. An entry that has become clean fails the test until it is taken off.
var apiPending = map[string]string{
	"hosts.go":             "the hosts family (addHost, deleteHost, maintenance) still runs its agent commands here: its move to mgmt/orchestrate/host is issue 11 work not yet done",
	"hosts_agent.go":       "hosts family, not yet moved",
	"hosts_maintenance.go": "hosts family, not yet moved",
	"isos_attach.go":       "VM family, being moved to mgmt/orchestrate/vm",
	"vms_deploy.go":        "VM family, being moved to mgmt/orchestrate/vm",
	"vms_lifecycle.go":     "VM family, being moved to mgmt/orchestrate/vm",
	"vms_sync.go":          "VM family, being moved to mgmt/orchestrate/vm",
	"vms_update.go":        "VM family, being moved to mgmt/orchestrate/vm",
}
