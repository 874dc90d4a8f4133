// Package mgmt composes a management server: database, migrations, bootstrap, the API, the
// job runner and the server's own heartbeat row. Management servers share nothing but the
// database, so any number of them may run against one.
package mgmt
