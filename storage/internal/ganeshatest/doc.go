// Package ganeshatest starts and stops a userspace NFSv3 server (nfs-ganesha) for tests,
// through scripts/ganesha.sh. ganesha's port 2049 is fixed, so a test binary starts one
// server in its TestMain and shares it between its tests.
package ganeshatest
