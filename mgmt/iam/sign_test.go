package iam

import "testing"

// The vector in shared/API-COMPAT.md §1.4, computed with the real python3-cs library.
func TestSignatureVector(t *testing.T) {
	key := "plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdMkAYMmAiFqzzq1ElZLYq_u38zCm0bewzGUdP66mg"
	secret := "VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ"
	p := map[string]string{
		"command": "listZones", "available": "True", "name": "a b*~é", "details[0].key": "k", "details[0].value": "v",
		"expires": "2024-01-01T00:00:00+0000", "signatureVersion": "3", "response": "json", "apiKey": key,
	}
	wantStr := "apikey=plgwjfzk4gys3momtvmjuvg-x-jlwlnfauj9gabbbf9edmkaymmaifqzzq1elzlyq_u38zcm0bewzgudp66mg&available=true&command=listzones&details[0].key=k&details[0].value=v&expires=2024-01-01t00%3a00%3a00%2b0000&name=a%20b*~%c3%a9&response=json&signatureversion=3"
	if got := SignatureString(p, false); got != wantStr {
		t.Fatalf("string:\n got %s\nwant %s", got, wantStr)
	}
	if got := Sign(p, secret); got != "BVUK5Zngd43tQ59SdCJZ8/G+iGM=" {
		t.Fatalf("signature %s", got)
	}
	if !VerifySignature(p, secret, "BVUK5Zngd43tQ59SdCJZ8/G+iGM=") {
		t.Fatal("verify failed")
	}
	if VerifySignature(p, secret+"x", "BVUK5Zngd43tQ59SdCJZ8/G+iGM=") {
		t.Fatal("verify accepted a wrong secret")
	}
	p["signature"] = "ignored"
	if got := Sign(p, secret); got != "BVUK5Zngd43tQ59SdCJZ8/G+iGM=" {
		t.Fatal("signature parameter must not be signed")
	}
}

func TestPasswordAndKeyring(t *testing.T) {
	PasswordIterations = 1000
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "s3cret") || CheckPassword(h, "S3cret") || CheckPassword("junk", "s3cret") {
		t.Fatal("password check wrong")
	}
	k, err := LoadOrCreateKeyring(t.TempDir() + "/key")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := k.Encrypt("abc")
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := k.Decrypt(enc); err != nil || dec != "abc" {
		t.Fatalf("decrypt: %q %v", dec, err)
	}
	other, _ := LoadOrCreateKeyring(t.TempDir() + "/key")
	if _, err := other.Decrypt(enc); err == nil {
		t.Fatal("another key decrypted the secret")
	}
}

// Servers starting together with no key file must all end up with the one key.
func TestKeyringConcurrentCreate(t *testing.T) {
	path := t.TempDir() + "/keys/secret.key"
	rings := make([]*Keyring, 16)
	errs := make(chan error, len(rings))
	for i := range rings {
		go func(i int) {
			var err error
			rings[i], err = LoadOrCreateKeyring(path)
			errs <- err
		}(i)
	}
	for range rings {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	enc, _ := rings[0].Encrypt("x")
	for i, r := range rings {
		if v, err := r.Decrypt(enc); err != nil || v != "x" {
			t.Fatalf("keyring %d has another key: %v", i, err)
		}
	}
}
