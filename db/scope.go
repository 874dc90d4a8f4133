package db

// Scope restricts a list to what a caller may see and asked for, in CloudStack's terms:
// one account, one domain, or a domain subtree. The zero Scope matches everything.
type Scope struct {
	// AccountID limits to resources owned by this account.
	AccountID string
	// DomainPath limits to resources owned by accounts in this domain and, if Recursive,
	// in its descendants.
	DomainPath string
	Recursive  bool
}

// apply adds the scope's conditions given the SQL expressions for the owning account id and
// the owning domain's path.
func (s Scope) apply(w []string, args []any, accountCol, pathCol string) ([]string, []any) {
	if s.AccountID != "" {
		w, args = append(w, accountCol+" = ?"), append(args, s.AccountID)
	}
	if s.DomainPath != "" {
		if s.Recursive {
			w = append(w, "("+pathCol+" = ? OR "+pathCol+" LIKE ?"+LikeEscape+")")
			args = append(args, s.DomainPath, LikePrefix(s.DomainPath+"/"))
		} else {
			w, args = append(w, pathCol+" = ?"), append(args, s.DomainPath)
		}
	}
	return w, args
}
