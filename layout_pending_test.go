package atoll_test

// apiPending lists the mgmt/api files TestAPIIsAThinAdapter lets through for now, each with
// why. An entry that has become clean fails the test until it is taken off.
var apiPending = map[string]string{
	"hosts.go":             "the hosts family (addHost, deleteHost, maintenance) still runs its agent commands here: its move to mgmt/orchestrate/host is issue 11 work not yet done",
	"hosts_agent.go":       "hosts family, not yet moved",
	"hosts_maintenance.go": "hosts family, not yet moved",
	"vms_sync.go":          "startCompute takes the agents manager (SetAgents in hosts.go hands it over): it goes with the hosts family",
}
