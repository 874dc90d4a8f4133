// Package metadata serves CloudStack's virtual-router data to the VMs of a network from inside
// the network's router namespace: user data and meta data over HTTP on port 80 (the paths the
// VR's Apache rewrite rules answer, which cloud-init's CloudStack data source reads) and the
// password server on port 8080 (passwd_server_ip.py's DomU_Request protocol). It listens on
// the gateway address and on 169.254.169.254, and tells VMs apart by their source address on
// that network. One Server per agent holds every network; each network has its own sockets in
// its own namespace.
package metadata
