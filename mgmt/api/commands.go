package api

// registerAll adds every command family to the registry.
func registerAll(s *Server) {
	registerAuth(s)
	registerJobCommands(s)
	registerDomains(s)
	registerAccounts(s)
	registerUsers(s)
	registerRoles(s)
	registerConfig(s)
	registerEvents(s)
	registerDiscovery(s)
	registerHosts(s)
	registerHostsForMigration(s)
	registerClusters(s)
	registerStorage(s)
	registerCapacity(s)
	registerZones(s)
	registerPods(s)
	registerPhysicalNetworks(s)
	registerVlanIPRanges(s)
	registerNetworks(s)
	registerTags(s)
	registerSSHKeyPairs(s)
	registerOfferings(s)
	registerTemplates(s)
	registerVolumes(s)
	registerVMs(s)
	registerSnapshots(s)
	registerLoadBalancers(s)
	registerPublicIPListH6(s) // TEMPORARY (H6): the lead drops it for H1's listPublicIpAddresses
}
