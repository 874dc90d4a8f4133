package mgmt_test

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/db/dbtest"
	"github.com/atollcloud/atoll/mgmt/api"
)

// The foundation's acceptance test: two `atoll mgmt` processes share one MariaDB database. A
// claims a deleteDomain job (and is made to sit on it), then dies by SIGKILL; B takes the job
// over once A's lease lapses and finishes it, and answers for it through the API.
func TestJobTakeoverAfterServerKilled(t *testing.T) {
	const lease = 3 * time.Second
	dbURL := dbtest.NewMySQLDatabase(t)
	keyFile := writeKeyFile(t)
	a := startMgmt(t, "mgmt-a", dbURL, keyFile, []string{"ATOLL_FAULT_JOB_DELAY=deleteDomain=60s"}, "--job-lease", lease.String()).ready(t)
	d := openDB(t, dbURL)
	ctx := t.Context()

	s := login(t, a.URL)
	dom := s.do(t, a.URL, "createDomain", map[string]string{"name": "doomed"})["domain"].(map[string]any)
	domID := dom["id"].(string)
	jobID := s.do(t, a.URL, "deleteDomain", map[string]string{"id": domID})["jobid"].(string)

	// A claims the job at once (it wakes its runner after enqueueing) and then sits on it.
	var j *db.Job
	waitUntil(t, 10*time.Second, "server A to own the deleteDomain job", func() bool {
		var err error
		j, err = db.GetJob(ctx, d.Read(), jobID)
		return err == nil && j.Owner == a.ID
	})
	// B starts after A's claim, so that A and not B holds the job when A dies.
	b := startMgmt(t, "mgmt-b", dbURL, keyFile, nil, "--job-lease", lease.String()).ready(t)
	if r := s.do(t, b.URL, "queryAsyncJobResult", map[string]string{"jobid": jobID}); r["jobstatus"].(float64) != 0 {
		t.Fatalf("job finished while A sat on it: %v", r)
	}

	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	killed := time.Now()

	// B answers queryAsyncJobResult (it waits up to 3 s per call for a pending job).
	var r map[string]any
	for {
		var err error
		r, err = s.try(ctx, b.URL, "queryAsyncJobResult", map[string]string{"jobid": jobID})
		if err != nil {
			t.Fatalf("queryAsyncJobResult at B: %v", err)
		}
		if r["jobstatus"].(float64) != 0 || time.Since(killed) > lease+10*time.Second {
			break
		}
	}
	took := time.Since(killed)
	result, _ := json.Marshal(r["jobresult"])
	if r["jobstatus"].(float64) != 1 || string(result) != `{"success":true}` {
		t.Fatalf("after %v: jobstatus %v, jobresult %s; want 1 and {\"success\":true}", took.Round(time.Millisecond), r["jobstatus"], result)
	}
	if took > lease+5*time.Second {
		t.Errorf("B finished the job %v after A died; want within the %v lease and a few seconds", took.Round(time.Millisecond), lease)
	}
	t.Logf("B finished A's job %v after A was killed (lease %v)", took.Round(time.Millisecond), lease)

	if paths := s.domainPaths(t, b.URL); slices.Contains(paths, "ROOT/doomed") {
		t.Fatalf("the domain is still listed after its deletion: %v", paths)
	}
	if got := s.do(t, b.URL, "listDomains", map[string]string{"id": domID}); got["count"] != nil && got["count"].(float64) != 0 {
		t.Fatalf("listDomains id=%s at B: %v", domID, got)
	}
	j, err := db.GetJob(ctx, d.Read(), jobID)
	if err != nil || j.Owner != b.ID || j.Attempts != 2 || j.Status != db.JobSucceeded {
		t.Fatalf("job row: owner %q (B is %s), attempts %d, status %d, err %v", j.Owner, b.ID, j.Attempts, j.Status, err)
	}

	if err := b.stop(t, 20*time.Second); err != nil {
		t.Fatalf("B on SIGTERM: %v (want exit status 0)", err)
	}
}

