package agent

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestOrder(t *testing.T) {
	servers := []string{"a:1", "b:1", "c:1"}
	if got := Order(servers, LBStatic, "g", nil); !slices.Equal(got, servers) {
		t.Fatalf("static: %v", got)
	}
	if got := Order(servers, "", "g", nil); !slices.Equal(got, servers) {
		t.Fatalf("default: %v", got)
	}
	// roundrobin: a rotation, stable per guid, and agents spread over every server.
	first := map[string]int{}
	for i := 0; i < 300; i++ {
		guid := string(rune('a'+i%26)) + string(rune('a'+i/26))
		o := Order(servers, LBRoundRobin, guid, nil)
		if !slices.Equal(o, Order(servers, LBRoundRobin, guid, nil)) {
			t.Fatalf("roundrobin not stable for %s", guid)
		}
		k := slices.Index(servers, o[0])
		if !slices.Equal(o, append(append([]string{}, servers[k:]...), servers[:k]...)) {
			t.Fatalf("roundrobin is not a rotation: %v", o)
		}
		first[o[0]]++
	}
	for _, s := range servers {
		if first[s] < 50 {
			t.Fatalf("roundrobin spreads badly: %v", first)
		}
	}
	// shuffle: a permutation, and not always the same one.
	rnd := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		o := Order(servers, LBShuffle, "g", rnd)
		s := slices.Clone(o)
		slices.Sort(s)
		if !slices.Equal(s, servers) {
			t.Fatalf("shuffle lost servers: %v", o)
		}
		seen[o[0]+o[1]+o[2]] = true
	}
	if len(seen) < 3 {
		t.Fatalf("shuffle barely shuffles: %v", seen)
	}
	if ValidLB("bogus") == nil || ValidLB("RoundRobin") != nil {
		t.Fatal("ValidLB")
	}
}
