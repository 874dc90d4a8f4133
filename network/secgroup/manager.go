package secgroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// batchLimit bounds the bytes of one netlink batch: larger ones overflow the socket with
// acknowledgements (ENOBUFS, google/nftables#103).
const batchLimit = 30 * 1024

// Manager keeps the "bridge atoll" table of one network namespace equal to a State. Its
// methods are safe for concurrent use; they run one at a time.
type Manager struct {
	mu    sync.Mutex
	ns    netns.NsHandle // a duplicate the Manager owns, or netns.None()
	log   *slog.Logger
	limit int
	last  applyStats // what the last Apply did, for tests
}

// New opens a Manager on the network namespace ns; netns.None() means the calling
// process's namespace (the host's, for the agent). Close releases it.
func New(ns netns.NsHandle, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{ns: netns.None(), log: log.With("component", "network/secgroup"), limit: batchLimit}
	if ns.IsOpen() {
		fd, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("security groups: keep the namespace: %w", err)
		}
		m.ns = netns.NsHandle(fd)
	}
	return m, nil
}

// Close releases the Manager's hold on its namespace. The table stays.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ns.IsOpen() {
		err := m.ns.Close()
		m.ns = netns.None()
		return err
	}
	return nil
}

func (m *Manager) conn() (*nftables.Conn, error) {
	if m.ns.IsOpen() {
		return nftables.New(nftables.WithNetNSFd(int(m.ns)))
	}
	return nftables.New()
}

// inNS runs fn on a thread in the Manager's namespace (for its per-namespace sysctls).
func (m *Manager) inNS(fn func() error) error {
	if !m.ns.IsOpen() {
		return fn()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(m.ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return err // the thread stays locked and dies with the goroutine
	}
	runtime.UnlockOSThread()
	return ferr
}

// kernelState is what Apply finds of its table.
type kernelState struct {
	exists bool
	chains map[string]bool                // regular (port) chains
	sets   map[string]map[netip.Addr]bool // group sets and their members
	maps   map[string]map[string]string   // from_vm / to_vm: tap -> chain
}

func (m *Manager) read(c *nftables.Conn) (kernelState, error) {
	k := kernelState{chains: map[string]bool{}, sets: map[string]map[netip.Addr]bool{},
		maps: map[string]map[string]string{fromVMMap: {}, toVMMap: {}}}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyBridge)
	if err != nil {
		return k, fmt.Errorf("list tables: %w", err)
	}
	var t *nftables.Table
	for _, tb := range tables {
		if tb.Name == tableName {
			t = tb
		}
	}
	if t == nil {
		return k, nil
	}
	k.exists = true
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		return k, fmt.Errorf("list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name == tableName && ch.Hooknum == nil {
			k.chains[ch.Name] = true
		}
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return k, fmt.Errorf("list sets: %w", err)
	}
	for _, s := range sets {
		els, err := c.GetSetElements(s)
		if err != nil {
			return k, fmt.Errorf("list set %s: %w", s.Name, err)
		}
		switch {
		case s.Name == fromVMMap || s.Name == toVMMap:
			for _, e := range els {
				k.maps[s.Name][strings.TrimRight(string(e.Key), "\x00")] = e.Comment
			}
		case strings.HasPrefix(s.Name, "g4_") || strings.HasPrefix(s.Name, "g6_"):
			k.sets[s.Name] = map[netip.Addr]bool{}
			for _, e := range els {
				if a, ok := netip.AddrFromSlice(e.Key); ok {
					k.sets[s.Name][a] = true
				}
			}
		}
	}
	return k, nil
}

// batcher queues changes on a Conn and flushes them in transactions of at most limit bytes
// (by estimate). A change that must be atomic is queued by one add.
type batcher struct {
	ctx     context.Context
	c       *nftables.Conn
	limit   int
	size    int
	flushes int
}

func (b *batcher) add(n int, fn func() error) error {
	if b.size > 0 && b.size+n > b.limit {
		if err := b.flush(); err != nil {
			return err
		}
	}
	b.size += n
	return fn()
}

