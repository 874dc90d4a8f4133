// Package jobs runs durable async jobs: every management server claims pending jobs by lease,
// renews the leases of jobs it runs, and takes over jobs whose server died once their lease
// lapses. Only the oldest pending job of an object may run, so work on one object is serial.
package jobs
