package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"github.com/atollcloud/atoll/mgmt/api"
)

// AdminKeysByAPI logs in as admin with a password and registers an API key pair for it with
// registerUserKeys over the session (JSESSIONID cookie and sessionkey), as a CloudStack
// operator would.
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

// client returns a signed API client for the target.
func (t Target) client() *api.Client {
	return &api.Client{Endpoint: t.Endpoint, Key: t.Key, Secret: t.Secret}
}
