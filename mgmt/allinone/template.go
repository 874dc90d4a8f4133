package allinone

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/atollcloud/atoll/mgmt/api"
)

// TemplateName is the name the tiny template is registered under.
const TemplateName = "tiny"

// imageServer serves one file over HTTP on loopback.
type imageServer struct {
	srv *http.Server
	url string
}

func serveImage(path, name string) (*imageServer, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("template image: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("serve the template: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+name {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, path)
	})}
	go srv.Serve(l)
	return &imageServer{srv: srv, url: "http://" + l.Addr().String() + "/" + name}, nil
}

func (s *imageServer) close() {
	if s != nil {
		s.srv.Close()
	}
}

// fileChecksum is CloudStack's checksum parameter for the file: {SHA-256}<hex>.
func fileChecksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	return "{SHA-256}" + hex.EncodeToString(h.Sum(nil)), nil
}

// ensureTemplate registers the image source gives (its URL and checksum, asked for only when
// needed) as TemplateName in the zone unless a ready one is there, and waits until it is
// ready. A copy of an earlier start that never became ready (its URL named a server that has
// gone) is deleted first.
func ensureTemplate(ctx context.Context, c *api.Client, zoneID string, source func() (url, checksum string, err error), wait time.Duration) (string, error) {
	l, err := c.Do(ctx, "listTemplates", map[string]string{"templatefilter": "self", "name": TemplateName, "zoneid": zoneID})
	if err != nil {
		return "", fmt.Errorf("list templates: %w", err)
	}
	list, _ := l["template"].([]any)
	for _, e := range list {
		t, _ := e.(map[string]any)
		if t["name"] != TemplateName {
			continue
		}
		if t["isready"] == true {
			return t["id"].(string), nil
		}
		if _, err := c.DoWait(ctx, "deleteTemplate", map[string]string{"id": t["id"].(string), "zoneid": zoneID}); err != nil {
			return "", fmt.Errorf("delete the unready template %s: %w", t["id"], err)
		}
	}
	url, checksum, err := source()
	if err != nil {
		return "", err
	}
	types, err := c.Do(ctx, "listOsTypes", map[string]string{"keyword": "Other"})
	if err != nil {
		return "", fmt.Errorf("list os types: %w", err)
	}
	osType, _ := api.First(types, "ostype")["id"].(string)
	if osType == "" {
		return "", fmt.Errorf("no os type \"Other\"")
	}
	r, err := c.DoWait(ctx, "registerTemplate", map[string]string{"name": TemplateName, "displaytext": "Atoll's tiny test guest (busybox)",
		"format": "QCOW2", "hypervisor": "KVM", "zoneid": zoneID, "url": url, "checksum": checksum, "ostypeid": osType,
		"passwordenabled": "true", "sshkeyenabled": "true", "ispublic": "true", "isfeatured": "true"})
	if err != nil {
		return "", fmt.Errorf("register the template: %w", err)
	}
	id, _ := api.First(r, "template")["id"].(string)
	if id == "" {
		return "", fmt.Errorf("registerTemplate answered no id: %v", r)
	}
	deadline := time.Now().Add(wait)
	for {
		l, err := c.Do(ctx, "listTemplates", map[string]string{"templatefilter": "self", "id": id, "zoneid": zoneID})
		if err != nil {
			return "", fmt.Errorf("list templates: %w", err)
		}
		t := api.First(l, "template")
		if t["isready"] == true {
			return id, nil
		}
		status := fmt.Sprint(t["status"])
		if strings.Contains(fmt.Sprint(t["downloaddetails"]), "DOWNLOAD_ERROR") || strings.Contains(strings.ToLower(status), "error") {
			return "", fmt.Errorf("template %s failed to download: %s", id, status)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("template %s not ready within %s: %s", id, wait, status)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
