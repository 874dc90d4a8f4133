package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Object renders as {"<key>": value} inside the command's response.
type Object struct {
	Key   string
	Value any
}

// ListResult renders as {"count": N, "<key>": [...]}, or exactly {} when empty.
type ListResult struct {
	Key   string
	Items []any
	Count int
}

// Raw renders as the response's inner object itself.
type Raw map[string]any

// JobStarted is the immediate answer of an async command.
type JobStarted struct {
	JobID string
	ID    string
}

// Success is CloudStack's SuccessResponse.
func Success() Raw { return Raw{"success": true} }

func responseKey(cmd string) string { return strings.ToLower(cmd) + "response" }

// inner turns a handler's result into the object under "<command>response".
func inner(v any) any {
	switch r := v.(type) {
	case Object:
		return map[string]any{r.Key: r.Value}
	case *Object:
		return map[string]any{r.Key: r.Value}
	case ListResult:
		if len(r.Items) == 0 {
			return map[string]any{}
		}
		return map[string]any{"count": r.Count, r.Key: r.Items}
	case JobStarted:
		m := map[string]any{"jobid": r.JobID}
		if r.ID != "" {
			m["id"] = r.ID
		}
		return m
	case Raw:
		return map[string]any(r)
	case nil:
		return map[string]any{}
	}
	return v
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}

func writeResult(w http.ResponseWriter, cmd string, v any) {
	if l, ok := v.(ListResult); ok && len(l.Items) >= streamListMin {
		writeList(w, cmd, l)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{responseKey(cmd): inner(v)})
}

// streamListMin is the list length from which writeList streams the answer.
const streamListMin = 256

// writeList writes a long list answer item by item through a buffered writer, byte for byte
// what writeJSON writes for it (keys in sorted order, as encoding/json orders a map's), without
// building the whole answer (tens of MB for 25,000 VMs) in one growing buffer first.
func writeList(w http.ResponseWriter, cmd string, l ListResult) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	put := func(v any) {
		buf.Reset()
		if err := enc.Encode(v); err != nil {
			return
		}
		bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	count := func() {
		bw.WriteString(`"count":`)
		bw.WriteString(strconv.Itoa(l.Count))
	}
	items := func() {
		put(l.Key)
		bw.WriteString(":[")
		for i, it := range l.Items {
			if i > 0 {
				bw.WriteByte(',')
			}
			put(it)
		}
		bw.WriteByte(']')
	}
	bw.WriteByte('{')
	put(responseKey(cmd))
	bw.WriteString(":{")
	if l.Key < "count" {
		items()
		bw.WriteByte(',')
		count()
	} else {
		count()
		bw.WriteByte(',')
		items()
	}
	bw.WriteString("}}\n")
	_ = bw.Flush()
}

func errorBody(e *Error) map[string]any {
	uuids := e.UUIDList
	if uuids == nil {
		uuids = []string{}
	}
	return map[string]any{"uuidList": uuids, "errorcode": e.Code, "cserrorcode": e.CSCode, "errortext": e.Text}
}

func writeError(w http.ResponseWriter, cmd string, e *Error) {
	if cmd == "" {
		cmd = "error"
	}
	writeJSON(w, e.Code, map[string]any{responseKey(cmd): errorBody(e)})
}

// FormatTime renders a Unix-millisecond time as CloudStack does: 2024-01-01T00:00:00+0000.
func FormatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05-0700")
}

// set adds a string field only when it is not empty (absent fields are omitted).
func set(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}
