package metadata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/atollcloud/atoll/network/internal/nsproc"
)

// Addr is the link-local metadata address VMs reach through their gateway.
var Addr = netip.MustParseAddr("169.254.169.254")

// Ports: user and meta data, and the password server.
const (
	HTTPPort     = 80
	PasswordPort = 8080
)

// Server serves every network's metadata on this host.
type Server struct {
	log *slog.Logger
	// Ports can be changed before the first Set (tests); CloudStack's are the default.
	HTTPPort, PasswordPort int

	mu   sync.Mutex
	nets map[string]*network
}

// New returns a Server with no network.
func New(log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{log: log.With("component", "metadata"), HTTPPort: HTTPPort, PasswordPort: PasswordPort, nets: map[string]*network{}}
}

// network is one network's sockets and data.
type network struct {
	id, ns  string
	addrs   []netip.Addr
	servers map[netip.Addr][]*http.Server
	addedLo bool // this package put Addr on the namespace's lo

	vms atomic.Pointer[map[netip.Addr]*vm]

	pwMu    sync.Mutex
	given   map[netip.Addr]string // the last password Set brought per VM
	pending map[netip.Addr]string // armed, not yet acknowledged
}

// Set makes the server answer the VMs of network id, in namespace ns (name or path), on
// addrs (the gateway and normally Addr), with data keyed by each VM's address on the
// network. It replaces the network's data at once: a request sees the old or the new, never
// a mix. Sockets are opened for addresses not served yet and closed for those gone; when an
// address cannot be served, nothing changes.
func (s *Server) Set(id, ns string, addrs []netip.Addr, data map[netip.Addr]VMData) error {
	if err := nsproc.CheckID(id); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if _, err := nsproc.Path(ns); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	want := slices.Clone(addrs)
	for _, a := range want {
		if !a.Is4() {
			return fmt.Errorf("metadata: listen address %v is not IPv4", a)
		}
	}
	slices.SortFunc(want, netip.Addr.Compare)
	want = slices.Compact(want)
	if len(want) == 0 {
		return fmt.Errorf("metadata: network %s: no address to listen on", id)
	}
	vms := make(map[netip.Addr]*vm, len(data))
	for ip, d := range data {
		if !ip.IsValid() {
			return fmt.Errorf("metadata: network %s: VM data for an invalid address", id)
		}
		v, err := prepare(ip.Unmap(), d)
		if err != nil {
			return err
		}
		vms[ip.Unmap()] = v
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	nsPath, _ := nsproc.Path(ns)
	for oid, o := range s.nets {
		if op, _ := nsproc.Path(o.ns); oid != id && op == nsPath {
			return fmt.Errorf("metadata: namespace %s already serves network %s", ns, oid)
		}
	}
	n := s.nets[id]
	if n != nil && n.ns != ns {
		// The router moved to another namespace: start afresh there.
		s.remove(n)
		n = nil
	}
	fresh := n == nil
	if fresh {
		n = &network{id: id, ns: ns, servers: map[netip.Addr][]*http.Server{}, given: map[netip.Addr]string{}, pending: map[netip.Addr]string{}}
		empty := map[netip.Addr]*vm{}
		n.vms.Store(&empty)
	}
	var opened []netip.Addr
	for _, a := range want {
		if _, ok := n.servers[a]; ok {
			continue
		}
		if err := s.listen(n, a); err != nil {
			for _, o := range opened {
				n.close(o)
			}
			if fresh {
				n.dropLo(s.log)
			}
			return err
		}
		opened = append(opened, a)
	}
	for a := range n.servers {
		if !slices.Contains(want, a) {
			n.close(a)
		}
	}
	n.addrs = want
	n.setPasswords(data)
	n.vms.Store(&vms)
	s.nets[id] = n
	if len(opened) > 0 {
		s.log.Info("serving", "network", id, "namespace", ns, "addresses", opened)
	}
	s.log.Debug("data set", "network", id, "vms", len(vms))
	return nil
}

func (n *network) setPasswords(data map[netip.Addr]VMData) {
	n.pwMu.Lock()
	defer n.pwMu.Unlock()
	given := make(map[netip.Addr]string, len(data))
	for ip, d := range data {
		ip = ip.Unmap()
		given[ip] = d.Password
		switch {
		case d.Password == "":
			delete(n.pending, ip)
		case d.Password != n.given[ip]:
			n.pending[ip] = d.Password
		}
	}
	for ip := range n.pending {
		if _, ok := given[ip]; !ok {
			delete(n.pending, ip)
		}
	}
	n.given = given
}

// listen opens addr's sockets inside the namespace and serves them.
func (s *Server) listen(n *network, addr netip.Addr) error {
	if addr == Addr {
		added, err := ensureLocal(n.ns, addr)
		if err != nil {
			return fmt.Errorf("metadata: network %s: %w", n.id, err)
		}
		n.addedLo = n.addedLo || added
	}
	var lns []net.Listener
	err := nsproc.Do(n.ns, func() error {
		for _, port := range []int{s.HTTPPort, s.PasswordPort} {
			ln, err := net.Listen("tcp4", net.JoinHostPort(addr.String(), strconv.Itoa(port)))
			if err != nil {
				return err
			}
			lns = append(lns, ln)
		}
		return nil
	})
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return fmt.Errorf("metadata: network %s: listen on %v in %s: %w", n.id, addr, n.ns, err)
	}
	handlers := []http.Handler{http.HandlerFunc(n.serveData), http.HandlerFunc(n.servePassword)}
	for i, ln := range lns {
		hs := &http.Server{Handler: handlers[i], ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
		n.servers[addr] = append(n.servers[addr], hs)
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("serve", "network", n.id, "address", ln.Addr(), "err", err)
			}
		}()
	}
	return nil
}

