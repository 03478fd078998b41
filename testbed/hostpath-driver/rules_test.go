// rules_test.go checks the pure request rules: capacity, pagination, ids and
// size parsing.

package main

import (
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const gib = int64(1) << 30

func TestResolveCapacity(t *testing.T) {
	const maxSize = 10 * gib
	tests := []struct {
		name     string
		r        *csi.CapacityRange
		want     int64
		wantCode codes.Code
	}{
		{"no range", nil, gib, codes.OK},
		{"zeros", &csi.CapacityRange{}, gib, codes.OK},
		{"required", &csi.CapacityRange{RequiredBytes: 5 * gib}, 5 * gib, codes.OK},
		{"limit only", &csi.CapacityRange{LimitBytes: 100}, 100, codes.OK},
		{"required and limit", &csi.CapacityRange{RequiredBytes: 2 * gib, LimitBytes: 3 * gib}, 2 * gib, codes.OK},
		{"exactly max", &csi.CapacityRange{RequiredBytes: maxSize}, maxSize, codes.OK},
		{"over max", &csi.CapacityRange{RequiredBytes: maxSize + 1}, 0, codes.OutOfRange},
		{"limit over max", &csi.CapacityRange{LimitBytes: 2 * maxSize}, 0, codes.OutOfRange},
		{"limit below required", &csi.CapacityRange{RequiredBytes: 2 * gib, LimitBytes: gib}, 0, codes.InvalidArgument},
		{"negative", &csi.CapacityRange{RequiredBytes: -1}, 0, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveCapacity(tt.r, maxSize)
			if code := status.Code(err); code != tt.wantCode {
				t.Fatalf("code = %v, want %v (err %v)", code, tt.wantCode, err)
			}
			if got != tt.want {
				t.Errorf("capacity = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestResolveCapacityDefaultCappedAtMax(t *testing.T) {
	got, err := resolveCapacity(nil, 1<<20)
	if err != nil || got != 1<<20 {
		t.Fatalf("got %d, %v; want %d", got, err, 1<<20)
	}
}

func TestFitsRange(t *testing.T) {
	tests := []struct {
		capacity int64
		r        *csi.CapacityRange
		want     bool
	}{
		{gib, nil, true},
		{gib, &csi.CapacityRange{RequiredBytes: gib}, true},
		{gib, &csi.CapacityRange{RequiredBytes: gib / 2}, true},
		{gib, &csi.CapacityRange{RequiredBytes: 2 * gib}, false},
		{gib, &csi.CapacityRange{LimitBytes: gib / 2}, false},
		{gib, &csi.CapacityRange{RequiredBytes: gib / 2, LimitBytes: gib}, true},
	}
	for _, tt := range tests {
		if got := fitsRange(tt.capacity, tt.r); got != tt.want {
			t.Errorf("fitsRange(%d, %v) = %v, want %v", tt.capacity, tt.r, got, tt.want)
		}
	}
}

func TestPaginate(t *testing.T) {
	ids := []string{
		"10000000-0000-4000-8000-000000000000",
		"20000000-0000-4000-8000-000000000000",
		"30000000-0000-4000-8000-000000000000",
		"40000000-0000-4000-8000-000000000000",
		"50000000-0000-4000-8000-000000000000",
	}
	self := func(s string) string { return s }

	// Walk all pages of two.
	var seen []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > len(ids) {
			t.Fatal("pagination does not terminate")
		}
		page, next, err := paginate(ids, self, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, page...)
		if next == "" {
			break
		}
		token = next
	}
	if len(seen) != len(ids) {
		t.Fatalf("saw %v, want %v", seen, ids)
	}
	for i := range ids {
		if seen[i] != ids[i] {
			t.Fatalf("saw %v, want %v", seen, ids)
		}
	}

	// No max: everything, no token.
	page, next, err := paginate(ids, self, 0, "")
	if err != nil || len(page) != len(ids) || next != "" {
		t.Fatalf("unlimited: %v %q %v", page, next, err)
	}

	// The entry a token names was deleted: resume at the next id.
	page, next, err = paginate([]string{ids[0], ids[1], ids[3], ids[4]}, self, 1, ids[2])
	if err != nil || len(page) != 1 || page[0] != ids[3] || next != ids[4] {
		t.Fatalf("after deletion: %v %q %v", page, next, err)
	}

	// A token past the end gives an empty page.
	page, next, err = paginate(ids[:2], self, 0, ids[4])
	if err != nil || len(page) != 0 || next != "" {
		t.Fatalf("past the end: %v %q %v", page, next, err)
	}

	if _, _, err := paginate(ids, self, 0, "invalid-token"); status.Code(err) != codes.Aborted {
		t.Errorf("bad token: got %v, want Aborted", err)
	}
	if _, _, err := paginate(ids, self, -1, ""); status.Code(err) != codes.InvalidArgument {
		t.Errorf("negative max_entries: got %v, want InvalidArgument", err)
	}
}

func TestNewIDIsValid(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := newID()
		if !validID(id) {
			t.Fatalf("newID() = %q is not a valid id", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "invalid-token", "../../etc/passwd", "10000000-0000-4000-8000-00000000000G", "10000000-0000-4000-8000-0000000000000"} {
		if validID(bad) {
			t.Errorf("validID(%q) = true", bad)
		}
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{"1": 1, "1024": 1024, "1Ki": 1024, "1Ti": 1 << 40, "100Gi": 100 * gib, "2M": 2e6, "1k": 1000}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1Gi", "1.5Gi", "Gi", "1GiB", "9999999Pi"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded, want error", in)
		}
	}
}
