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
	// Observe, when set, sees every answer: the command, its parameters, the HTTP status and
	// the body as the server sent it (tests use it to check responses against CloudStack's).
	Observe func(command string, params map[string]string, status int, body []byte)
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
	status, body, err := c.Raw(ctx, command, params)
	if err != nil {
		return nil, err
	}
	var outer map[string]map[string]any
	if err := json.Unmarshal(body, &outer); err != nil {
		return nil, fmt.Errorf("api client: HTTP %d, not JSON: %.200s", status, body)
	}
	var inner map[string]any
	for _, v := range outer {
		inner = v
	}
	if status != http.StatusOK {
		return nil, &ClientError{Status: status, Body: inner}
	}
	return inner, nil
}

// Raw signs and sends one command and returns the HTTP status and the answer's bytes, read to
// the end.
func (c *Client) Raw(ctx context.Context, command string, params map[string]string) (int, []byte, error) {
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
		return 0, nil, fmt.Errorf("api client: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("api client: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("api client: read: %w", err)
	}
	if c.Observe != nil {
		c.Observe(command, params, resp.StatusCode, body)
	}
	return resp.StatusCode, body, nil
}

// DoWait is Do for a command that may be async: it waits for the job and returns its
// jobresult, or an error when the job failed.
func (c *Client) DoWait(ctx context.Context, command string, params map[string]string) (map[string]any, error) {
	r, err := c.Do(ctx, command, params)
	if err != nil {
		return nil, err
	}
	id, ok := r["jobid"].(string)
	if !ok {
		return r, nil
	}
	j, err := c.Wait(ctx, id)
	if err != nil {
		return nil, err
	}
	if st, _ := j["jobstatus"].(float64); st != 1 {
		return nil, fmt.Errorf("job %s of %s failed: %v", id, command, j["jobresult"])
	}
	res, _ := j["jobresult"].(map[string]any)
	return res, nil
}

// First returns the object under key in an answer, or the first of a list there (an empty
// map when there is none).
func First(r map[string]any, key string) map[string]any {
	switch v := r[key].(type) {
	case map[string]any:
		return v
	case []any:
		if len(v) > 0 {
			m, _ := v[0].(map[string]any)
			return m
		}
	}
	return map[string]any{}
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
