package router

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// announce sends a gratuitous ARP request for each address from the inner device dev, so
// the neighbours (and the bridges' forwarding tables) learn at once where the address is
// now: what `arping -U` does, and what arp_notify does when a device comes up.
func (r *routerLinks) announce(dev string, addrs []netip.Addr) error {
	l, err := r.in.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("look up %s: %w", dev, err)
	}
	mac := l.Attrs().HardwareAddr
	idx := l.Attrs().Index
	return inNetns(r.path, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		defer unix.Close(fd)
		to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: idx, Halen: 6}
		copy(to.Addr[:], broadcastMAC)
		for _, a := range addrs {
			if err := unix.Sendto(fd, garpFrame(mac, a), 0, to); err != nil {
				return fmt.Errorf("send gratuitous ARP for %s on %s: %w", a, dev, err)
			}
		}
		r.log.Info("gratuitous ARP sent", "link", dev, "addrs", addrs)
		return nil
	})
}

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// garpFrame is an Ethernet broadcast of an ARP request whose sender and target are both
// addr (RFC 5227's announcement).
func garpFrame(mac net.HardwareAddr, addr netip.Addr) []byte {
	f := make([]byte, 0, 42)
	f = append(f, broadcastMAC...)
	f = append(f, mac...)
	f = binary.BigEndian.AppendUint16(f, unix.ETH_P_ARP)
	f = binary.BigEndian.AppendUint16(f, 1)             // hardware: Ethernet
	f = binary.BigEndian.AppendUint16(f, unix.ETH_P_IP) // protocol: IPv4
	f = append(f, 6, 4)                                 // address lengths
	f = binary.BigEndian.AppendUint16(f, 1)             // request
	a := addr.As4()
	f = append(f, mac...)
	f = append(f, a[:]...)
	f = append(f, make([]byte, 6)...)
	f = append(f, a[:]...)
	return f
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
