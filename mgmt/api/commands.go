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
	registerSnapshots(s)
}
