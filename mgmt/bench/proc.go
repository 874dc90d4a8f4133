package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Proc is an atoll process this benchmark started; Stop ends it by its pid.
type Proc struct {
	Addr string // host:port of its API
	Log  string // file holding its stdout and stderr
	cmd  *exec.Cmd
	done chan error
}

// FreeAddr returns a loopback address with a port the OS just had free.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// StartCmd runs bin with args, its output in logFile, without waiting for anything.
func StartCmd(bin string, args []string, logFile string) (*Proc, error) {
	out, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("bench: log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("bench: start %s: %w", bin, err)
	}
	p := &Proc{Log: logFile, cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); out.Close() }()
	return p, nil
}

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	default:
		return false, nil
	}
}

// StartProc runs bin with args (which must make it listen on addr), its output in logFile, and
// waits until its API answers.
func StartProc(ctx context.Context, bin string, args []string, addr, logFile string) (*Proc, error) {
	p, err := StartCmd(bin, args, logFile)
	if err != nil {
		return nil, err
	}
	p.Addr = addr
	deadline := time.Now().Add(60 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for {
		resp, err := hc.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return nil, fmt.Errorf("bench: %s exited before serving (%v):\n%s", filepath.Base(bin), err, p.Tail(20))
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("bench: %s did not serve on %s within 60 s:\n%s", filepath.Base(bin), addr, p.Tail(20))
		}
	}
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stop asks the process to shut down (SIGTERM), waits up to 20 s, then kills it.
func (p *Proc) Stop() error {
	if p == nil || p.cmd.Process == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil // a signalled exit is how it ends
		}
		return err
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		return fmt.Errorf("bench: server %d did not stop within 20 s; killed", p.cmd.Process.Pid)
	}
}

// Tail returns the last n lines of the process's log.
func (p *Proc) Tail(n int) string {
	f, err := os.Open(p.Log)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// waitKeys waits for an `atoll up` data directory's admin.env and reads the key pair from it.
func waitKeys(ctx context.Context, file string) (key, secret string, err error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if data, err := os.ReadFile(file); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "CLOUDSTACK_KEY="); ok {
					key = v
				}
				if v, ok := strings.CutPrefix(line, "CLOUDSTACK_SECRET="); ok {
					secret = v
				}
			}
			if key != "" && secret != "" {
				return key, secret, nil
			}
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("bench: no API keys in %s after 30 s", file)
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
