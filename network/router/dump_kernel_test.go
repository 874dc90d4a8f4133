package router

import (
	"os/exec"
)

// dump logs the router namespace's nftables table, addresses and routes, for a failing
// test to be read. nsenter and ip come with util-linux and iproute2; nft with nftables
// (scripts/deps.sh installs it).
func (l *lab) dump(id string) {
	l.t.Helper()
	for _, args := range [][]string{
		{"nft", "list", "table", "inet", tableName},
		{"ip", "addr"},
		{"ip", "route"},
	} {
		cmd := append([]string{"--net=" + l.m.Path(id)}, args...)
		out, err := exec.Command("nsenter", cmd...).CombinedOutput()
		l.t.Logf("%v (err %v):\n%s", args, err, out)
	}
}

// nftList is `nft list table inet atoll` in the router namespace: the kernel's table as
// nft reads it back, which also proves nft can read what google/nftables wrote.
func (l *lab) nftList(id string) string {
	l.t.Helper()
	out, err := exec.Command("nsenter", "--net="+l.m.Path(id), "nft", "list", "table", "inet", tableName).CombinedOutput()
	if err != nil {
		l.t.Fatalf("nft list table inet %s: %v\n%s", tableName, err, out)
	}
	return string(out)
}

// failDump dumps the router when the test has failed.
func (l *lab) failDump(id string) {
	l.t.Cleanup(func() {
		if l.t.Failed() {
			l.dump(id)
		}
	})
}
