// Package agents is the management server's side of the host agents: the agent CA and
// enrollment tokens, the TLS listener, registration (hosts rows, owner, capacity totals),
// heartbeats, the host state monitor (Disconnected, Alert, Down), command routing (directly
// over the connection this server holds, else through agent_commands to the owner), and
// simulated hosts whose real agent code runs in-process over a net.Pipe.
package agents