func (b *batcher) flush() error {
	if b.size == 0 {
		return nil
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	b.size = 0
	b.flushes++
	if err := b.c.Flush(); err != nil {
		return fmt.Errorf("nftables transaction %d: %w", b.flushes, err)
	}
	return nil
}

// ruleSize estimates a rule's bytes in a batch.
func ruleSize(exprs []expr.Any) int {
	n := 96
	for _, e := range exprs {
		b, _ := expr.Marshal(byte(nftables.TableFamilyBridge), e)
		n += len(b) + 8
	}
	return n
}

// Apply makes the table equal to s: group sets get their members (by adding and deleting
// elements: rules naming a group never change for a membership change), each port its
// egress and ingress chains (named by a hash of their rules: an unchanged port is not
// rewritten), and the two maps that send a tap's frames to its chains get the new names,
// one port at a time atomically; then chains and sets nothing uses any more are deleted.
// The work goes in transactions of under 30 KB each. Every step keeps each port either on
// its old rules or on its new ones, so an error leaves no port unfiltered; the next Apply
// completes the change. Bad input changes nothing.
func (m *Manager) Apply(ctx context.Context, s State) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("security groups: %w", err)
	}
	p := build(s)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.inNS(enableBridgeNetfilter); err != nil {
		return fmt.Errorf("security groups: %w", err)
	}
	c, err := m.conn()
	if err != nil {
		return fmt.Errorf("security groups: nftables: %w", err)
	}
	k, err := m.read(c)
	if err != nil {
		return fmt.Errorf("security groups: %w", err)
	}
	b := &batcher{ctx: ctx, c: c, limit: m.limit}
	st, err := m.apply(b, p, k)
	if err == nil {
		err = b.flush()
	}
	st.transactions = b.flushes
	m.last = st
	if err != nil {
		return fmt.Errorf("security groups: %w", err)
	}
	m.log.Info("security groups applied", "ports", len(s.Ports), "groups", len(s.Groups),
		"chains_written", st.chains, "ports_switched", st.switched, "chains_deleted", st.deleted,
		"transactions", st.transactions)
	return nil
}

type applyStats struct{ chains, switched, deleted, transactions int }

