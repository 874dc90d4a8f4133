// Package config is the catalogue of CloudStack settings Atoll knows (names, categories,
// scopes, types, defaults) and the store that reads and writes their values at global, zone,
// cluster, domain, account and storage-pool scope.
package config
