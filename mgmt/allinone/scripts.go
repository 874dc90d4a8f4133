package allinone

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FindScripts returns the repository's scripts directory (the one holding libvirtd.sh,
// ganesha.sh and tiny-template.sh): dir when given, else $ATOLL_SCRIPTS, else next to the executable (bin/atoll in a
// checkout: ../scripts) or above the working directory (make run runs from the repository).
func FindScripts(dir string) (string, error) {
	var tried []string
	ok := func(d string) bool {
		if d == "" {
			return false
		}
		if d, err := filepath.Abs(d); err == nil && !slices.Contains(tried, d) {
			tried = append(tried, d)
		}
		for _, s := range needScripts {
			if fi, err := os.Stat(filepath.Join(d, s)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir != "" {
		if ok(dir) {
			return filepath.Abs(dir)
		}
		return "", fmt.Errorf("scripts directory %s lacks one of %s", dir, strings.Join(needScripts, ", "))
	}
	if d := os.Getenv("ATOLL_SCRIPTS"); ok(d) {
		return filepath.Abs(d)
	}
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		d := filepath.Dir(exe)
		candidates = append(candidates, filepath.Join(d, "scripts"), filepath.Join(d, "..", "scripts"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			candidates = append(candidates, filepath.Join(d, "scripts"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range candidates {
		if ok(d) {
			return filepath.Abs(d)
		}
	}
	return "", fmt.Errorf("no scripts directory holding %s (looked in %s): a KVM all-in-one runs them from an Atoll checkout "+
		"(libvirtd.sh only when %s does not answer; ganesha.sh serves the NFS exports; tiny-template.sh builds the template): "+
		"run atoll from the checkout, pass --scripts DIR or set ATOLL_SCRIPTS", strings.Join(needScripts, ", "), strings.Join(tried, ", "), SystemLibvirtSocket)
}

var needScripts = []string{"libvirtd.sh", "ganesha.sh", "tiny-template.sh"}

// runScript runs one of the scripts and returns its standard output. GANESHA_OWNER names this
// process, so that ganesha.sh stops a server this process left behind when it died.
func runScript(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(dir, name), args...)
	cmd.Env = append(os.Environ(), "GANESHA_OWNER="+strconv.Itoa(os.Getpid()))
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}

// envValue returns KEY's value among KEY=VALUE lines.
func envValue(out, key string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+"="); ok {
			return v
		}
	}
	return ""
}

// pidAlive reports whether the PID in file names a live (not zombie) process.
func pidAlive(file string) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] != 'Z'
}
