package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/atollcloud/atoll/mgmt/iam"
)

// Client is a signed CloudStack API client (what `atoll api`, tests and benchmarks use).
type Client struct {
	Endpoint    string // http://host:port/client/api
	Key, Secret string
	HTTP        *http.Client
	// Post sends parameters as a form body instead of a query string.
	Post bool
}

// ClientError is an error answer from the server.
type ClientError struct {
	Status int
	Body   map[string]any
}

func (e *ClientError) Error() string {
	return fmt.Sprintf("HTTP %d: %v (code %v)", e.Status, e.Body["errortext"], e.Body["errorcode"])
}

// Do signs and sends one command and returns the object under "<command>response".
func (c *Client) Do(ctx context.Context, command string, params map[string]string) (map[string]any, error) {
	p := map[string]string{}
	for k, v := range params {
		p[k] = v
	}
	p["command"], p["response"] = command, "json"
	if c.Key != "" {
		p["apiKey"] = c.Key
		p["signatureVersion"] = "3"
		p["expires"] = time.Now().Add(10 * time.Minute).UTC().Format("2006-01-02T15:04:05-0700")
		p["signature"] = iam.Sign(p, c.Secret)
	}
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	var req *http.Request
	var err error
	if c.Post {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, c.Endpoint+"?"+form.Encode(), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("api client: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("api client: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("api client: read: %w", err)
	}
	var outer map[string]map[string]any
	if err := json.Unmarshal(body, &outer); err != nil {
		return nil, fmt.Errorf("api client: HTTP %d, not JSON: %.200s", resp.StatusCode, body)
	}
	var inner map[string]any
	for _, v := range outer {
		inner = v
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &ClientError{Status: resp.StatusCode, Body: inner}
	}
	return inner, nil
}

// Wait polls queryAsyncJobResult until the job ends and returns its final response.
func (c *Client) Wait(ctx context.Context, jobID string) (map[string]any, error) {
	for {
		r, err := c.Do(ctx, "queryAsyncJobResult", map[string]string{"jobid": jobID})
		if err != nil {
			return nil, err
		}
		if st, _ := r["jobstatus"].(float64); st != 0 {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
