package router

import (
	"os/exec"
	"testing"
)

// dump logs the router namespace's nftables ruleset, addresses, routes and counters: what
// a failing kernel test needs to be read.
func (l *lab) dump(id string) {
	l.t.Helper()
	for _, args := range [][]string{
		{"nft", "list", "table", "inet", tableName},
		{"ip", "-d", "addr"},
		{"ip", "route"},
		{"ip", "-s", "link"},
	} {
		cmd := append([]string{"--net=" + l.m.Path(id)}, args...)
		out, err := exec.Command("nsenter", cmd...).CombinedOutput()
		l.t.Logf("%v (err %v):\n%s", args, err, out)
	}
}

func TestKernelDebugDump(t *testing.T) {
	l, g1, _, out, s := standard(t)
	out.listen(t, "tcp4", 8000)
	_, err := g1.dial(t, outsideA.Addr(), 8000)
	t.Logf("dial: %v", err)
	l.dump(s.ID)
}
