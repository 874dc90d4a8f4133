package agents

import (
	"context"
	"time"
)

// HoldAdmission takes every handshake and/or registration slot, as a crowd of agents would,
// until release is called.
func (m *Manager) HoldAdmission(handshakes, registrations bool) (release func()) {
	var gates []*gate
	if handshakes {
		gates = append(gates, m.hsGate)
	}
	if registrations {
		gates = append(gates, m.regGate)
	}
	for _, g := range gates {
		for g.enter(context.Background(), 0) {
		}
	}
	return func() {
		for _, g := range gates {
			for range cap(g.slots) {
				g.leave()
			}
		}
	}
}

// Shed reports the connections closed before their handshake and the busy answers so far.
func (m *Manager) Shed() (connections, busy int64) { return m.load.shed.Load(), m.load.busy.Load() }

// SetAdmissionWaits shortens the waits for a slot; restore puts them back.
func SetAdmissionWaits(handshake, registration time.Duration) (restore func()) {
	h, r := handshakeQueue, regQueue
	handshakeQueue, regQueue = handshake, registration
	return func() { handshakeQueue, regQueue = h, r }
}
