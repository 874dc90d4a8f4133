// Package snapshots owns recurring snapshot policies' timing: parsing CloudStack's schedule
// strings, computing a policy's next run in its timezone, and the scheduler loop that runs on
// whichever management server holds the "snapshot-scheduler" lease (one at a time; another
// takes over when the lease lapses). What firing a policy does (a snapshot row and its job in
// one transaction) is given to the scheduler by the API package.
package snapshots
