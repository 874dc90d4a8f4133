package router

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// maxBatch bounds one nftables batch in bytes. google/nftables asks an echo and an
// acknowledgement for every message; past about 32 KB they overflow the socket's receive
// buffer (ENOBUFS, google/nftables#103), so a large ruleset goes in several batches.
const maxBatch = 24 << 10

// hashPrefix starts the comment of a base chain's jump rule: the hash of the ruleset.
const hashPrefix = "atoll "

var table = &nftables.Table{Name: tableName, Family: nftables.TableFamilyINet}

// tableState is what the kernel has of the table.
type tableState struct {
	chains map[string]*nftables.Chain
	counts map[string]int  // rules per chain
	jumps  map[string]bool // slots some base chain jumps to: their chains are live
	slot   string          // the live generation's slot, when every base chain agrees on it
	hash   string          // and its hash
}

// readTable reads the table's chains, their rule counts and the live generation.
func readTable(c *nftables.Conn) (*tableState, error) {
	st := &tableState{chains: map[string]*nftables.Chain{}, counts: map[string]int{}, jumps: map[string]bool{}}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list nftables chains: %w", err)
	}
	type live struct{ slot, hash string }
	var lives []live
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != tableName {
			continue
		}
		st.chains[ch.Name] = ch
		rules, err := c.GetRules(table, ch)
		if err != nil {
			return nil, fmt.Errorf("list rules of chain %s: %w", ch.Name, err)
		}
		st.counts[ch.Name] = len(rules)
		if b, ok := findBase(ch.Name); ok {
			slot, hash := liveJump(b, rules)
			lives = append(lives, live{slot, hash})
			for _, r := range rules {
				for _, e := range r.Exprs {
					if v, ok := e.(*expr.Verdict); ok && v.Kind == expr.VerdictJump {
						st.jumps[strings.TrimPrefix(v.Chain, b.role+"-")] = true
					}
				}
			}
		}
	}
	if len(lives) == len(baseChains) && lives[0].slot != "" {
		st.slot, st.hash = lives[0].slot, lives[0].hash
		for _, l := range lives {
			if l != lives[0] {
				st.slot, st.hash = "", ""
			}
		}
	}
	return st, nil
}

func findBase(name string) (baseChain, bool) {
	for _, b := range baseChains {
		if b.name == name {
			return b, true
		}
	}
	return baseChain{}, false
}

// liveJump reads a base chain's one rule: a jump to role-slot commented with the hash.
func liveJump(b baseChain, rules []*nftables.Rule) (slot, hash string) {
	if len(rules) != 1 || len(rules[0].Exprs) != 1 {
		return "", ""
	}
	v, ok := rules[0].Exprs[0].(*expr.Verdict)
	if !ok || v.Kind != expr.VerdictJump || !strings.HasPrefix(v.Chain, b.role+"-") {
		return "", ""
	}
	comment, _ := userdata.GetString(rules[0].UserData, userdata.TypeComment)
	if !strings.HasPrefix(comment, hashPrefix) {
		return "", ""
	}
	return strings.TrimPrefix(v.Chain, b.role+"-"), strings.TrimPrefix(comment, hashPrefix)
}

// inSync reports whether the live generation is rs's content, whole.
func (st *tableState) inSync(rs ruleset) bool {
	if st.slot == "" || st.hash != rs.hash {
		return false
	}
	live := buildNames(st.slot)
	for i, c := range rs.chains {
		if n, ok := st.counts[live[i]]; !ok || n != len(c.rules) {
			return false
		}
	}
	return true
}

func buildNames(slot string) []string {
	var out []string
	for _, role := range genRoles {
		out = append(out, genName(role, slot))
	}
	return out
}

// otherSlot is where the next generation goes.
func otherSlot(live string) string {
	if live == "a" {
		return "b"
	}
	return "a"
}

// nftApplier writes rulesets into one namespace's table.
type nftApplier struct {
	c   *nftables.Conn
	log *slog.Logger
}

