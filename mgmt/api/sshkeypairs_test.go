package api_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atollcloud/atoll/mgmt/mgmttest"
)

// sshKeygenMD5 is OpenSSH's MD5 fingerprint of a public key file, without the "MD5:" prefix.
func sshKeygenMD5(t *testing.T, pubFile string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-l", "-E", "md5", "-f", pubFile).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v %s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 || !strings.HasPrefix(f[1], "MD5:") {
		t.Fatalf("ssh-keygen -l answered %q", out)
	}
	return strings.TrimPrefix(f[1], "MD5:")
}

func TestSSHKeyPairs(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed")
	}
	e := mgmttest.Start(t, mgmttest.Options{})
	alice, _ := tenant(t, e, "alice", "0", "")
	bob, _ := tenant(t, e, "bob", "0", "")
	dir := t.TempDir()
	rootID := items(mgmttest.Do(t, e.Admin, "listDomains", map[string]string{"name": "ROOT"}), "domain")[0]["id"].(string)

	// A generated key: the private key is answered once, and its public half has the fingerprint shown.
	k := mgmttest.Do(t, alice, "createSSHKeyPair", map[string]string{"name": "gen"})["keypair"].(map[string]any)
	priv, _ := k["privatekey"].(string)
	if !strings.HasPrefix(priv, "-----BEGIN RSA PRIVATE KEY-----") || k["account"] != "alice" || k["name"] != "gen" {
		t.Fatalf("createSSHKeyPair: %v", k)
	}
	if !regexp.MustCompile(`^([0-9a-f]{2}:){15}[0-9a-f]{2}$`).MatchString(k["fingerprint"].(string)) {
		t.Fatalf("fingerprint format: %v", k["fingerprint"])
	}
	privFile := filepath.Join(dir, "gen")
	if err := os.WriteFile(privFile, []byte(priv), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := exec.Command("ssh-keygen", "-y", "-f", privFile).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -y: %v", err)
	}
	os.WriteFile(privFile+".pub", pub, 0o600)
	if want := sshKeygenMD5(t, privFile+".pub"); k["fingerprint"] != want {
		t.Fatalf("fingerprint %v, OpenSSH says %s", k["fingerprint"], want)
	}
	if l := items(mgmttest.Do(t, alice, "listSSHKeyPairs", map[string]string{"name": "GEN"}), "sshkeypair"); len(l) != 1 || l[0]["privatekey"] != nil {
		t.Fatalf("listSSHKeyPairs name=GEN: %v", l)
	}

	// A registered key (ed25519, with a comment) keeps CloudStack's fingerprint and normal form.
	keyFile := filepath.Join(dir, "ed")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@host", "-f", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	edPub, _ := os.ReadFile(keyFile + ".pub")
	fp := sshKeygenMD5(t, keyFile+".pub")
	before := tplState(t, e)
	for _, bad := range []string{"ssh-rsa", "not a key at all", "ssh-rsa AAAA!!!", "ssh-foo " + strings.Fields(string(edPub))[1],
		"ssh-rsa " + strings.Fields(string(edPub))[1]} {
		text := mgmttest.Fail(t, alice, "registerSSHKeyPair", map[string]string{"name": "bad", "publickey": bad}, 431)
		if !strings.Contains(text, "Public key is invalid") {
			t.Errorf("registerSSHKeyPair %q: %s", bad, text)
		}
	}
	if tplState(t, e) != before {
		t.Fatal("a refused registerSSHKeyPair changed the database")
	}
	r := mgmttest.Do(t, alice, "registerSSHKeyPair", map[string]string{"name": "ed", "publickey": string(edPub)})["keypair"].(map[string]any)
	if r["fingerprint"] != fp || r["privatekey"] != nil {
		t.Fatalf("registerSSHKeyPair: %v, want fingerprint %s", r, fp)
	}
	if l := items(mgmttest.Do(t, alice, "listSSHKeyPairs", map[string]string{"fingerprint": fp}), "sshkeypair"); len(l) != 1 || l[0]["name"] != "ed" {
		t.Fatalf("listSSHKeyPairs by fingerprint: %v", l)
	}
	tplRefuse(t, e, alice, "registerSSHKeyPair", map[string]string{"name": "ED", "publickey": string(pub)}, 431, "already exists")
	tplRefuse(t, e, alice, "registerSSHKeyPair", map[string]string{"name": "other", "publickey": string(edPub)}, 431, "already exists for this account")
	tplRefuse(t, e, alice, "createSSHKeyPair", map[string]string{"name": "gen"}, 431, "already exists")
	tplRefuse(t, e, alice, "createSSHKeyPair", map[string]string{"name": " "}, 431, "name")

	// Another tenant sees none of it and cannot act for alice; the same name is free for bob.
	if l := items(mgmttest.Do(t, bob, "listSSHKeyPairs", map[string]string{"listall": "true"}), "sshkeypair"); len(l) != 0 {
		t.Fatalf("bob lists alice's keypairs: %v", l)
	}
	if l := items(mgmttest.Do(t, bob, "listSSHKeyPairs", map[string]string{"id": r["id"].(string)}), "sshkeypair"); len(l) != 0 {
		t.Fatalf("bob lists alice's keypair by id: %v", l)
	}
	tplRefuse(t, e, bob, "deleteSSHKeyPair", map[string]string{"name": "ed", "account": "alice", "domainid": rootID}, 531, "permission denied")
	tplRefuse(t, e, bob, "deleteSSHKeyPair", map[string]string{"name": "ed"}, 431, "does not exist for account bob")
	tplRefuse(t, e, bob, "registerSSHKeyPair", map[string]string{"name": "x", "publickey": string(pub), "account": "alice"}, 431, "together")
	mgmttest.Do(t, bob, "registerSSHKeyPair", map[string]string{"name": "ed", "publickey": string(edPub)})

	// The admin acts for alice with account and domainid, and sees every keypair with listall.
	mgmttest.Do(t, e.Admin, "createSSHKeyPair", map[string]string{"name": "byadmin", "account": "alice", "domainid": rootID})
	if l := items(mgmttest.Do(t, alice, "listSSHKeyPairs", nil), "sshkeypair"); len(l) != 3 {
		t.Fatalf("alice's keypairs: %v", l)
	}
	if l := items(mgmttest.Do(t, e.Admin, "listSSHKeyPairs", map[string]string{"listall": "true"}), "sshkeypair"); len(l) != 4 {
		t.Fatalf("admin listall: %v", l)
	}
	if l := items(mgmttest.Do(t, e.Admin, "listSSHKeyPairs", map[string]string{"listall": "true", "keyword": "admi"}), "sshkeypair"); len(l) != 1 {
		t.Fatalf("admin listall keyword=admi: %v", l)
	}
	mgmttest.Do(t, alice, "deleteSSHKeyPair", map[string]string{"name": "ED"})
	if l := items(mgmttest.Do(t, alice, "listSSHKeyPairs", map[string]string{"name": "ed"}), "sshkeypair"); len(l) != 0 {
		t.Fatalf("deleted keypair listed: %v", l)
	}
	if l := items(mgmttest.Do(t, bob, "listSSHKeyPairs", map[string]string{"name": "ed"}), "sshkeypair"); len(l) != 1 {
		t.Fatalf("bob's keypair went with alice's: %v", l)
	}
}
