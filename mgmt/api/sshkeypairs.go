package api

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/orchestrate"
	"github.com/google/uuid"
)

// sshKeyBits is the size of generated keys (CloudStack's ssh.key.length default).
const sshKeyBits = 2048

// Event types for keypairs (Atoll's; CloudStack records none for SSH keypairs).
const (
	evKeyPairCreate   = "REGISTER.SSH.KEYPAIR"
	evKeyPairDelete   = "DELETE.SSH.KEYPAIR"
	keyPairObjectType = "SSHKeyPair"
)

func registerSSHKeyPairs(s *Server) {
	ownerParams := []Param{
		{Name: "account", Type: TString, Description: "an optional account for the ssh key. Must be used with domainId."},
		{Name: "domainid", Type: TUUID, Description: "an optional domainId for the ssh key. If the account parameter is used, domainId must also be used."},
		{Name: "projectid", Type: TUUID, Description: "an optional project for the ssh key (projects are not supported)"},
	}
	s.Reg.Add(&Command{Name: "createSSHKeyPair", Response: createSSHKeyPairResponse, Roles: AllRoles, ResponseKey: "keypair",
		Description: "Create a new keypair and returns the private key",
		Params:      append([]Param{{Name: "name", Type: TString, Required: true, Length: 255, Description: "Name of the keypair"}}, ownerParams...),
		Handler:     createSSHKeyPair})
	s.Reg.Add(&Command{Name: "registerSSHKeyPair", Response: sshKeyPairResponse, Roles: AllRoles, ResponseKey: "keypair",
		Description: "Register a public key in a keypair under a certain name",
		Params: append([]Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "Name of the keypair"},
			{Name: "publickey", Type: TString, Required: true, Length: 5120, Description: "Public key material of the keypair"},
		}, ownerParams...),
		Handler: registerSSHKeyPair})
	s.Reg.Add(&Command{Name: "deleteSSHKeyPair", Response: successResponse, Roles: AllRoles,
		Description: "Deletes a keypair by name",
		Params:      append([]Param{{Name: "name", Type: TString, Required: true, Description: "Name of the keypair"}}, ownerParams...),
		Handler:     deleteSSHKeyPair})
	s.Reg.Add(&Command{Name: "listSSHKeyPairs", Response: sshKeyPairResponse, Roles: AllRoles, List: true, ResponseKey: "sshkeypair",
		Description: "List registered keypairs",
		Params: withScope(
			Param{Name: "id", Type: TUUID, Description: "the ID of the ssh keypair"},
			Param{Name: "name", Type: TString, Description: "A key pair name to look for"},
			Param{Name: "fingerprint", Type: TString, Description: "A public key fingerprint to look for"},
			Param{Name: "projectid", Type: TUUID, Description: "list objects by project (projects are not supported: refused)"},
		),
		Handler: listSSHKeyPairs})
}

// ownerForCreate is CloudStack's finalizeOwner: the account a new resource belongs to, from
// account and domainid (both or neither), the caller's own account by default.
func (c *Call) ownerForCreate(q db.Querier) (*db.Account, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	return orchestrate.OwnerFor(c.Ctx, q, c.Caller, c.P.String("account"), strings.ToLower(c.P.String("domainid")))
}

// sshKeyTypes are the key types CloudStack's SSHKeysHelper accepts.
var sshKeyTypes = []string{"ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp", "ssh-ed25519"}

// normalizePublicKey is SSHKeysHelper.getPublicKeyFromKeyMaterial: key material (possibly
// base64-encoded as a whole) becomes "<type> <base64 blob>", dropping any comment. Atoll also
// checks the blob decodes and names the same type.
func normalizePublicKey(material string) (string, error) {
	material = strings.TrimSpace(material)
	if !strings.Contains(material, " ") {
		if dec, err := base64.StdEncoding.DecodeString(material); err == nil {
			material = strings.TrimSpace(string(dec))
		}
	}
	fields := strings.Fields(material)
	if len(fields) < 2 {
		return "", ErrParam("Public key is invalid")
	}
	known := false
	for _, t := range sshKeyTypes {
		if strings.HasPrefix(fields[0], t) {
			known = true
		}
	}
	if !known {
		return "", ErrParam("Public key is invalid")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil || len(blob) < 4 {
		return "", ErrParam("Public key is invalid")
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n)+4 > uint64(len(blob)) || string(blob[4:4+n]) != fields[0] {
		return "", ErrParam("Public key is invalid")
	}
	return fields[0] + " " + fields[1], nil
}

// sshFingerprint is CloudStack's fingerprint: the MD5 of the key blob, lower-case hex pairs
// joined by colons.
func sshFingerprint(publicKey string) string {
	fields := strings.Fields(publicKey)
	if len(fields) < 2 {
		return ""
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return ""
	}
	sum := md5.Sum(blob)
	h := hex.EncodeToString(sum[:])
	parts := make([]string, 0, len(sum))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// generateSSHKey makes an RSA keypair: the OpenSSH public key and the PEM private key.
func generateSSHKey() (public, private string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, sshKeyBits)
	if err != nil {
		return "", "", err
	}
	var blob bytes.Buffer
	writeSSHString(&blob, []byte("ssh-rsa"))
	writeSSHString(&blob, mpint(big2bytes(key.PublicKey.E)))
	writeSSHString(&blob, mpint(key.PublicKey.N.Bytes()))
	public = "ssh-rsa " + base64.StdEncoding.EncodeToString(blob.Bytes())
	private = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	return public, private, nil
}

func writeSSHString(b *bytes.Buffer, s []byte) {
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(s)))
	b.Write(l[:])
	b.Write(s)
}

