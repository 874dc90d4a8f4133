package db

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// freeBatch is how many taken values one query reads while looking for a free one.
const freeBatch = 256

// maxLostRaces bounds how often an allocation may lose the insert race before giving up
// with ErrConflict (the caller's transaction then retries).
const maxLostRaces = 64

// allocateFree finds a value in ranges (inclusive [lo, hi] pairs) that taken does not list
// and skip does not hold, scanning upward from start and wrapping once, and claims it with
// insert. taken(from, to) lists taken values in [from, to] in ascending order (at most
// freeBatch of them). An insert that fails as a duplicate (a concurrent allocation took the
// value) moves on to the next value. ErrNotFound: every value is taken.
func allocateFree(ranges [][2]int64, start int64, skip map[int64]bool, taken func(from, to int64) ([]int64, error), insert func(v int64) error) (int64, error) {
	rs := append([][2]int64(nil), ranges...)
	sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
	var total int64
	for _, r := range rs {
		if r[1] >= r[0] {
			total += r[1] - r[0] + 1
		}
	}
	if total == 0 {
		return 0, ErrNotFound
	}
	// Map start into the ranges: the first range ending at or after it.
	first := 0
	for first < len(rs) && rs[first][1] < start {
		first++
	}
	if first == len(rs) {
		first, start = 0, rs[0][0]
	}
	if start < rs[first][0] {
		start = rs[first][0]
	}
	lost := 0
	tried := map[int64]bool{}
	// Visit: [start, hi] of the first range, the following ranges, the earlier ranges, and
	// finally [lo, start-1] of the first range.
	type span struct{ lo, hi int64 }
	spans := []span{{start, rs[first][1]}}
	for k := 1; k < len(rs); k++ {
		r := rs[(first+k)%len(rs)]
		spans = append(spans, span{r[0], r[1]})
	}
	if start > rs[first][0] {
		spans = append(spans, span{rs[first][0], start - 1})
	}
	for _, sp := range spans {
		cand := sp.lo
		for cand <= sp.hi {
			vals, err := taken(cand, sp.hi)
			if err != nil {
				return 0, err
			}
			// Walk the taken values to the first gap at or after cand.
			for _, t := range vals {
				for cand < t && (skip[cand] || tried[cand]) {
					cand++
				}
				if cand < t {
					break
				}
				if t == cand {
					cand++
				}
			}
			for cand <= sp.hi && (skip[cand] || tried[cand]) {
				cand++
			}
			if cand > sp.hi {
				break
			}
			if len(vals) == freeBatch && cand > vals[len(vals)-1] {
				// The batch was all taken up to its end: read the next batch from here.
				continue
			}
			err = insert(cand)
			if err == nil {
				return cand, nil
			}
			if !IsDuplicate(err) {
				return 0, err
			}
			tried[cand] = true
			if lost++; lost > maxLostRaces {
				return 0, ErrConflict
			}
			cand++
		}
	}
	return 0, ErrNotFound
}

func listInts(ctx context.Context, q Querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// AllocateNetworkIP claims a free guest address of a network: a value of ranges (IPv4
// addresses as numbers, inclusive pairs) that no NIC of the network holds and that is not in
// skip (the gateway), searching from start. ErrNotFound: the ranges are full.
func AllocateNetworkIP(ctx context.Context, q Querier, networkID string, ranges [][2]int64, start int64, skip map[int64]bool, format func(int64) string) (int64, error) {
	return AllocateNetworkIPVia(ctx, q, q, networkID, ranges, start, skip, format)
}

// AllocateNetworkIPVia is AllocateNetworkIP with the claiming insert made through ins (a
// Deferred's Later, whose duplicate key then fails the write that sends it).
func AllocateNetworkIPVia(ctx context.Context, q, ins Querier, networkID string, ranges [][2]int64, start int64, skip map[int64]bool, format func(int64) string) (int64, error) {
	taken := func(from, to int64) ([]int64, error) {
		return listInts(ctx, q, "SELECT ip_num FROM network_ips WHERE network_id = ? AND ip_num >= ? AND ip_num <= ? ORDER BY ip_num"+page(freeBatch, 0),
			networkID, from, to)
	}
	insert := func(v int64) error { return InsertNetworkIP(ctx, ins, networkID, v, format(v)) }
	v, err := allocateFree(ranges, start, skip, taken, insert)
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
		return 0, fmt.Errorf("db: allocate network ip: %w", err)
	}
	return v, err
}

// InsertNetworkIP claims one address of a network; an address already held gives an error
// IsDuplicate accepts.
func InsertNetworkIP(ctx context.Context, q Querier, networkID string, ipNum int64, address string) error {
	_, err := q.ExecContext(ctx, "INSERT INTO network_ips (network_id, ip_num, address, allocated) VALUES (?, ?, ?, ?)", networkID, ipNum, address, Now())
	return err
}

// SetNetworkIPNic records which NIC holds an address (for leak checks).
func SetNetworkIPNic(ctx context.Context, q Querier, networkID string, ipNum int64, nicID string) error {
	res, err := q.ExecContext(ctx, "UPDATE network_ips SET nic_id = ? WHERE network_id = ? AND ip_num = ?", nicID, networkID, ipNum)
	if err != nil {
		return fmt.Errorf("db: set network ip nic: %w", err)
	}
	return expectOne(res)
}

// ReleaseNetworkIP frees an address of a network; it returns whether a row was removed.
func ReleaseNetworkIP(ctx context.Context, q Querier, networkID string, ipNum int64) (bool, error) {
	res, err := q.ExecContext(ctx, "DELETE FROM network_ips WHERE network_id = ? AND ip_num = ?", networkID, ipNum)
	if err != nil {
		return false, fmt.Errorf("db: release network ip: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// NetworkIP is an address held in a network.
type NetworkIP struct {
	NetworkID string
	IPNum     int64
	Address   string
	NicID     string
	Allocated int64
}

// ListNetworkIPs returns the addresses held in a network, in address order.
func ListNetworkIPs(ctx context.Context, q Querier, networkID string) ([]*NetworkIP, error) {
	rows, err := q.QueryContext(ctx, "SELECT network_id, ip_num, address, COALESCE(nic_id,''), allocated FROM network_ips WHERE network_id = ? ORDER BY ip_num", networkID)
	if err != nil {
		return nil, fmt.Errorf("db: list network ips: %w", err)
	}
	return scanAll(rows, "list network ips", func(s interface{ Scan(...any) error }) (*NetworkIP, error) {
		var ip NetworkIP
		return &ip, s.Scan(&ip.NetworkID, &ip.IPNum, &ip.Address, &ip.NicID, &ip.Allocated)
	})
}

// CountNetworkIPs counts the addresses held in a network (its live NICs).
func CountNetworkIPs(ctx context.Context, q Querier, networkID string) (int, error) {
	return count(ctx, q, "network_ips", "network_id = ?", []any{networkID})
}