// apply makes the table hold the spec's ruleset. The live generation keeps filtering until
// one small batch points the base chains at the new one; a failure before that leaves the
// live generation as it was and removes the half-built one. It reports whether anything
// changed.
func (a *nftApplier) apply(s *Spec) (bool, error) {
	st, err := readTable(a.c)
	if err != nil {
		return false, err
	}
	probe := buildRuleset(s, "a")
	if st.inSync(probe) {
		return false, nil
	}
	slot := otherSlot(st.slot)
	if st.slot == "" && st.jumps["a"] {
		slot = "b"
	}
	rs := probe
	if slot != "a" {
		rs = buildRuleset(s, slot)
	}
	// Leftovers of a failed attempt (or a stale slot) go first, in their own batch.
	if err := a.dropChains(st, func(name string) bool { return !isLive(st, name) }); err != nil {
		return false, err
	}
	if err := a.build(rs); err != nil {
		if derr := a.dropSlot(slot); derr != nil {
			a.log.Warn("remove the half-built nftables generation", "slot", slot, "err", derr)
		}
		return false, err
	}
	// The switch: every base chain flushed and pointed at the new generation, atomically.
	for _, b := range baseChains {
		ch := baseChainOf(b)
		a.c.FlushChain(ch)
		a.c.AddRule(&nftables.Rule{Table: table, Chain: ch,
			Exprs:    []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: genName(b.role, slot)}},
			UserData: userdata.AppendString(nil, userdata.TypeComment, hashPrefix+rs.hash)})
	}
	if err := a.c.Flush(); err != nil {
		if derr := a.dropSlot(slot); derr != nil {
			a.log.Warn("remove the unused nftables generation", "slot", slot, "err", derr)
		}
		return false, fmt.Errorf("switch nftables to generation %s: %w", rs.hash, err)
	}
	a.log.Info("nftables ruleset applied", "hash", rs.hash, "slot", slot, "rules", rs.count())
	if st.slot != "" {
		if err := a.dropSlot(st.slot); err != nil {
			// Harmless: nothing jumps there any more; the next apply removes it.
			a.log.Warn("remove the previous nftables generation", "slot", st.slot, "err", err)
		}
	}
	return true, nil
}

// isLive reports whether a chain is a base chain or one a base chain jumps to.
func isLive(st *tableState, name string) bool {
	if _, ok := findBase(name); ok {
		return true
	}
	for slot := range st.jumps {
		if slices.Contains(buildNames(slot), name) {
			return true
		}
	}
	return false
}

func baseChainOf(b baseChain) *nftables.Chain {
	return &nftables.Chain{Name: b.name, Table: table, Type: b.typ, Hooknum: b.hook, Priority: b.priority}
}

func (rs ruleset) count() int {
	n := 0
	for _, c := range rs.chains {
		n += len(c.rules)
	}
	return n
}

// build makes the table, its base chains (empty when new) and the generation's chains and
// rules, in batches of at most maxBatch bytes.
func (a *nftApplier) build(rs ruleset) error {
	a.c.AddTable(table)
	for _, b := range baseChains {
		a.c.AddChain(baseChainOf(b))
	}
	for _, c := range rs.chains {
		ch := a.c.AddChain(&nftables.Chain{Name: c.name, Table: table})
		a.c.FlushChain(ch) // empty, unless a tampered table still had it
	}
	if err := a.c.Flush(); err != nil {
		return fmt.Errorf("create nftables table and chains: %w", err)
	}
	size, batches := 0, 1
	for _, c := range rs.chains {
		ch := &nftables.Chain{Name: c.name, Table: table}
		for _, r := range c.rules {
			n := ruleSize(c.name, r)
			if size > 0 && size+n > maxBatch {
				if err := a.c.Flush(); err != nil {
					return fmt.Errorf("add nftables rules (batch %d): %w", batches, err)
				}
				size, batches = 0, batches+1
			}
			a.c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: r.exprs})
			size += n
		}
	}
	if err := a.c.Flush(); err != nil {
		return fmt.Errorf("add nftables rules (batch %d): %w", batches, err)
	}
	a.log.Debug("nftables generation built", "slot", rs.slot, "batches", batches)
	return nil
}

// ruleSize is about what one rule takes in a batch: its expressions as the kernel gets
// them, plus the message and attribute headers and the table and chain names.
func ruleSize(chainName string, r rule) int {
	n := 64 + len(tableName) + len(chainName)
	for _, e := range r.exprs {
		b, err := expr.Marshal(byte(nftables.TableFamilyINet), e)
		if err != nil {
			n += 256
			continue
		}
		n += len(b) + 8
	}
	return n
}

// dropSlot removes one slot's chains, if there.
func (a *nftApplier) dropSlot(slot string) error {
	st, err := readTable(a.c)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, n := range buildNames(slot) {
		names[n] = true
	}
	return a.dropChains(st, func(name string) bool { return names[name] })
}

// dropChains flushes, then deletes, the table's chains that drop says, in one batch (the
// flushes release the jumps between them first).
func (a *nftApplier) dropChains(st *tableState, drop func(string) bool) error {
	var doomed []*nftables.Chain
	for name := range st.chains {
		if drop(name) {
			doomed = append(doomed, &nftables.Chain{Name: name, Table: table})
		}
	}
	if len(doomed) == 0 {
		return nil
	}
	for _, ch := range doomed {
		a.c.FlushChain(ch)
	}
	for _, ch := range doomed {
		a.c.DelChain(ch)
	}
	if err := a.c.Flush(); err != nil {
		return fmt.Errorf("delete %d stale nftables chains: %w", len(doomed), err)
	}
	return nil
}

// deleteTable removes the table; no error when there is none.
func deleteTable(c *nftables.Conn) error {
	c.DelTable(table)
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete nftables table %s: %w", tableName, err)
	}
	return nil
}
