package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// QemuImg runs qemu-img. Every run is bound to its context: on expiry the process is killed
// and the error wraps the context's.
type QemuImg struct {
	Path string // default "qemu-img"
}

// ImageInfo is the part of `qemu-img info --output=json` Atoll uses.
type ImageInfo struct {
	Format        string `json:"format"`
	VirtualSize   int64  `json:"virtual-size"`
	ActualSize    int64  `json:"actual-size"`
	BackingFile   string `json:"backing-filename"`
	BackingFormat string `json:"backing-filename-format"`
	Dirty         bool   `json:"dirty-flag"`
	Specific      struct {
		Data struct {
			Corrupt bool `json:"corrupt"`
		} `json:"data"`
	} `json:"format-specific"`
}

func (q QemuImg) bin() string {
	if q.Path != "" {
		return q.Path
	}
	return "qemu-img"
}

func (q QemuImg) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, q.bin(), args...)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("qemu-img %s: %w (killed)", args[0], cerr)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return nil, fmt.Errorf("qemu-img %s: %w: %s", args[0], err, msg)
	}
	return stdout.Bytes(), nil
}

// Info reads an image's metadata. format "" lets qemu-img probe (only for images Atoll did
// not write itself and checks afterwards). -U reads an image a running VM holds.
func (q QemuImg) Info(ctx context.Context, loc, format string) (ImageInfo, error) {
	args := []string{"info", "--output=json", "-U"}
	if format != "" {
		args = append(args, "-f", format)
	}
	out, err := q.run(ctx, append(args, loc)...)
	if err != nil {
		return ImageInfo{}, err
	}
	return parseImageInfo(out)
}

func parseImageInfo(out []byte) (ImageInfo, error) {
	var info ImageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return ImageInfo{}, fmt.Errorf("qemu-img info: %w", err)
	}
	if info.Format == "" {
		return ImageInfo{}, errors.New("qemu-img info: no format in its answer")
	}
	return info, nil
}

// Create makes an empty qcow2 image.
func (q QemuImg) Create(ctx context.Context, loc string, size int64) error {
	_, err := q.run(ctx, "create", "-q", "-f", "qcow2", loc, strconv.FormatInt(size, 10))
	return err
}

// CreateOverlay makes a qcow2 image backed by backing (always with its format: qemu-img
// refuses -b without -F since QEMU 6.1). size 0 keeps the backing image's size.
func (q QemuImg) CreateOverlay(ctx context.Context, loc, backing, backingFormat string, size int64) error {
	args := []string{"create", "-q", "-f", "qcow2", "-F", backingFormat, "-b", backing, loc}
	if size > 0 {
		args = append(args, strconv.FormatInt(size, 10))
	}
	_, err := q.run(ctx, args...)
	return err
}

// Resize changes a qcow2 image's virtual size; shrinking needs shrink.
func (q QemuImg) Resize(ctx context.Context, loc string, size int64, shrink bool) error {
	args := []string{"resize", "-q", "-f", "qcow2"}
	if shrink {
		args = append(args, "--shrink")
	}
	_, err := q.run(ctx, append(args, loc, strconv.FormatInt(size, 10))...)
	return err
}

// Convert copies src (read through its backing chain) to a new standalone image at dst.
func (q QemuImg) Convert(ctx context.Context, src, srcFormat, dst, dstFormat string) error {
	_, err := q.run(ctx, "convert", "-q", "-f", srcFormat, "-O", dstFormat, src, dst)
	return err
}
