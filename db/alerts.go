package db

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Alert types, CloudStack's AlertService.AlertType numbering; the first ones equal the
// capacity types whose thresholds raise them.
const (
	AlertMemory           = 0
	AlertCPU              = 1
	AlertStorage          = 2
	AlertStorageAllocated = 3
	AlertPublicIP         = 4
	AlertPrivateIP        = 5
	AlertSecondaryStorage = 6
	AlertHost             = 7
	AlertUserVM           = 8
	AlertDomainRouter     = 9
	AlertConsoleProxy     = 10
	AlertRouting          = 11
	AlertStorageMisc      = 12
	AlertUsageServer      = 13
	AlertManagementNode   = 14
	AlertVLAN             = 18
	AlertSSVM             = 19
	AlertStorageDelete    = 21
	AlertDirectPublicIP   = 24
	AlertLocalStorage     = 25
	AlertResourceLimit    = 26
	AlertSync             = 27
	AlertUploadFailed     = 28
)

// AlertNames are CloudStack's names of the default alert types, which listAlerts reports.
var AlertNames = map[int]string{
	0: "ALERT.MEMORY", 1: "ALERT.CPU", 2: "ALERT.STORAGE", 3: "ALERT.STORAGE.ALLOCATED", 4: "ALERT.NETWORK.PUBLICIP",
	5: "ALERT.NETWORK.PRIVATEIP", 6: "ALERT.STORAGE.SECONDARY", 7: "ALERT.COMPUTE.HOST", 8: "ALERT.USERVM",
	9: "ALERT.SERVICE.DOMAINROUTER", 10: "ALERT.SERVICE.CONSOLEPROXY", 11: "ALERT.NETWORK.ROUTING", 12: "ALERT.STORAGE.MISC",
	13: "ALERT.USAGE", 14: "ALERT.MANAGEMENT", 15: "ALERT.NETWORK.DOMAINROUTERMIGRATE", 16: "ALERT.SERVICE.CONSOLEPROXYMIGRATE",
	17: "ALERT.USERVM.MIGRATE", 18: "ALERT.NETWORK.VLAN", 19: "ALERT.SERVICE.SSVM", 20: "ALERT.USAGE.RESULT",
	21: "ALERT.STORAGE.DELETE", 22: "ALERT.RESOURCE.COUNT", 23: "ALERT.USAGE.SANITY", 24: "ALERT.NETWORK.DIRECTPUBLICIP",
	25: "ALERT.STORAGE.LOCAL", 26: "ALERT.RESOURCE.EXCEED", 27: "ALERT.TYPE.SYNC", 28: "ALERT.UPLOAD.FAILED",
}

// Alert is one alert raised for admins (host down, capacity threshold crossed ...).
type Alert struct {
	ID                       string
	Type                     int
	Name                     string // CloudStack's alert type name; defaults to AlertNames[Type]
	ZoneID, PodID, ClusterID string
	Subject, Content         string
	Created                  int64
	Archived                 bool
}

// InsertAlert records an alert in q (the transaction of the change that raised it, so that an
// alert never outlives a rolled-back change). It fills ID, Name and Created when empty.
func InsertAlert(ctx context.Context, q Querier, a *Alert) error {
	if a.ID == "" {
		a.ID = uuid.NewString()
	}
	if a.Name == "" {
		a.Name = AlertNames[a.Type]
	}
	if a.Created == 0 {
		a.Created = Now()
	}
	subject, content := truncRunes(a.Subject, 1024), truncRunes(a.Content, 4096)
	_, err := q.ExecContext(ctx, `INSERT INTO alerts (id, type, name, zone_id, pod_id, cluster_id, subject, content, created, archived)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.Type, nullable(a.Name), nullable(a.ZoneID), nullable(a.PodID),
		nullable(a.ClusterID), subject, nullable(content), a.Created, boolInt(a.Archived))
	if err != nil {
		return fmt.Errorf("db: insert alert: %w", err)
	}
	return nil
}

// AlertFilter selects alerts. Type is matched when non-nil; Name exactly (case-insensitively);
// Keyword is a substring of the subject. Archived alerts are listed only with Archived set.
type AlertFilter struct {
	ID, Name, Keyword string
	Type              *int
	Archived          bool
	Limit, Offset     int
}

// ListAlerts returns matching alerts, newest first, and the total before paging.
func ListAlerts(ctx context.Context, q Querier, f AlertFilter) ([]*Alert, int, error) {
	w := []string{"archived = ?"}
	args := []any{boolInt(f.Archived)}
	if f.ID != "" {
		w, args = append(w, "id = ?"), append(args, f.ID)
	}
	if f.Type != nil {
		w, args = append(w, "type = ?"), append(args, *f.Type)
	}
	if f.Name != "" {
		w, args = append(w, "LOWER(name) = LOWER(?)"), append(args, f.Name)
	}
	if f.Keyword != "" {
		w, args = append(w, "LOWER(subject) LIKE ?"+LikeEscape), append(args, "%"+LikePrefix(strings.ToLower(f.Keyword)))
	}
	where := strings.Join(w, " AND ")
	total, err := count(ctx, q, "alerts", where, args)
	if err != nil || total == 0 {
		return nil, total, err
	}
	rows, err := q.QueryContext(ctx, `SELECT id, type, COALESCE(name,''), COALESCE(zone_id,''), COALESCE(pod_id,''), COALESCE(cluster_id,''),
		subject, COALESCE(content,''), created, archived FROM alerts WHERE `+where+" ORDER BY seq DESC"+page(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list alerts: %w", err)
	}
	defer rows.Close()
	var out []*Alert
	for rows.Next() {
		var a Alert
		var archived int
		if err := rows.Scan(&a.ID, &a.Type, &a.Name, &a.ZoneID, &a.PodID, &a.ClusterID, &a.Subject, &a.Content, &a.Created, &archived); err != nil {
			return nil, 0, fmt.Errorf("db: list alerts: %w", err)
		}
		a.Archived = archived == 1
		out = append(out, &a)
	}
	return out, total, rows.Err()
}

// truncRunes cuts s to at most n characters (VARCHAR lengths count characters).
func truncRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
