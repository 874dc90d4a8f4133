package nfs3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Programs and procedures used (RFC 1833 portmap v2, RFC 1813 MOUNT v3 and NFS v3).
const (
	progPortmap = 100000
	progMount   = 100005
	progNFS     = 100003

	pmapGetPort = 3
	mountMnt    = 1

	procGetAttr     = 1
	procLookup      = 3
	procRead        = 6
	procWrite       = 7
	procCreate      = 8
	procMkdir       = 9
	procRemove      = 12
	procRmdir       = 13
	procRename      = 14
	procLink        = 15
	procReadDirPlus = 17
	procFSStat      = 18
	procFSInfo      = 19
	procCommit      = 21

	ipProtoTCP = 6
	maxFH      = 64
	maxName    = 255
)

// Options tune Dial.
type Options struct {
	UID, GID uint32 // AUTH_SYS identity; 0/0 (root) by default
	// NFSPort and MountPort skip the portmapper lookup when set.
	NFSPort, MountPort int
}

// Client is an NFSv3 client of one export over TCP: paths are relative to the export root.
type Client struct {
	host   string
	export string
	nfs    *rpcConn
	root   []byte
	wmax   uint32
	rmax   uint32
}

// Dial mounts export from host (MOUNT v3 through the portmapper) and connects to its NFS
// service. The context bounds the whole exchange.
func Dial(ctx context.Context, host, export string, o Options) (*Client, error) {
	cred := authSysBody(o.UID, o.GID)
	mport := o.MountPort
	if mport == 0 {
		p, err := getPort(ctx, host, progMount, 3)
		if err != nil {
			return nil, fmt.Errorf("nfs %s:%s: portmapper: mountd: %w", host, export, err)
		}
		mport = p
	}
	mnt := newRPCConn(net.JoinHostPort(host, strconv.Itoa(mport)), progMount, 3, cred)
	defer mnt.close()
	var e encoder
	e.str(export)
	d, err := mnt.call(ctx, mountMnt, e.b)
	if err != nil {
		return nil, fmt.Errorf("nfs %s:%s: mount: %w", host, export, err)
	}
	if st := d.u32(); st != 0 {
		return nil, fmt.Errorf("nfs %s:%s: mount refused: %w", host, export, mountStatus(st))
	}
	root := d.opaque(maxFH)
	if d.err != nil {
		return nil, fmt.Errorf("nfs %s:%s: mount reply: %w", host, export, d.err)
	}
	nport := o.NFSPort
	if nport == 0 {
		p, err := getPort(ctx, host, progNFS, 3)
		if err != nil {
			return nil, fmt.Errorf("nfs %s:%s: portmapper: nfs: %w", host, export, err)
		}
		nport = p
	}
	c := &Client{
		host:   host,
		export: export,
		nfs:    newRPCConn(net.JoinHostPort(host, strconv.Itoa(nport)), progNFS, 3, cred),
		root:   root,
		wmax:   64 << 10,
		rmax:   64 << 10,
	}
	if err := c.fsinfo(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close drops the connection. The export needs no unmount: NFSv3 is stateless and the
// server's mount list is informational.
func (c *Client) Close() error {
	c.nfs.close()
	return nil
}

func getPort(ctx context.Context, host string, prog, vers uint32) (int, error) {
	pm := newRPCConn(net.JoinHostPort(host, "111"), progPortmap, 2, nil)
	defer pm.close()
	var e encoder
	e.u32(prog)
	e.u32(vers)
	e.u32(ipProtoTCP)
	e.u32(0)
	d, err := pm.call(ctx, pmapGetPort, e.b)
	if err != nil {
		return 0, err
	}
	port := d.u32()
	if d.err != nil {
		return 0, d.err
	}
	if port == 0 {
		return 0, fmt.Errorf("program %d version %d is not registered", prog, vers)
	}
	return int(port), nil
}

func mountStatus(st uint32) error {
	switch st {
	case 1:
		return errors.New("MNT3ERR_PERM")
	case 2:
		return errors.New("MNT3ERR_NOENT: no such export")
	case 13:
		return errors.New("MNT3ERR_ACCES: access denied by the server's export rules")
	case 20:
		return errors.New("MNT3ERR_NOTDIR")
	}
	return fmt.Errorf("MNT3ERR_%d", st)
}

func (c *Client) fsinfo(ctx context.Context) error {
	var e encoder
	e.opaque(c.root)
	d, err := c.nfs.call(ctx, procFSInfo, e.b)
	if err != nil {
		return fmt.Errorf("nfs %s:%s: fsinfo: %w", c.host, c.export, err)
	}
	if st := d.u32(); st != 0 {
		return &OpError{Op: "fsinfo", Path: c.export, Err: Status(st)}
	}
	skipPostOpAttr(d)
	rtmax := d.u32()
	d.u32() // rtpref
	d.u32() // rtmult
	wtmax := d.u32()
	if d.err != nil {
		return fmt.Errorf("nfs %s:%s: fsinfo reply: %w", c.host, c.export, d.err)
	}
	if rtmax > 0 && rtmax < c.rmax {
		c.rmax = rtmax
	}
	if wtmax > 0 && wtmax < c.wmax {
		c.wmax = wtmax
	}
	return nil
}

// split cleans a path relative to the export root into its components; "" and "." are the
// root. ".." is refused: paths never leave the export.
func split(p string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(p, "/") {
		switch s {
		case "", ".":
			continue
		case "..":
			return nil, fmt.Errorf("path %q leaves the export", p)
		}
		if len(s) > maxName {
			return nil, fmt.Errorf("path %q: name too long", p)
		}
		out = append(out, s)
	}
	return out, nil
}

// walk returns the handle of the directory holding p's last component and that name; for the
// root itself name is "".
func (c *Client) walk(ctx context.Context, p string) (dir []byte, name string, err error) {
	parts, err := split(p)
	if err != nil {
		return nil, "", err
	}
	if len(parts) == 0 {
		return c.root, "", nil
	}
	fh := c.root
	for i, s := range parts[:len(parts)-1] {
		next, _, err := c.lookup(ctx, fh, s)
		if err != nil {
			return nil, "", &OpError{Op: "lookup", Path: strings.Join(parts[:i+1], "/"), Err: err}
		}
		fh = next
	}
	return fh, parts[len(parts)-1], nil
}

// handle returns p's file handle and attributes.
func (c *Client) handle(ctx context.Context, p string) ([]byte, *Attr, error) {
	dir, name, err := c.walk(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	if name == "" {
		a, err := c.getattr(ctx, dir)
		return dir, a, err
	}
	fh, a, err := c.lookup(ctx, dir, name)
	if err != nil {
		return nil, nil, &OpError{Op: "lookup", Path: p, Err: err}
	}
	if a == nil {
		if a, err = c.getattr(ctx, fh); err != nil {
			return nil, nil, &OpError{Op: "getattr", Path: p, Err: err}
		}
	}
	return fh, a, nil
}
