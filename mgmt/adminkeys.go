package mgmt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/iam"
)

// AdminKeys returns the admin user's API key pair, registering one on first use and keeping a
// copy in file (mode 0600) for the all-in-one's operator.
func AdminKeys(ctx context.Context, s *Server, file string) (key, secret string, err error) {
	if data, err := os.ReadFile(file); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "CLOUDSTACK_KEY="); ok {
				key = v
			}
			if v, ok := strings.CutPrefix(line, "CLOUDSTACK_SECRET="); ok {
				secret = v
			}
		}
		if u, err := db.GetUserByAPIKey(ctx, s.DB.Read(), key); err == nil && u.Username == "admin" {
			return key, secret, nil
		}
	}
	root, err := db.GetDomainByPath(ctx, s.DB.Read(), "ROOT")
	if err != nil {
		return "", "", fmt.Errorf("mgmt: admin keys: %w", err)
	}
	err = s.DB.Transaction(ctx, func(tx db.Tx) error {
		u, err := db.GetUserByName(ctx, tx, root.ID, "admin")
		if errors.Is(err, db.ErrNotFound) {
			return errors.New("mgmt: the admin user no longer exists")
		}
		if err != nil {
			return err
		}
		key, secret = iam.RandomKey(64), iam.RandomKey(64)
		enc, err := s.Keys.Encrypt(secret)
		if err != nil {
			return err
		}
		u.APIKey, u.SecretKey = key, enc
		return db.UpdateUser(ctx, tx, u)
	})
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", "", fmt.Errorf("mgmt: admin keys: %w", err)
	}
	content := fmt.Sprintf("CLOUDSTACK_KEY=%s\nCLOUDSTACK_SECRET=%s\n", key, secret)
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		return "", "", fmt.Errorf("mgmt: admin keys: %w", err)
	}
	return key, secret, nil
}
