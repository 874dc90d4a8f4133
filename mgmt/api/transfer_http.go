package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"
	"github.com/atollcloud/atoll/mgmt/orchestrate/template"
	"github.com/atollcloud/atoll/mgmt/orchestrate/transfer"
	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
	"github.com/google/uuid"
)

// ExtractPath is where the management server serves extracted files:
// <ExtractPath><signed token>/<file name>.
const ExtractPath = "/client/extract/"

// extractBaseParam carries the management server's address from the request into the job.
const extractBaseParam = "atoll.extractbase"

// extractURL signs t with the extract URL's lifetime (extract.url.expiration.interval) and
// renders it under the management server the caller reached.
func (c *Call) extractURL(t transfer.Token, name string) (string, error) {
	secs := int64(14400)
	if v, err := c.S.Config.Get(c.Ctx, config.Global, "", "extract.url.expiration.interval"); err == nil {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			secs = n
		}
	}
	t.Expires = time.Now().Unix() + secs
	base := c.P.String(extractBaseParam)
	if base == "" {
		base = c.baseURL()
	}
	return base + ExtractPath + transfer.Sign(c.S.Keys, t) + "/" + name, nil
}

// extractObject is extractTemplate's, extractIso's and extractVolume's answer.
func extractObject(id, name, zoneID, url string) map[string]any {
	return map[string]any{"id": id, "name": name, "extractId": uuid.NewString(), "extractMode": "HTTP_DOWNLOAD",
		"state": "DOWNLOAD_URL_CREATED", "status": "DOWNLOAD_URL_CREATED", "uploadpercentage": 100, "storagetype": "SecondaryStorage",
		"zoneid": zoneID, "url": url, "created": FormatTime(db.Now())}
}

// ServeExtract answers GET and HEAD on an extract URL: the file, streamed from its image
// store through a host of its zone, with Content-Length and Range. A URL that is tampered
// with or has expired is refused (403) before anything is read; one that names nothing (any
// more) is 404; a simulated store, which holds no bytes, is 404 with that said.
func (s *Server) ServeExtract(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rest, _ := strings.CutPrefix(r.URL.Path, ExtractPath)
	signed, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	t, err := transfer.Verify(s.Keys, signed, time.Now())
	switch {
	case errors.Is(err, transfer.ErrSignature), errors.Is(err, transfer.ErrExpired):
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	case err != nil:
		http.NotFound(w, r)
		return
	}
	if t.Kind != transfer.KindTemplate && t.Kind != transfer.KindVolume {
		http.NotFound(w, r)
		return
	}
	c := &Call{Ctx: r.Context(), S: s, Req: r, W: w}
	f, err := transfer.Open(r.Context(), c.deps(), t)
	if err != nil {
		s.transferError(w, t, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	http.ServeContent(w, r, name, time.Time{}, f)
}

// transferError answers a failed Open.
func (s *Server) transferError(w http.ResponseWriter, t transfer.Token, err error) {
	switch {
	case errors.Is(err, transfer.ErrSimulated), errors.Is(err, transfer.ErrGone):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, transfer.ErrNoHost):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	default:
		s.Log.Error("extract: open the file", "kind", t.Kind, "id", t.ID, "err", err)
		http.Error(w, "the file could not be read from its image store", http.StatusBadGateway)
	}
}

// UploadPath is where the management server takes uploads: POST <UploadPath><signed token>.
const UploadPath = "/client/upload/"

// uploadParams signs an upload's token (valid upload.operation.timeout minutes) and renders
// getUploadParamsFor*'s answer: the POST URL carries the token, and metadata, signature and
// expires are its parts, for clients that send them as CloudStack's X-metadata, X-signature
// and X-expires headers.
func (c *Call) uploadParams(id string, t transfer.Token) map[string]any {
	mins := int64(10)
	if v, err := c.S.Config.Get(c.Ctx, config.Global, "", "upload.operation.timeout"); err == nil {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			mins = n
		}
	}
	t.Expires = time.Now().Unix() + mins*60
	signed := transfer.Sign(c.S.Keys, t)
	payload, sig, _ := strings.Cut(signed, ".")
	return map[string]any{"id": id, "postURL": c.baseURL() + UploadPath + signed, "metadata": payload, "signature": sig,
		"expires": FormatTime(t.Expires * 1000)}
}

// ServeUpload takes a POST of an upload's bytes, as CloudStack's UI and cloudmonkey send them
// to a secondary storage VM: a multipart form whose "file" part is the image. A tampered or
// expired URL (or X-signature / X-metadata headers that differ from it) is refused (403)
// before anything is read or changed.
func (s *Server) ServeUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	signed, _ := strings.CutPrefix(r.URL.Path, UploadPath)
	t, err := transfer.Verify(s.Keys, signed, time.Now())
	switch {
	case errors.Is(err, transfer.ErrSignature), errors.Is(err, transfer.ErrExpired):
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	case err != nil || t.Kind != transfer.KindUpload:
		http.NotFound(w, r)
		return
	}
	payload, sig, _ := strings.Cut(signed, ".")
	if h := r.Header.Get("X-signature"); h != "" && h != sig || r.Header.Get("X-metadata") != "" && r.Header.Get("X-metadata") != payload {
		http.Error(w, "the X-signature or X-metadata header does not match the upload URL", http.StatusForbidden)
		return
	}
	if r.ContentLength > transfer.MaxUploadBytes+1<<20 {
		http.Error(w, "the upload exceeds the size limit", http.StatusRequestEntityTooLarge)
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, "the upload must be a multipart/form-data POST with the image in its \"file\" part", http.StatusBadRequest)
		return
	}
	var body transfer.Body
	for {
		p, err := mr.NextPart()
		if err != nil {
			http.Error(w, "the upload has no \"file\" part", http.StatusBadRequest)
			return
		}
		if p.FormName() == "file" {
			body = transfer.Body{R: p, Length: -1}
			break
		}
	}
	c := &Call{Ctx: r.Context(), S: s, Req: r, W: w}
	switch t.Object {
	case transfer.KindVolume:
		_, err = volume.ReceiveUpload(r.Context(), c.deps(), t, body)
	case transfer.KindTemplate:
		err = template.ReceiveUpload(r.Context(), c.deps(), t, body)
	default:
		http.NotFound(w, r)
		return
	}
	var refused *transfer.RefusedError
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "upload complete")
	case errors.As(err, &refused) && refused.TooLarge:
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
	case errors.As(err, &refused):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, volume.ErrNotAwaitingUpload), errors.Is(err, template.ErrNotAwaitingUpload):
		http.Error(w, err.Error(), http.StatusConflict)
	default:
		s.transferError(w, t, err)
	}
}