func (n *network) close(addr netip.Addr) {
	for _, hs := range n.servers[addr] {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if hs.Shutdown(ctx) != nil {
			hs.Close()
		}
		cancel()
	}
	delete(n.servers, addr)
}

// ensureLocal puts addr/32 on the namespace's lo unless some link there has it, and brings lo
// up: the router namespace then delivers what VMs send to it through their gateway.
func ensureLocal(ns string, addr netip.Addr) (bool, error) {
	h, err := nsproc.Open(ns)
	if err != nil {
		return false, err
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return false, fmt.Errorf("netlink in %s: %w", ns, err)
	}
	defer nl.Close()
	have, err := nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("addresses in %s: %w", ns, err)
	}
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return false, fmt.Errorf("lo in %s: %w", ns, err)
	}
	if err := nl.LinkSetUp(lo); err != nil {
		return false, fmt.Errorf("lo up in %s: %w", ns, err)
	}
	for _, a := range have {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
			return false, nil
		}
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(32, 32)}, Scope: int(netlink.SCOPE_HOST)}
	if err := nl.AddrAdd(lo, a); err != nil {
		return false, fmt.Errorf("add %v to lo in %s: %w", addr, ns, err)
	}
	return true, nil
}

// dropLo removes the address ensureLocal added, if the namespace is still there.
func (n *network) dropLo(log *slog.Logger) {
	if !n.addedLo {
		return
	}
	n.addedLo = false
	h, err := nsproc.Open(n.ns)
	if err != nil {
		return // the namespace is gone, and the address with it
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return
	}
	defer nl.Close()
	if lo, err := nl.LinkByName("lo"); err == nil {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: Addr.AsSlice(), Mask: net.CIDRMask(32, 32)}}
		if err := nl.AddrDel(lo, a); err != nil {
			log.Debug("remove metadata address", "network", n.id, "err", err)
		}
	}
}

// Remove stops serving network id. Removing an unknown network is fine.
func (s *Server) Remove(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nets[id]; n != nil {
		s.remove(n)
	}
	return nil
}

func (s *Server) remove(n *network) {
	for a := range n.servers {
		n.close(a)
	}
	n.dropLo(s.log)
	delete(s.nets, n.id)
	s.log.Info("stopped serving", "network", n.id, "namespace", n.ns)
}

// Networks lists the networks served, for reconciliation.
func (s *Server) Networks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.nets))
	for id := range s.nets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Sweep removes every network but those in keep.
func (s *Server) Sweep(keep []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, n := range s.nets {
		if !slices.Contains(keep, id) {
			s.remove(n)
		}
	}
}

// Close stops serving every network.
func (s *Server) Close() error {
	s.Sweep(nil)
	return nil
}
