package record

import (
	"regexp"
	"strconv"
	"testing"
)

// uuidV7 matches a version 7 UUID in canonical form; its first 12 hex digits are the timestamp.
var uuidV7 = regexp.MustCompile(`^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// formatID is an id as AppendEvent writes it.
func formatID(id UUID) string { return string(appendUUID(nil, id)) }

func TestIDs(t *testing.T) {
	tests := []struct {
		name      string
		ids       IDs
		unixMilli []int64
		want      []string
	}{
		{
			name:      "counts up",
			ids:       IDs{high: 0x123, low: 0x456789abcdef0123},
			unixMilli: []int64{1519247270240, 1519247270240, 1519247270241},
			want: []string{
				"0161ba31-a160-748d-8567-89abcdef0123",
				"0161ba31-a160-748d-8567-89abcdef0124",
				"0161ba31-a161-748d-8567-89abcdef0125",
			},
		},
		{
			name:      "carries from rand_b into rand_a",
			ids:       IDs{high: 0x3ff, low: 0x3fff_ffff_ffff_ffff},
			unixMilli: []int64{1, 1},
			want: []string{
				"00000000-0001-7ffc-bfff-ffffffffffff",
				"00000000-0001-7ffd-8000-000000000000",
			},
		},
		{
			name:      "carries into the counter's high bits and wraps at 74 bits",
			ids:       IDs{high: 0x3ff, low: 0xffff_ffff_ffff_ffff},
			unixMilli: []int64{2, 2},
			want: []string{
				"00000000-0002-7fff-bfff-ffffffffffff",
				"00000000-0002-7000-8000-000000000000",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, ms := range tt.unixMilli {
				if got := formatID(tt.ids.Next(ms)); got != tt.want[i] {
					t.Errorf("id %d = %s, want %s", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestNewIDs(t *testing.T) {
	const ms = 1764547200123
	seen := map[string]bool{}
	for range 100 {
		ids := NewIDs()
		prev := ""
		for range 100 {
			id := formatID(ids.Next(ms))
			m := uuidV7.FindStringSubmatch(id)
			if m == nil {
				t.Fatalf("id %q is not a version 7 UUID", id)
			}
			if got, _ := strconv.ParseInt(m[1]+m[2], 16, 64); got != ms {
				t.Errorf("id %q carries %d ms, want %d", id, got, ms)
			}
			if seen[id] {
				t.Errorf("id %q made twice", id)
			}
			seen[id] = true
			if id <= prev {
				t.Errorf("id %q follows %q: want ids increasing within a millisecond", id, prev)
			}
			prev = id
		}
	}
}