// A server stopped cleanly (SIGTERM) hands its unfinished job back at once: the other server
// finishes it long before the 30 s lease would have lapsed, and the stopped one exits 0.
func TestJobHandedBackOnSIGTERM(t *testing.T) {
	dbURL := dbtest.NewMySQLDatabase(t)
	keyFile := writeKeyFile(t)
	a := startMgmt(t, "mgmt-a", dbURL, keyFile, []string{"ATOLL_FAULT_JOB_DELAY=deleteDomain=60s"}, "--job-lease", "30s").ready(t)
	d := openDB(t, dbURL)
	s := login(t, a.URL)
	domID := s.do(t, a.URL, "createDomain", map[string]string{"name": "handed"})["domain"].(map[string]any)["id"].(string)
	jobID := s.do(t, a.URL, "deleteDomain", map[string]string{"id": domID})["jobid"].(string)
	waitUntil(t, 10*time.Second, "server A to own the deleteDomain job", func() bool {
		j, err := db.GetJob(t.Context(), d.Read(), jobID)
		return err == nil && j.Owner == a.ID
	})
	b := startMgmt(t, "mgmt-b", dbURL, keyFile, nil, "--job-lease", "30s").ready(t)
	stopped := time.Now()
	if err := a.stop(t, 20*time.Second); err != nil {
		t.Fatalf("A on SIGTERM: %v (want exit status 0)", err)
	}
	var r map[string]any
	for r == nil || r["jobstatus"].(float64) == 0 && time.Since(stopped) < 15*time.Second {
		r = s.do(t, b.URL, "queryAsyncJobResult", map[string]string{"jobid": jobID})
	}
	if r["jobstatus"].(float64) != 1 {
		t.Fatalf("%v after A stopped: %v", time.Since(stopped).Round(time.Millisecond), r)
	}
	t.Logf("B finished the job %v after SIGTERM to A (lease 30 s)", time.Since(stopped).Round(time.Millisecond))
	if j, err := db.GetJob(t.Context(), d.Read(), jobID); err != nil || j.Owner != b.ID || j.Attempts != 2 {
		t.Fatalf("job row: %+v %v", j, err)
	}
	if err := b.stop(t, 20*time.Second); err != nil {
		t.Fatalf("B on SIGTERM: %v", err)
	}
}

// Two servers started at the same moment on one fresh database both come up (concurrent
// migration and bootstrap) and the cloud has exactly one ROOT domain, one admin and the four
// default roles.
func TestConcurrentFirstStart(t *testing.T) {
	dbURL := dbtest.NewMySQLDatabase(t)
	keyFile := writeKeyFile(t)
	servers := []*mgmtServer{
		startMgmt(t, "mgmt-1", dbURL, keyFile, nil),
		startMgmt(t, "mgmt-2", dbURL, keyFile, nil),
		startMgmt(t, "mgmt-3", dbURL, keyFile, nil),
	}
	for _, s := range servers {
		s.ready(t)
	}
	d := openDB(t, dbURL)
	ctx := t.Context()
	for _, c := range []struct {
		what, query string
		want        int
	}{
		{"ROOT domains", "SELECT COUNT(*) FROM domains WHERE parent_id IS NULL", 1},
		{"admin users", "SELECT COUNT(*) FROM users WHERE username = 'admin'", 1},
		{"accounts", "SELECT COUNT(*) FROM accounts", 1},
		{"roles", "SELECT COUNT(*) FROM roles", 4},
		{"management servers up", "SELECT COUNT(*) FROM mgmt_servers WHERE state = 'Up'", len(servers)},
	} {
		var n int
		if err := d.Read().QueryRowContext(ctx, c.query).Scan(&n); err != nil || n != c.want {
			t.Errorf("%s: %d (%v), want %d", c.what, n, err, c.want)
		}
	}
	ms, _ := db.Migrations()
	if v, err := d.SchemaVersion(ctx); err != nil || v != len(ms) {
		t.Errorf("schema version %d (%v), want %d", v, err, len(ms))
	}
	// Each server serves the one cloud: a session made on one works on the others.
	s := login(t, servers[0].URL)
	for _, srv := range servers {
		if paths := s.domainPaths(t, srv.URL); !slices.Equal(paths, []string{"ROOT"}) {
			t.Errorf("domains at %s: %v", srv.name, paths)
		}
	}
	for _, srv := range servers {
		if err := srv.stop(t, 20*time.Second); err != nil {
			t.Errorf("%s on SIGTERM: %v", srv.name, err)
		}
	}
	var down int
	d.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM mgmt_servers WHERE state = 'Down'").Scan(&down)
	if down != len(servers) {
		t.Errorf("%d servers recorded Down after SIGTERM, want %d", down, len(servers))
	}
}

