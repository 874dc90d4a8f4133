package api

import (
	"github.com/atollcloud/atoll/db"
)

func registerAccounts(s *Server) {
}

// removeAccountTx deletes an account and its users inside tx (what the account owns in later
// resource families is released here too as those families arrive).
func removeAccountTx(c *Call, tx db.Tx, a *db.Account) error {
	if err := db.RemoveUsersOfAccount(c.Ctx, tx, a.ID); err != nil {
		return err
	}
	if err := db.RemoveAccount(c.Ctx, tx, a.ID); err != nil {
		return err
	}
	return c.Event(tx, "ACCOUNT.DELETE", "Deleting account "+a.Name, "Account", a.ID)
}
