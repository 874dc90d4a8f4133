package agents_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/agents"
	"github.com/atollcloud/atoll/mgmt/iam"
)

// Servers starting together on a fresh database end up with one CA.
func TestCACreatedOnce(t *testing.T) {
	dbtest.Engines(t, func(t *testing.T, url string) {
		keys, err := iam.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "k"))
		if err != nil {
			t.Fatal(err)
		}
		d := dbtest.Open(t, url, true)
		const n = 6
		fps := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ca, err := agents.LoadOrCreateCA(context.Background(), d, keys)
				errs[i] = err
				if err == nil {
					fps[i] = ca.Fingerprint
				}
			}()
		}
		wg.Wait()
		for i := range fps {
			if errs[i] != nil || fps[i] != fps[0] {
				t.Fatalf("server %d: %v, fingerprint %s vs %s", i, errs[i], fps[i], fps[0])
			}
		}
		// Another key file cannot use the CA's key.
		other, _ := iam.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "k2"))
		if _, err := agents.LoadOrCreateCA(context.Background(), d, other); err == nil {
			t.Fatal("a server with another key file loaded the CA")
		}
	})
}
