#!/usr/bin/env bash
# Starts or stops a throwaway MariaDB server for tests, as user mysql on a temporary datadir.
#   scripts/mariadb.sh start DIR PORT   -> prints the ATOLL_TEST_MYSQL url; pid in DIR/mariadb.pid
#   scripts/mariadb.sh stop DIR         -> stops the server started there (by its pid) and removes DIR
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}
case "$cmd" in
start)
  port=${3:?port}
  mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
  install_db=$(command -v mariadb-install-db || echo /usr/bin/mariadb-install-db)
  rm -rf "$dir"; mkdir -p "$dir/data" "$dir/run"
  chmod 755 "$dir"; chown -R mysql:mysql "$dir/data" "$dir/run"
  "$install_db" --user=mysql --datadir="$dir/data" --auth-root-authentication-method=normal \
    --skip-test-db >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; exit 1; }
  cat >"$dir/my.cnf" <<CNF
[mariadbd]
user=mysql
datadir=$dir/data
socket=$dir/run/mysqld.sock
pid-file=$dir/run/mysqld.pid
port=$port
bind-address=127.0.0.1
skip-name-resolve
innodb_buffer_pool_size=256M
innodb_flush_log_at_trx_commit=2
innodb_log_file_size=128M
max_connections=1000
character-set-server=utf8mb4
collation-server=utf8mb4_bin
log-error=$dir/error.log
CNF
  "$mariadbd" --defaults-file="$dir/my.cnf" >/dev/null 2>&1 &
  echo $! >"$dir/mariadb.pid"
  for _ in $(seq 1 150); do
    if mariadb --socket="$dir/run/mysqld.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
      mariadb --socket="$dir/run/mysqld.sock" -uroot -e \
        "CREATE USER IF NOT EXISTS 'atoll'@'127.0.0.1' IDENTIFIED BY 'atoll'; GRANT ALL ON *.* TO 'atoll'@'127.0.0.1'; FLUSH PRIVILEGES;"
      echo "mysql://atoll:atoll@tcp(127.0.0.1:$port)/"
      exit 0
    fi
    kill -0 "$(cat "$dir/mariadb.pid")" 2>/dev/null || { echo "mariadb exited:" >&2; tail -20 "$dir/error.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "mariadb did not start in 30 s" >&2; tail -20 "$dir/error.log" >&2; exit 1
  ;;
stop)
  if [ -f "$dir/mariadb.pid" ]; then
    pid=$(cat "$dir/mariadb.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
