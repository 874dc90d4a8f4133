package db

import "testing"

// On MySQL (MariaDB) every ADD COLUMN becomes ADD COLUMN IF NOT EXISTS, once; SQLite, which has
// no such syntax, keeps the statement as written.
func TestTranslateAddColumn(t *testing.T) {
	for _, c := range []struct {
		dialect  Dialect
		in, want string
	}{
		{MySQL, "ALTER TABLE t ADD COLUMN c BIGINT NULL", "ALTER TABLE t ADD COLUMN IF NOT EXISTS c BIGINT NULL"},
		{MySQL, "alter table t add  column\tc INT", "alter table t ADD COLUMN IF NOT EXISTS c INT"},
		{MySQL, "ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT", "ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT"},
		{MySQL, "ALTER TABLE t ADD COLUMN a INT, ADD COLUMN b INT", "ALTER TABLE t ADD COLUMN IF NOT EXISTS a INT, ADD COLUMN IF NOT EXISTS b INT"},
		{MySQL, "CREATE TABLE t (padd_column INT)", "CREATE TABLE t (padd_column INT)"},
		{SQLite, "ALTER TABLE t ADD COLUMN c BIGINT NULL", "ALTER TABLE t ADD COLUMN c BIGINT NULL"},
	} {
		d := &DB{Dialect: c.dialect}
		if got := d.translate(c.in); got != c.want {
			t.Errorf("%s: translate(%q) = %q, want %q", c.dialect, c.in, got, c.want)
		}
	}
}
