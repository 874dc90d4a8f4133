// Package network holds what the guest network layer gives VM deployment: the network a
// deploy naming none goes to (made for the account when it has none), a network implemented
// on its first VM (its VNI and source NAT address), and each NIC's address, claimed and freed
// in the caller's transaction with the capacity and resource counts that go with them.
package network