func (m *Manager) apply(b *batcher, p plan, k kernelState) (applyStats, error) {
	var st applyStats
	c := b.c
	t := &nftables.Table{Family: nftables.TableFamilyBridge, Name: tableName}
	vmaps := map[string]*nftables.Set{}
	sets := map[string]*nftables.Set{}
	setNames := make([]string, 0, len(p.sets))
	for name := range p.sets {
		setNames = append(setNames, name)
	}
	sort.Strings(setNames)

	// 1. The tables, the maps, the group sets and the base chains with their fixed rules.
	err := b.add(4096+64*len(setNames), func() error {
		addCtTable(c)
		c.AddTable(t)
		for _, name := range []string{fromVMMap, toVMMap} {
			vm := &nftables.Set{Table: t, Name: name, IsMap: true, KeyType: nftables.TypeIFName, DataType: nftables.TypeVerdict}
			if err := c.AddSet(vm, nil); err != nil {
				return fmt.Errorf("map %s: %w", name, err)
			}
			vmaps[name] = vm
		}
		for _, name := range setNames {
			typ := nftables.TypeIPAddr
			if strings.HasPrefix(name, "g6_") {
				typ = nftables.TypeIP6Addr
			}
			set := &nftables.Set{Table: t, Name: name, KeyType: typ}
			if err := c.AddSet(set, nil); err != nil {
				return fmt.Errorf("set %s: %w", name, err)
			}
			sets[name] = set
		}
		for _, bc := range baseChains {
			ch := c.AddChain(&nftables.Chain{Name: bc.name, Table: t, Type: nftables.ChainTypeFilter,
				Hooknum: bc.hook, Priority: nftables.ChainPriorityFilter})
			c.FlushChain(ch)
			for _, r := range baseRules(bc.maps, vmaps) {
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}

	// 2. Group members: only the difference, so every transaction leaves a sensible set.
	for _, name := range setNames {
		have := k.sets[name]
		want := map[netip.Addr]bool{}
		for _, a := range p.sets[name] {
			want[a] = true
			if !have[a] {
				el := []nftables.SetElement{{Key: a.AsSlice()}}
				if err := b.add(64, func() error { return c.SetAddElements(sets[name], el) }); err != nil {
					return st, err
				}
			}
		}
		for a := range have {
			if !want[a] {
				el := []nftables.SetElement{{Key: a.AsSlice()}}
				if err := b.add(64, func() error { return c.SetDeleteElements(sets[name], el) }); err != nil {
					return st, err
				}
			}
		}
	}

	// 3. Port chains not in the kernel yet: nothing jumps to them until step 4.
	want := map[string]bool{}
	for _, pc := range p.chains {
		want[pc.name] = true
		if k.chains[pc.name] {
			continue
		}
		st.chains++
		ch := &nftables.Chain{Name: pc.name, Table: t}
		if err := b.add(128, func() error { c.AddChain(ch); return nil }); err != nil {
			return st, err
		}
		for _, r := range pc.rules {
			if err := b.add(ruleSize(r), func() error {
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
				return nil
			}); err != nil {
				return st, err
			}
		}
	}

	// 4. Each tap to its new chains, its old map element replaced in the same transaction;
	// taps no longer in the state leave the maps (and so are no longer filtered).
	for _, mp := range []struct {
		name string
		want map[string]string
	}{{fromVMMap, p.fromVM}, {toVMMap, p.toVM}} {
		have := k.maps[mp.name]
		taps := make([]string, 0, len(mp.want))
		for tap := range mp.want {
			taps = append(taps, tap)
		}
		sort.Strings(taps)
		for _, tap := range taps {
			chain := mp.want[tap]
			old, had := have[tap]
			if had && old == chain {
				continue
			}
			st.switched++
			err := b.add(256, func() error {
				key := ifname(tap)
				if had {
					if err := c.SetDeleteElements(vmaps[mp.name], []nftables.SetElement{{Key: key}}); err != nil {
						return err
					}
				}
				return c.SetAddElements(vmaps[mp.name], []nftables.SetElement{{Key: key, Comment: chain,
					VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}})
			})
			if err != nil {
				return st, err
			}
		}
		for tap := range have {
			if _, ok := mp.want[tap]; !ok {
				key := ifname(tap)
				if err := b.add(128, func() error {
					return c.SetDeleteElements(vmaps[mp.name], []nftables.SetElement{{Key: key}})
				}); err != nil {
					return st, err
				}
			}
		}
	}
	// The switch goes in before the deletions below: the old chains are unreferenced then.
	if err := b.flush(); err != nil {
		return st, err
	}

	// 5. Chains and group sets nothing refers to any more.
	for name := range k.chains {
		if !want[name] {
			st.deleted++
			ch := &nftables.Chain{Name: name, Table: t}
			if err := b.add(128, func() error { c.DelChain(ch); return nil }); err != nil {
				return st, err
			}
		}
	}
	if err := b.flush(); err != nil {
		return st, err
	}
	for name := range k.sets {
		if _, ok := p.sets[name]; !ok {
			set := &nftables.Set{Table: t, Name: name}
			if err := b.add(128, func() error { c.DelSet(set); return nil }); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// baseRules are a hooked chain's rules: "iifname vmap @from_vm" and/or "oifname vmap
// @to_vm". A tap in no map matches nothing and passes (the chain's policy is accept).
func baseRules(maps []string, vmaps map[string]*nftables.Set) [][]expr.Any {
	var out [][]expr.Any
	for _, name := range maps {
		key := expr.MetaKeyIIFNAME
		if name == toVMMap {
			key = expr.MetaKeyOIFNAME
		}
		out = append(out, []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Lookup{SourceRegister: 1, SetName: name, SetID: vmaps[name].ID, DestRegister: 0, IsDestRegSet: true},
		})
	}
	return out
}

// Remove deletes the table (and the inet table that feeds it connection state): no port is
// filtered any more. A missing table is no error. The br_netfilter sysctls are left as
// they are.
func (m *Manager) Remove(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := m.conn()
	if err != nil {
		return fmt.Errorf("security groups: nftables: %w", err)
	}
	n := 0
	for _, tt := range []struct {
		fam  nftables.TableFamily
		name string
	}{{nftables.TableFamilyBridge, tableName}, {nftables.TableFamilyINet, ctTableName}} {
		tables, err := c.ListTablesOfFamily(tt.fam)
		if err != nil {
			return fmt.Errorf("security groups: list tables: %w", err)
		}
		for _, tb := range tables {
			if tb.Name == tt.name {
				c.DelTable(tb)
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("security groups: delete tables: %w", err)
	}
	m.log.Info("security groups removed")
	return nil
}
