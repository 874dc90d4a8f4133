// Package haproxy runs one HAProxy per guest network inside its router namespace for the
// network's load-balancer rules, with its configuration rendered as CloudStack's virtual
// router renders it (HAProxyConfigurator: a listen section per public IP and port, the
// algorithm, stickiness and member servers), reloaded without dropping connections (a new
// process with -sf takes over the sockets, the old one drains), and stopped when no rule is left.
package haproxy
