// Package db owns Atoll's persistent state: opening MariaDB/MySQL or an embedded SQLite
// file, the numbered embedded migrations, the one Transaction helper that retries
// deadlocks and write conflicts, and one file of queries per table. Only mgmt/... imports it.
package db
