package config

import (
	"math"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "65536", want: 65536},
		{in: "512B", want: 512},
		{in: "64KiB", want: 64 << 10},
		{in: "64kib", want: 64 << 10},
		{in: "64 KiB", want: 64 << 10},
		{in: "16MiB", want: 16 << 20},
		{in: "10GiB", want: 10 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "8388607TiB", want: 8388607 << 40},
		{in: "8388608TiB", wantErr: true},
		{in: "9223372036854775807", want: math.MaxInt64},
		{in: "9223372036854775808", wantErr: true},
		{in: "", wantErr: true},
		{in: "KiB", wantErr: true},
		{in: "64KB", wantErr: true},
		{in: "64K", wantErr: true},
		{in: "1.5GiB", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "+1", wantErr: true},
		{in: "0x10", wantErr: true},
		{in: "64KiB ", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{
		0:             "0",
		1:             "1",
		1000:          "1000",
		1024:          "1KiB",
		65536:         "64KiB",
		1_000_000:     "1000000",
		1 << 20:       "1MiB",
		3 << 29:       "1536MiB",
		10 << 30:      "10GiB",
		1 << 40:       "1TiB",
		math.MaxInt64: "9223372036854775807",
	} {
		if got := formatSize(in); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestSizeValueOverflow(t *testing.T) {
	var n int
	v := sizeValue[int]{&n}
	err := v.Set("8388607TiB")
	if math.MaxInt == math.MaxInt64 {
		if err != nil || int64(n) != 8388607<<40 {
			t.Errorf("Set(8388607TiB) = %v, n = %d", err, n)
		}
	} else if err == nil {
		t.Errorf("Set(8388607TiB) on a 32-bit int = nil, want an error")
	}
}

// FuzzParseSize checks that parseSize never panics, accepts only what it documents, and that
// every size it accepts formats back to the same size.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "65536", "64KiB", "10gib", "1 MiB", "9223372036854775807", "8388608TiB", "-1", "B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("parseSize(%q) = %d, negative", s, n)
		}
		if strings.ContainsAny(s, "+-.xX") {
			t.Fatalf("parseSize(%q) = %d, want an error for a sign, fraction or base", s, n)
		}
		back, err := parseSize(formatSize(n))
		if err != nil || back != n {
			t.Fatalf("parseSize(formatSize(%d) = %q) = %d, %v", n, formatSize(n), back, err)
		}
	})
}
