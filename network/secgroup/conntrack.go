package secgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// Connection state. nftables' bridge family can read conntrack only with the
// nf_conntrack_bridge module, which this kernel (and many) lacks: a "ct state" rule in a
// bridge table fails with EPROTO. So Atoll does what CloudStack does (security_group.py
// sets net.bridge.bridge-nf-call-iptables): br_netfilter passes bridged IPv4/IPv6 frames
// through the IP layer's hooks, where conntrack tracks them, and a small table
// "inet atoll-ct" copies "established or related" into a bit of the packet mark, which the
// bridge table's rules read. The bridge table still does all the filtering.

// EstablishedMark is the packet-mark bit that says "conntrack found this packet's
// connection established or related". Atoll owns it on hosts that filter guest ports.
const EstablishedMark uint32 = 0x01000000

// ctTableName is the inet table that sets EstablishedMark.
const ctTableName = "atoll-ct"

// brnfSysctls must be 1 for bridged IPv4 and IPv6 to meet conntrack.
var brnfSysctls = []string{
	"/proc/sys/net/bridge/bridge-nf-call-iptables",
	"/proc/sys/net/bridge/bridge-nf-call-ip6tables",
}

// ErrNoBridgeNetfilter is wrapped when the kernel has no br_netfilter (no
// /proc/sys/net/bridge): bridged frames cannot meet conntrack, so rules cannot be stateful.
var ErrNoBridgeNetfilter = errors.New("kernel lacks br_netfilter (load the br_netfilter module)")

// enableBridgeNetfilter sets the br_netfilter sysctls to 1 in the calling thread's network
// namespace (they are per namespace).
func enableBridgeNetfilter() error {
	for _, p := range brnfSysctls {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s is missing", ErrNoBridgeNetfilter, p)
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(b)) == "1" {
			continue
		}
		if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("enable %s: %w", p, err)
		}
	}
	return nil
}

// ctChains are the inet table's chains: after conntrack (-200) on frames entering (which
// br_netfilter passes through prerouting) and on the host's own packets.
var ctChains = []struct {
	name string
	hook *nftables.ChainHook
}{
	{"prerouting", nftables.ChainHookPrerouting},
	{"output", nftables.ChainHookOutput},
}

// ctRules clear the bit, then set it for established or related connections.
func ctRules() [][]expr.Any {
	notBit := binaryutil.NativeEndian.PutUint32(^EstablishedMark)
	bit := binaryutil.NativeEndian.PutUint32(EstablishedMark)
	return [][]expr.Any{
		{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: notBit, Xor: make([]byte, 4)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		},
		{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: notBit, Xor: bit},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		},
	}
}

// addCtTable queues the inet table, its chains and their rules (flushed first: the same
// rules every time) on c.
func addCtTable(c *nftables.Conn) {
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: ctTableName})
	for _, ch := range ctChains {
		chain := c.AddChain(&nftables.Chain{Name: ch.name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: ch.hook, Priority: nftables.ChainPriorityMangle})
		c.FlushChain(chain)
		for _, r := range ctRules() {
			c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: r})
		}
	}
}
