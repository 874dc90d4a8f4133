package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/iam"
	"github.com/google/uuid"
)

// chargeEnv is a bare API server (no HTTP) over a migrated, bootstrapped database, with a
// domain ROOT/d1/d2 and a user account in d2.
type chargeEnv struct {
	s               *Server
	root, d1, d2    *db.Domain
	user, adminAcct *db.Account
}

func newChargeEnv(t testing.TB, url string) *chargeEnv {
	t.Helper()
	d := dbtest.Open(t, url, true)
	if _, err := iam.Bootstrap(t.Context(), d, "password"); err != nil {
		t.Fatal(err)
	}
	keys, err := iam.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	s := New(d, keys, nil, config.NewStore(d), slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	e := &chargeEnv{s: s}
	ctx := t.Context()
	if e.root, err = db.GetDomainByPath(ctx, d.Read(), "ROOT"); err != nil {
		t.Fatal(err)
	}
	now := db.Now()
	e.d1 = &db.Domain{ID: uuid.NewString(), ParentID: e.root.ID, Name: "d1", Path: "ROOT/d1", Level: 1, State: "Active", Created: now}
	e.d2 = &db.Domain{ID: uuid.NewString(), ParentID: e.d1.ID, Name: "d2", Path: "ROOT/d1/d2", Level: 2, State: "Active", Created: now}
	e.user = &db.Account{ID: uuid.NewString(), Name: "u1", Type: db.AccountUser, DomainID: e.d2.ID, State: "enabled", Created: now}
	for _, dm := range []*db.Domain{e.d1, e.d2} {
		if err := db.InsertDomain(ctx, d.SQL, dm); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.InsertAccount(ctx, d.SQL, e.user); err != nil {
		t.Fatal(err)
	}
	if e.adminAcct, err = db.GetAccountByName(ctx, d.Read(), e.root.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *chargeEnv) call(ctx context.Context) *Call {
	return &Call{Ctx: ctx, S: e.s, Caller: &iam.Caller{User: &db.User{AccountID: e.adminAcct.ID, AccountType: db.AccountRootAdmin}}}
}

func (e *chargeEnv) charge(t *testing.T, accountID string, deltas map[string]int64) error {
	t.Helper()
	return e.s.DB.Transaction(t.Context(), func(tx db.Tx) error { return e.call(t.Context()).chargeResources(tx, accountID, deltas) })
}

func (e *chargeEnv) counts(t *testing.T, ownerType, id string) map[string]int64 {
	t.Helper()
	m, err := db.ResourceCounts(t.Context(), e.s.DB.Read(), ownerType, id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// chargeResources adds to the account and every non-ROOT domain above it, refuses with
// CloudStack's 532 and message past the account's default limit (max.account.*), past a
// domain's explicit limit (set on an ancestor: CloudStack walks up), and never limits a root
// admin's account; negative deltas always succeed and counts stop at zero.
func TestChargeResources(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newChargeEnv(t, url)
		for i := 0; i < 20; i++ {
			if err := e.charge(t, e.user.ID, map[string]int64{db.ResUserVM: 1, db.ResCPU: 1, db.ResMemory: 512}); err != nil {
				t.Fatalf("vm %d: %v", i, err)
			}
		}
		before := dbtest.Fingerprint(t, e.s.DB.Read(), "resource_counts")
		err := e.charge(t, e.user.ID, map[string]int64{db.ResUserVM: 1, db.ResCPU: 1, db.ResMemory: 512})
		var ae *Error
		if !errors.As(err, &ae) || ae.Code != 532 || ae.CSCode != CSResourceAllocation {
			t.Fatalf("21st vm: %v, want 532", err)
		}
		want := "Maximum amount of resources of Type = 'user_vm', tag = 'null' for Account Name = u1 in Domain Id = " + e.d2.ID +
			" is exceeded: Account Resource Limit = 20, Current Account Resource Amount = 20, Current Account Resource Reservation = 0, Requested Resource Amount = 1."
		if ae.Text != want {
			t.Errorf("message\n got %s\nwant %s", ae.Text, want)
		}
		if after := dbtest.Fingerprint(t, e.s.DB.Read(), "resource_counts"); after != before {
			t.Error("a refused charge changed counts")
		}
		for _, who := range []struct{ typ, id string }{{db.OwnerAccount, e.user.ID}, {db.OwnerDomain, e.d2.ID}, {db.OwnerDomain, e.d1.ID}} {
			c := e.counts(t, who.typ, who.id)
			if c[db.ResUserVM] != 20 || c[db.ResCPU] != 20 || c[db.ResMemory] != 20*512 {
				t.Errorf("%s %s counts %v", who.typ, who.id, c)
			}
		}
		if c := e.counts(t, db.OwnerDomain, e.root.ID); len(c) != 0 {
			t.Errorf("ROOT has stored counts %v", c)
		}
		// A domain limit set on d1 applies to d2 (no limit of its own) and is checked after
		// the account's: a CPU charge within the account's 40 fails on the domain.
		if err := db.SetResourceLimit(t.Context(), e.s.DB.SQL, db.OwnerDomain, e.d1.ID, db.ResCPU, 25); err != nil {
			t.Fatal(err)
		}
		err = e.charge(t, e.user.ID, map[string]int64{db.ResCPU: 6})
		if !errors.As(err, &ae) || ae.Code != 532 || !strings.HasPrefix(ae.Text, "Maximum domain resource limits of Type 'cpu' for Domain Id = "+e.d2.ID+
			" is exceeded: Domain Resource Limit = 25, Current Domain Resource Amount = 20,") {
			t.Fatalf("domain limit: %v", err)
		}
		if c := e.counts(t, db.OwnerAccount, e.user.ID); c[db.ResCPU] != 20 {
			t.Errorf("refused domain charge left the account at %d cpus", c[db.ResCPU])
		}
		if err := e.charge(t, e.user.ID, map[string]int64{db.ResCPU: 5}); err != nil {
			t.Fatalf("charge up to the domain limit: %v", err)
		}
		// Storage messages are human-readable; the default is 200 GiB.
		err = e.charge(t, e.user.ID, map[string]int64{db.ResPrimaryStorage: 201 << 30})
		if !errors.As(err, &ae) || !strings.Contains(ae.Text, "Account Resource Limit = 200.00 GB") || !strings.Contains(ae.Text, "Requested Resource Amount = 201.00 GB") {
			t.Fatalf("storage: %v", err)
		}
		// Negative deltas: always, and never below zero.
		if err := e.charge(t, e.user.ID, map[string]int64{db.ResUserVM: -25, db.ResCPU: -1}); err != nil {
			t.Fatal(err)
		}
		if c := e.counts(t, db.OwnerDomain, e.d1.ID); c[db.ResUserVM] != 0 || c[db.ResCPU] != 24 {
			t.Errorf("after release: %v", c)
		}
		// A setting at account scope changes that account's default.
		if err := e.s.Config.Set(t.Context(), e.s.DB.SQL, "account", e.user.ID, "max.account.user.vms", limitsPtr("1")); err != nil {
			t.Fatal(err)
		}
		if err := e.charge(t, e.user.ID, map[string]int64{db.ResUserVM: 2}); err == nil {
			t.Error("account-scoped max.account.user.vms=1 allowed 2")
		}
		// The root admin's account is unlimited (and ROOT too).
		if err := e.charge(t, e.adminAcct.ID, map[string]int64{db.ResUserVM: 1000, db.ResPrimaryStorage: 1 << 50}); err != nil {
			t.Fatalf("root admin: %v", err)
		}
		// Nor do its domains' limits bind a root admin account placed below ROOT.
		ra := &db.Account{ID: uuid.NewString(), Name: "ra", Type: db.AccountRootAdmin, DomainID: e.d2.ID, State: "enabled", Created: db.Now()}
		if err := db.InsertAccount(t.Context(), e.s.DB.SQL, ra); err != nil {
			t.Fatal(err)
		}
		if err := e.charge(t, ra.ID, map[string]int64{db.ResCPU: 100}); err != nil {
			t.Fatalf("root admin below a limited domain: %v", err)
		}
		if c := e.counts(t, db.OwnerDomain, e.d1.ID); c[db.ResCPU] != 124 {
			t.Errorf("d1 counts the root admin's charge: %v", c)
		}
		if err := e.charge(t, uuid.NewString(), map[string]int64{db.ResUserVM: 1}); err == nil {
			t.Error("charging an unknown account succeeded")
		}
	})
}

func limitsPtr(s string) *string { return &s }

// BenchmarkChargeResources measures one deploy-like charge (instance, CPU, memory, volume,
// storage) and its release for a tenant two domains below ROOT, each in its own transaction.
// ATOLL_TEST_MYSQL selects MariaDB.
func BenchmarkChargeResources(b *testing.B) {
	url := "sqlite://" + filepath.Join(b.TempDir(), "atoll.db")
	if os.Getenv("ATOLL_TEST_MYSQL") != "" {
		url = dbtest.NewMySQLDatabase(b)
	}
	e := newChargeEnv(b, url)
	if err := db.SetResourceLimit(context.Background(), e.s.DB.SQL, db.OwnerAccount, e.user.ID, db.ResUserVM, -1); err != nil {
		b.Fatal(err)
	}
	charge := map[string]int64{db.ResUserVM: 1, db.ResCPU: 1, db.ResMemory: 512, db.ResVolume: 1, db.ResPrimaryStorage: 1 << 30}
	release := map[string]int64{}
	for k, v := range charge {
		release[k] = -v
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := charge
		if i%2 == 1 {
			d = release
		}
		if err := e.s.DB.Transaction(ctx, func(tx db.Tx) error { return e.call(ctx).chargeResources(tx, e.user.ID, d) }); err != nil {
			b.Fatal(err)
		}
	}
}

// Concurrent charges of one account never pass its limit (nor its domain's): of 24 racing
// one-instance charges under a limit of 10, exactly 10 succeed and the counts say 10.
func TestChargeResourcesConcurrent(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		e := newChargeEnv(t, url)
		if err := db.SetResourceLimit(t.Context(), e.s.DB.SQL, db.OwnerAccount, e.user.ID, db.ResUserVM, 10); err != nil {
			t.Fatal(err)
		}
		// A second account in the same domain races on the domain's rows (d2's default 40 is
		// out of reach; d1 gets a limit of 14 that the two accounts together would pass).
		other := &db.Account{ID: uuid.NewString(), Name: "u2", Type: db.AccountUser, DomainID: e.d2.ID, State: "enabled", Created: db.Now()}
		if err := db.InsertAccount(t.Context(), e.s.DB.SQL, other); err != nil {
			t.Fatal(err)
		}
		if err := db.SetResourceLimit(t.Context(), e.s.DB.SQL, db.OwnerDomain, e.d1.ID, db.ResUserVM, 14); err != nil {
			t.Fatal(err)
		}
		type result struct {
			acct string
			err  error
		}
		results := make(chan result, 48)
		for i := 0; i < 24; i++ {
			for _, a := range []string{e.user.ID, other.ID} {
				go func() { results <- result{a, e.charge(t, a, map[string]int64{db.ResUserVM: 1, db.ResCPU: 1})} }()
			}
		}
		ok := map[string]int{}
		for i := 0; i < 48; i++ {
			r := <-results
			var ae *Error
			switch {
			case r.err == nil:
				ok[r.acct]++
			case errors.As(r.err, &ae) && ae.Code == 532:
			default:
				t.Errorf("charge: %v", r.err)
			}
		}
		if ok[e.user.ID] > 10 || ok[e.user.ID]+ok[other.ID] != 14 {
			t.Errorf("successes: user %d, other %d; want user <= 10 and 14 in all", ok[e.user.ID], ok[other.ID])
		}
		if c := e.counts(t, db.OwnerAccount, e.user.ID); c[db.ResUserVM] != int64(ok[e.user.ID]) || c[db.ResCPU] != int64(ok[e.user.ID]) {
			t.Errorf("user counts %v after %d successes", c, ok[e.user.ID])
		}
		if c := e.counts(t, db.OwnerDomain, e.d1.ID); c[db.ResUserVM] != 14 {
			t.Errorf("d1 counts %v", c)
		}
	})
}
