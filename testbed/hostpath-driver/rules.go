// rules.go holds the request rules that need no disk or kernel: capacity
// resolution, list pagination and id generation. They are kept apart from the
// handlers so they can be unit tested without root.

package main

import (
	"crypto/rand"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// defaultVolumeSize is the capacity of a volume whose request names none.
const defaultVolumeSize int64 = 1 << 30 // 1 GiB

// resolveCapacity turns a CreateVolume capacity range into the capacity to
// provision: required_bytes; if that is 0, limit_bytes; if that is 0 too,
// the default size (capped at maxSize).
func resolveCapacity(r *csi.CapacityRange, maxSize int64) (int64, error) {
	required, limit := r.GetRequiredBytes(), r.GetLimitBytes()
	if required < 0 || limit < 0 {
		return 0, status.Error(codes.InvalidArgument, "capacity_range must not be negative")
	}
	if limit > 0 && limit < required {
		return 0, status.Errorf(codes.InvalidArgument,
			"capacity_range.limit_bytes %d is less than required_bytes %d", limit, required)
	}
	capacity := required
	if capacity == 0 {
		capacity = limit
	}
	if capacity == 0 {
		capacity = min(defaultVolumeSize, maxSize)
	}
	if capacity > maxSize {
		return 0, status.Errorf(codes.OutOfRange,
			"requested capacity %d exceeds the maximum volume size %d", capacity, maxSize)
	}
	return capacity, nil
}

// fitsRange reports whether an existing volume of this capacity satisfies a
// capacity range, which decides idempotent CreateVolume retries.
func fitsRange(capacity int64, r *csi.CapacityRange) bool {
	if capacity < r.GetRequiredBytes() {
		return false
	}
	return r.GetLimitBytes() == 0 || capacity <= r.GetLimitBytes()
}

// paginate returns one page of items, which must be sorted by id. The token
// is the id of the first item of the page, so a page boundary survives the
// deletion of any item: the next page starts at the first id not below the
// token. A token that is not an id this driver could have issued is
// rejected with ABORTED, as the CSI spec asks.
func paginate[T any](items []T, id func(T) string, maxEntries int32, token string) ([]T, string, error) {
	if maxEntries < 0 {
		return nil, "", status.Errorf(codes.InvalidArgument, "max_entries %d must not be negative", maxEntries)
	}
	start := 0
	if token != "" {
		if !validID(token) {
			return nil, "", status.Errorf(codes.Aborted, "invalid starting_token %q", token)
		}
		start = sort.Search(len(items), func(i int) bool { return id(items[i]) >= token })
	}
	end := len(items)
	if maxEntries > 0 && start+int(maxEntries) < end {
		end = start + int(maxEntries)
	}
	next := ""
	if end < len(items) {
		next = id(items[end])
	}
	return items[start:end], next, nil
}

// newID returns a random (version 4) UUID, the form of every volume and
// snapshot id this driver hands out.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// validID reports whether s has the shape of an id from newID. Ids are also
// used as file names, so nothing else may reach the file system.
func validID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// sizeSuffixes maps Kubernetes quantity suffixes to multipliers.
var sizeSuffixes = []struct {
	suffix string
	mult   int64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50},
	{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15},
}

// parseSize reads a byte count such as "1073741824", "100Gi" or "1T".
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, sf := range sizeSuffixes {
		if n, ok := strings.CutSuffix(s, sf.suffix); ok {
			num, mult = n, sf.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid size %q: want a positive integer with an optional suffix (Ki, Mi, Gi, Ti, Pi, k, M, G, T, P)", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q overflows int64", s)
	}
	return n * mult, nil
}
