package metadata

import (
	"net/http"
	"net/netip"
	"strings"
)

// client is the VM behind a request: its source address on the network.
func client(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func text(w http.ResponseWriter, r *http.Request, code int, ctype, body string) {
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write([]byte(body))
	}
}

// serveData answers port 80 as the VR's Apache with its rewrite rules does:
//
//	/latest/user-data (and /latest/userdata)     the VM's user data
//	/latest/meta-data/                           the index, one name a line
//	/latest/meta-data/<name>                     one value
//	/latest/<name>                               the same value (the VR's short form)
//
// Names match without regard to case. A VM without data, and a name without a value, get 404.
func (n *network) serveData(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	v := (*n.vms.Load())[client(r)]
	if v == nil {
		http.NotFound(w, r)
		return
	}
	p := strings.ToLower(r.URL.Path)
	rest, ok := strings.CutPrefix(p, "/latest")
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch rest {
	case "", "/":
		idx := "meta-data/\n"
		if len(v.userData) > 0 {
			idx += "user-data\n"
		}
		text(w, r, http.StatusOK, "text/plain; charset=utf-8", idx)
		return
	case "/user-data", "/userdata":
		if len(v.userData) == 0 {
			http.NotFound(w, r)
			return
		}
		text(w, r, http.StatusOK, "application/octet-stream", string(v.userData))
		return
	case "/meta-data", "/meta-data/", "/metadata", "/metadata/":
		text(w, r, http.StatusOK, "text/plain; charset=utf-8", v.index)
		return
	}
	name := strings.TrimPrefix(rest, "/")
	for _, dir := range []string{"meta-data/", "metadata/"} {
		if s, ok := strings.CutPrefix(name, dir); ok {
			name = s
			break
		}
	}
	val, ok := v.meta[name]
	if !ok || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	text(w, r, http.StatusOK, "text/plain; charset=utf-8", val)
}

// servePassword is CloudStack's password server (passwd_server_ip.py) on port 8080: a GET
// with "DomU_Request: send_my_password" answers the VM's armed password, or "saved_password"
// when none is armed; "DomU_Request: saved_password" acknowledges (clears) it and answers
// "saved_password"; anything else answers "bad_request". Passwords only ever arrive through
// Set, so the VR's save_password POST has no counterpart.
func (n *network) servePassword(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "CloudStack Password Server")
	if r.Method != http.MethodGet {
		text(w, r, http.StatusBadRequest, "text/plain", "bad_request")
		return
	}
	ip := client(r)
	switch r.Header.Get("DomU_Request") {
	case "send_my_password":
		n.pwMu.Lock()
		pw := n.pending[ip]
		n.pwMu.Unlock()
		if pw == "" {
			pw = "saved_password"
		}
		text(w, r, http.StatusOK, "text/plain", pw)
	case "saved_password":
		n.pwMu.Lock()
		delete(n.pending, ip)
		n.pwMu.Unlock()
		text(w, r, http.StatusOK, "text/plain", "saved_password")
	default:
		text(w, r, http.StatusBadRequest, "text/plain", "bad_request")
	}
}
