#!/usr/bin/env bash
# Runs every test tier against real parts: a MariaDB server started here (and stopped here, by
# pid), SQLite, the real python3-cs client. Under CI=true no tier may skip itself.
set -euo pipefail
cd "$(dirname "$0")/.."
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mdb=/tmp/atoll-test-mariadb-$$
trap 'scripts/mariadb.sh stop "$mdb"' EXIT
ATOLL_TEST_MYSQL=$(scripts/mariadb.sh start "$mdb" "$port")
export ATOLL_TEST_MYSQL
export ATOLL_BIN="$PWD/bin/atoll"
echo "== go test (unit, SQLite and MariaDB tiers; MariaDB on 127.0.0.1:$port)"
go test -count=1 -timeout 25m ./...
echo "== fuzz: request parsing and signing (${FUZZTIME:-10s})"
go test ./mgmt/api -run '^$' -fuzz FuzzRequest -fuzztime "${FUZZTIME:-10s}"