// mpint encodes a positive big-endian integer as SSH's mpint (a leading zero when the top bit is set).
func mpint(b []byte) []byte {
	b = bytes.TrimLeft(b, "\x00")
	if len(b) > 0 && b[0]&0x80 != 0 {
		return append([]byte{0}, b...)
	}
	return b
}

func big2bytes(e int) []byte {
	var out []byte
	for e > 0 {
		out = append([]byte{byte(e)}, out...)
		e >>= 8
	}
	return out
}

func renderKeyPair(k *db.SSHKeyPair) map[string]any {
	m := map[string]any{"id": k.ID, "name": k.Name, "fingerprint": k.Fingerprint, "domainid": k.DomainID, "hasannotations": false}
	set(m, "account", k.AccountName)
	set(m, "domain", k.DomainName)
	return m
}

func createSSHKeyPair(c *Call) (any, error) {
	return c.saveKeyPair("")
}

func registerSSHKeyPair(c *Call) (any, error) {
	pub, err := normalizePublicKey(c.P.String("publickey"))
	if err != nil {
		return nil, err
	}
	return c.saveKeyPair(pub)
}

// saveKeyPair stores a keypair for the owner named by the parameters; with no public key it
// generates one and answers the private key, once (it is not kept).
func (c *Call) saveKeyPair(pub string) (any, error) {
	name := c.P.String("name")
	if strings.TrimSpace(name) == "" {
		return nil, ErrParam("Please specify a valid name for the key pair. The key name can't be empty")
	}
	private := ""
	if pub == "" {
		var err error
		if pub, private, err = generateSSHKey(); err != nil {
			return nil, err
		}
	}
	var k *db.SSHKeyPair
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		owner, err := c.ownerForCreate(tx)
		if err != nil {
			return err
		}
		if _, err := db.GetSSHKeyPair(c.Ctx, tx, owner.ID, name); err == nil {
			if private != "" {
				return ErrParam("A key pair with name '%s' already exists.", name)
			}
			return ErrParam("A key pair with name '%s' already exists for this account.", name)
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		fp := sshFingerprint(pub)
		if private == "" {
			list, _, err := db.ListSSHKeyPairs(c.Ctx, tx, db.SSHKeyPairFilter{Fingerprint: fp, Scope: db.Scope{AccountID: owner.ID}})
			if err != nil {
				return err
			}
			if len(list) > 0 {
				return ErrParam("A key pair with key '%s' already exists for this account.", pub)
			}
		}
		k = &db.SSHKeyPair{ID: uuid.NewString(), Name: name, AccountID: owner.ID, DomainID: owner.DomainID, PublicKey: pub, Fingerprint: fp,
			Created: db.Now()}
		if err := db.InsertSSHKeyPair(c.Ctx, tx, k); err != nil {
			if db.IsDuplicate(err) {
				return ErrParam("A key pair with name '%s' already exists.", name)
			}
			return err
		}
		return c.Event(tx, evKeyPairCreate, "registering ssh keypair "+name, keyPairObjectType, k.ID)
	})
	if err != nil {
		return nil, err
	}
	k, err = db.GetSSHKeyPairByID(c.Ctx, c.S.DB.Read(), k.ID)
	if err != nil {
		return nil, err
	}
	m := renderKeyPair(k)
	if private != "" {
		m["privatekey"] = private
	}
	return Object{Key: "keypair", Value: m}, nil
}

func deleteSSHKeyPair(c *Call) (any, error) {
	name := c.P.String("name")
	err := c.S.DB.Transaction(c.Ctx, func(tx db.Tx) error {
		owner, err := c.ownerForCreate(tx)
		if err != nil {
			return err
		}
		k, err := db.GetSSHKeyPair(c.Ctx, tx, owner.ID, name)
		if errors.Is(err, db.ErrNotFound) {
			return ErrParam("A key pair with name '%s' does not exist for account %s in specified domain id", name, owner.Name)
		}
		if err != nil {
			return err
		}
		if err := db.DeleteSSHKeyPair(c.Ctx, tx, k.ID); err != nil {
			return err
		}
		if err := db.DeleteTagsOf(c.Ctx, tx, keyPairObjectType, k.ID); err != nil {
			return err
		}
		return c.Event(tx, evKeyPairDelete, "deleting ssh keypair "+name, keyPairObjectType, k.ID)
	})
	if err != nil {
		return nil, err
	}
	return Success(), nil
}

func listSSHKeyPairs(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	scope, err := c.ListScope()
	if err != nil {
		return nil, err
	}
	f := db.SSHKeyPairFilter{ID: strings.ToLower(c.P.String("id")), Name: c.P.String("name"), Fingerprint: c.P.String("fingerprint"),
		Keyword: c.P.String("keyword"), Scope: scope}
	f.Limit, f.Offset = c.P.Paging()
	list, total, err := db.ListSSHKeyPairs(c.Ctx, c.S.DB.Read(), f)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(list))
	for _, k := range list {
		items = append(items, renderKeyPair(k))
	}
	return ListResult{Key: "sshkeypair", Items: items, Count: total}, nil
}