var (
	upEndpoint = regexp.MustCompile(`API endpoint : (http://\S+/client/api)`)
	upKey      = regexp.MustCompile(`API key\s*: (\S+)`)
	upSecret   = regexp.MustCompile(`Secret key\s*: (\S+)`)
)

// `atoll up` restarted on the same data directory keeps its rows and its admin keys, and
// exits 0 on SIGTERM each time.
func TestUpRestartKeepsData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	start := func() (*proc, *api.Client) {
		p := startAtoll(t, "atoll-up", nil, "up", "--data-dir", dir, "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0")
		url := p.waitOutput(t, upEndpoint, 60*time.Second)[1]
		key := p.waitOutput(t, upKey, time.Second)[1]
		secret := p.waitOutput(t, upSecret, time.Second)[1]
		return p, &api.Client{Endpoint: url, Key: key, Secret: secret}
	}
	p, c := start()
	res, err := c.Do(t.Context(), "createDomain", map[string]string{"name": "kept"})
	if err != nil {
		t.Fatal(err)
	}
	domID := res["domain"].(map[string]any)["id"].(string)
	if err := p.stop(t, 20*time.Second); err != nil {
		t.Fatalf("first atoll up on SIGTERM: %v", err)
	}

	p2, c2 := start()
	if c2.Key != c.Key {
		t.Errorf("admin API key changed across restart: %s then %s", c.Key, c2.Key)
	}
	got, err := c2.Do(t.Context(), "listDomains", map[string]string{"id": domID})
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := got["domain"].([]any); len(list) != 1 || list[0].(map[string]any)["path"] != "ROOT/kept" {
		t.Fatalf("after restart: %v", got)
	}
	if err := p2.stop(t, 20*time.Second); err != nil {
		t.Fatalf("second atoll up on SIGTERM: %v", err)
	}
}

var migrated = regexp.MustCompile(`applied (\d+) migration\(s\); schema version (\d+)`)

// `atoll db migrate` applies every migration to a fresh database and none the second time.
func TestDBMigrateCommand(t *testing.T) {
	ms, _ := db.Migrations()
	dbtest.Engines(t, func(t *testing.T, url string) {
		for i, want := range []int{len(ms), 0} {
			out, err := exec.Command(atollBin(t), "db", "migrate", "--db", url).CombinedOutput()
			if err != nil {
				t.Fatalf("run %d: %v\n%s", i+1, err, out)
			}
			m := migrated.FindStringSubmatch(string(out))
			if m == nil || m[1] != strconv.Itoa(want) || m[2] != strconv.Itoa(ms[len(ms)-1].Version) {
				t.Fatalf("run %d printed %q; want %d applied, schema version %d", i+1, out, want, ms[len(ms)-1].Version)
			}
		}
	})
	// A bad URL is a clear error and a non-zero exit.
	out, err := exec.Command(atollBin(t), "db", "migrate", "--db", "postgres://nope").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 || !regexp.MustCompile(`unsupported database url`).Match(out) {
		t.Fatalf("bad url: %v %s", err, out)
	}
}

func waitUntil(t *testing.T, max time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(max)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", max, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
