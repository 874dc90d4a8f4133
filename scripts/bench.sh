#!/usr/bin/env bash
# make bench: builds atoll and atoll-bench, starts a throwaway MariaDB (scripts/mariadb.sh, its
# settings as for tests: innodb_flush_log_at_trx_commit=2), stops it by pid on exit, and prints
# the figures for SQLite and MariaDB, then the host scale run (one server holding N simulated
# hosts, one TLS connection each), and, as root, the KVM run (this machine as a KVM host: the
# orchestrator's overhead over the libvirt driver alone, to the tiny guest's boot marker). Extra
# flags for atoll-bench: ATOLL_BENCH_ARGS (-kvm=false leaves the KVM run out).
set -euo pipefail
# The host scale run holds one descriptor per host in the server and one in the agent process
# (the limit is per process: 10,000 hosts need a little over 10,000 in each).
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then ulimit -n 65536; else ulimit -n "$hard"; fi
if [ "$(ulimit -n)" -lt 10500 ]; then
	echo "bench.sh: open files limit $(ulimit -n) is below the 10,500 per process the 10,000-host run needs" >&2
fi
cd "$(dirname "$0")/.."
go build -o bin/atoll ./cmd/atoll
go build -o bin/atoll-bench ./cmd/atoll-bench
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mdb=/tmp/atoll-bench-mariadb-$$
trap 'scripts/mariadb.sh stop "$mdb"' EXIT
mysql_url=$(scripts/mariadb.sh start "$mdb" "$port")
# shellcheck disable=SC2086 # ATOLL_BENCH_ARGS is a list of flags
bin/atoll-bench -bin bin/atoll -mysql "$mysql_url" -mysql-pid "$(cat "$mdb/mariadb.pid")" ${ATOLL_BENCH_ARGS:-}

# Guest networking end to end (root): the network lab of test/netlab_test.go (KVM hosts as
# network namespaces on one underlay, real QEMU guests) measures the time from createNetwork
# and the first deploy to the guest's DHCP lease, a port forwarding rule to the outside
# reaching the guest, router failover (its host killed to the public address answering
# again), an agent restart to drift repaired, and a security group rule revoked to the port
# refusing. The runs only log these times; nothing asserts them. ATOLL_BENCH_NET=0 skips it.
if [ "$(id -u)" -eq 0 ] && [ "${ATOLL_BENCH_NET:-1}" != 0 ]; then
	echo
	echo "== Guest networking end to end (network lab: $(nproc) cores, QEMU TCG guests)"
	CI=true ATOLL_BIN="$PWD/bin/atoll" go test -count=1 -timeout 20m -run 'TestNetGuests|TestNetRouterFailover|TestNetSecurityGroups' -v ./test 2>&1 |
		grep -E '(first deploy to DHCP lease|createPortForwardingRule to the outside|router failover|agent restart to drift|revokeSecurityGroupIngress to the port|^--- |^(ok|FAIL))' |
		sed -E 's/^ +[a-z_]+\.go:[0-9]+: /  /'
fi
