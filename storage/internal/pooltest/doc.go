// Package pooltest is the conformance suite every storage.Pool and ImageStore passes, run
// against real qemu-img by the local and nfs packages' tests.
package pooltest
