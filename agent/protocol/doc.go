// Package protocol defines the versioned wire messages between management servers and agents
// and the connection that carries them: length-prefixed JSON frames over any stream (TLS, or
// an in-memory pipe for simulated hosts), with request/response correlation and timeouts. It
// imports only the standard library; both sides import it.
package protocol
