// Package protocol defines the versioned wire messages between management servers and agents.
// It imports only the standard library; both sides import it.
package protocol
