package securitygroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/google/uuid"
)

// AdoptLegacy moves what vm_instances.security_groups recorded into security_group_vm_map.
// Before security groups existed (and before deploys refused them), a Basic zone's deploy
// recorded its securitygroupids/securitygroupnames there as given, unchecked. Each VM with
// such a record and no membership yet joins, for each name, its owner's group of that name
// (made when missing, as the VM's owner asked for it), and for each id the owner's group of
// that id if there is one; then the column is cleared. Servers run it at start; it does nothing
// once no record is left.
func AdoptLegacy(ctx context.Context, d *db.DB, log *slog.Logger) error {
	rows, err := d.SQL.QueryContext(ctx, `SELECT id, account_id, security_groups FROM vm_instances
		WHERE removed IS NULL AND security_groups IS NOT NULL AND security_groups <> ''`)
	if err != nil {
		return fmt.Errorf("security groups: read recorded groups: %w", err)
	}
	type rec struct{ vm, account, groups string }
	var recs []rec
	for rows.Next() {
		var r rec
		if err := rows.Scan(&r.vm, &r.account, &r.groups); err != nil {
			rows.Close()
			return fmt.Errorf("security groups: read recorded groups: %w", err)
		}
		recs = append(recs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("security groups: read recorded groups: %w", err)
	}
	for _, r := range recs {
		err := d.Transaction(ctx, func(tx db.Tx) error {
			have, err := db.ListSecurityGroupMembers(ctx, tx, []string{r.vm}, nil)
			if err != nil {
				return err
			}
			if len(have) == 0 {
				var ids []string
				for _, tok := range strings.Split(r.groups, ",") {
					if tok = strings.TrimSpace(tok); tok == "" {
						continue
					}
					g, err := adoptOne(ctx, tx, r.account, tok)
					if err != nil {
						return err
					}
					if g == nil {
						if log != nil {
							log.Warn("security groups: a VM's recorded group does not exist; left out", "vm", r.vm, "group", tok)
						}
						continue
					}
					ids = append(ids, g.ID)
				}
				if err := db.SetVMSecurityGroups(ctx, tx, r.vm, ids); err != nil {
					return err
				}
			}
			_, err = tx.ExecContext(ctx, "UPDATE vm_instances SET security_groups = NULL WHERE id = ?", r.vm)
			return err
		})
		if err != nil {
			return fmt.Errorf("security groups: adopt the recorded groups of vm %s: %w", r.vm, err)
		}
	}
	return nil
}

// adoptOne finds (by id) or finds or makes (by name) the account's group a record names; nil
// for an id that names no group of the account.
func adoptOne(ctx context.Context, tx db.Querier, accountID, tok string) (*db.SecurityGroup, error) {
	if _, err := uuid.Parse(tok); err == nil {
		g, err := db.GetSecurityGroup(ctx, tx, strings.ToLower(tok))
		if errors.Is(err, db.ErrNotFound) || err == nil && g.AccountID != accountID {
			return nil, nil
		}
		return g, err
	}
	if strings.EqualFold(tok, db.DefaultSGName) {
		return EnsureDefault(ctx, tx, accountID)
	}
	g, err := db.GetSecurityGroupByName(ctx, tx, accountID, tok)
	if !errors.Is(err, db.ErrNotFound) {
		return g, err
	}
	if _, err := EnsureDefault(ctx, tx, accountID); err != nil {
		return nil, err
	}
	acct, err := db.GetAccount(ctx, tx, accountID)
	if err != nil {
		return nil, err
	}
	g = &db.SecurityGroup{ID: uuid.NewString(), Name: tok, Description: "recorded with a VM before security groups existed",
		AccountID: accountID, DomainID: acct.DomainID, Created: db.Now()}
	if err := db.InsertSecurityGroup(ctx, tx, g); err != nil {
		return nil, err
	}
	return db.GetSecurityGroup(ctx, tx, g.ID)
}
