package agent

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
)

// Selection algorithms for the management server list, as CloudStack's
// indirect.agent.lb.algorithm names them.
const (
	LBStatic     = "static"     // the list in order: the first reachable server
	LBRoundRobin = "roundrobin" // the list rotated per agent, so that agents spread evenly
	LBShuffle    = "shuffle"    // a fresh random order on every connection round
)

// ValidLB reports whether s names an algorithm ("" means static).
func ValidLB(s string) error {
	switch strings.ToLower(s) {
	case "", LBStatic, LBRoundRobin, LBShuffle:
		return nil
	}
	return fmt.Errorf("agent: unknown lb algorithm %q (want static, roundrobin or shuffle)", s)
}

// Order returns the servers in the order an agent with this guid tries them. roundrobin
// rotates the list by a hash of the guid: every agent keeps its own starting server, and a
// cloud's agents spread over the servers like CloudStack's per-host rotated lists.
func Order(servers []string, lb, guid string, rnd *rand.Rand) []string {
	out := append([]string(nil), servers...)
	if len(out) < 2 {
		return out
	}
	switch strings.ToLower(lb) {
	case LBRoundRobin:
		h := fnv.New32a()
		h.Write([]byte(guid))
		k := int(h.Sum32() % uint32(len(out)))
		out = append(out[k:], out[:k]...)
	case LBShuffle:
		if rnd == nil {
			rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		} else {
			rnd.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		}
	}
	return out
}
