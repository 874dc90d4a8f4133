package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/api"
	"github.com/atollcloud/atoll/mgmt/iam"
)

// AdminKeysByAPI logs in as admin with a password and registers an API key pair for it with
// registerUserKeys over the session, as a CloudStack operator would. It reports
// errNoRegisterUserKeys when the server does not offer that command.
func AdminKeysByAPI(ctx context.Context, endpoint, password string) (key, secret string, err error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	form := url.Values{"command": {"login"}, "username": {"admin"}, "password": {password}, "domain": {"/"}, "response": {"json"}}
	login, status, err := postForm(ctx, hc, endpoint, form)
	if err != nil {
		return "", "", err
	}
	if status != http.StatusOK {
		return "", "", fmt.Errorf("bench: login: HTTP %d: %v", status, login)
	}
	sessionKey, _ := login["sessionkey"].(string)
	userID, _ := login["userid"].(string)
	form = url.Values{"command": {"registerUserKeys"}, "id": {userID}, "sessionkey": {sessionKey}, "response": {"json"}}
	reg, status, err := postForm(ctx, hc, endpoint, form)
	if err != nil {
		return "", "", err
	}
	if status == 432 {
		return "", "", errNoRegisterUserKeys
	}
	if status != http.StatusOK {
		return "", "", fmt.Errorf("bench: registerUserKeys: HTTP %d: %v", status, reg)
	}
	keys, _ := reg["userkeys"].(map[string]any)
	key, _ = keys["apikey"].(string)
	secret, _ = keys["secretkey"].(string)
	if key == "" || secret == "" {
		return "", "", fmt.Errorf("bench: registerUserKeys answered no key pair: %v", reg)
	}
	return key, secret, nil
}

var errNoRegisterUserKeys = errors.New("bench: the server has no registerUserKeys command")

func postForm(ctx context.Context, hc *http.Client, endpoint string, form url.Values) (map[string]any, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, fmt.Errorf("bench: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("bench: %s: %w", form.Get("command"), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("bench: %s: %w", form.Get("command"), err)
	}
	var outer map[string]map[string]any
	if err := json.Unmarshal(body, &outer); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("bench: %s: HTTP %d, not JSON: %.200s", form.Get("command"), resp.StatusCode, body)
	}
	for _, v := range outer {
		return v, resp.StatusCode, nil
	}
	return nil, resp.StatusCode, nil
}

// AdminKeysInDB writes a fresh API key pair for admin straight into the database, the secret
// sealed with the servers' key file: the fallback for servers without registerUserKeys.
func AdminKeysInDB(ctx context.Context, dbURL, keyFile string) (key, secret string, err error) {
	keys, err := iam.LoadOrCreateKeyring(keyFile)
	if err != nil {
		return "", "", err
	}
	d, err := db.Open(ctx, dbURL)
	if err != nil {
		return "", "", err
	}
	defer d.Close()
	root, err := db.GetDomainByPath(ctx, d.Read(), "ROOT")
	if err != nil {
		return "", "", fmt.Errorf("bench: admin keys: %w", err)
	}
	err = d.Transaction(ctx, func(tx db.Tx) error {
		u, err := db.GetUserByName(ctx, tx, root.ID, "admin")
		if err != nil {
			return err
		}
		key, secret = iam.RandomKey(64), iam.RandomKey(64)
		enc, err := keys.Encrypt(secret)
		if err != nil {
			return err
		}
		u.APIKey, u.SecretKey = key, enc
		return db.UpdateUser(ctx, tx, u)
	})
	if err != nil {
		return "", "", fmt.Errorf("bench: admin keys: %w", err)
	}
	return key, secret, nil
}

// client returns a signed API client for the target.
func (t Target) client() *api.Client {
	return &api.Client{Endpoint: t.Endpoint, Key: t.Key, Secret: t.Secret}
}
