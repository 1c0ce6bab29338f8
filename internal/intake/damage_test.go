package intake

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// writeSegment writes entries to a log in a new directory and returns the directory, the path
// of its one segment and the offsets of the entries' records in it.
func writeSegment(t *testing.T, entries []Entry) (dir, path string, offs []int64) {
	t.Helper()
	dir = t.TempDir()
	l := openTest(t, dir, Options{})
	l.appendSynced(entries...)
	l.close()
	path = l.path(l.firstOwn)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, _ := f.Stat()
	s, _, ok := newScanner(f, info.Size(), nil, func(d damage) { t.Fatalf("damage %+v in a fresh segment", d) })
	if !ok {
		t.Fatal("fresh segment has no valid header")
	}
	for {
		rec, ok := s.next()
		if !ok {
			break
		}
		offs = append(offs, rec.off)
	}
	if len(offs) != len(entries) {
		t.Fatalf("fresh segment holds %d records, want %d", len(offs), len(entries))
	}
	return dir, path, offs
}

// zeros returns n zero bytes.
func zeros(n int) []byte { return make([]byte, n) }

// TestDamage opens segments damaged as a crash or a bad disk would, and with the zeros a round
// written with O_DIRECT leaves (padding to whole blocks, blocks a torn write left unwritten):
// zeros from the last intact record to the end of the file are the end of the segment, cut and
// not counted; zeros followed by intact records are damage; bytes other than zero before
// trailing zeros are a torn tail.
func TestDamage(t *testing.T) {
	all := entriesOf(7, 0, 20)
	except := func(i int) []Entry { return append(all[:i:i], all[i+1:]...) }
	tests := []struct {
		name string
		// damage changes the segment at path (records at offs) or adds files to dir.
		damage                func(t *testing.T, dir, path string, data []byte, offs []int64) []byte
		want                  []Entry
		entries, tails, heads float64
		logged                string // in a log line
		// size, when set, is the segment's size once Open cut it, from its records before damage.
		size func(data []byte, offs []int64) int64
	}{{
		name: "torn tail",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			return data[:offs[19]+20]
		},
		want:  all[:19],
		tails: 1,
	}, {
		name: "flipped byte in a message",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			data[offs[9]+int64(entryHeaderBytes)+60] ^= 0x40
			return data
		},
		want:    except(9),
		entries: 1,
		logged:  "offset=",
	}, {
		name: "huge length field",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			binary.LittleEndian.PutUint32(data[offs[4]+int64(len(entryMagic)):], 0xfffffff0)
			return data
		},
		want:    except(4),
		entries: 1,
	}, {
		name: "length field past the end of the file",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			binary.LittleEndian.PutUint32(data[offs[4]+int64(len(entryMagic)):], MaxEntryBytes)
			return data
		},
		want:    except(4),
		entries: 1,
	}, {
		name: "zeroed stretch across two entries",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			clear(data[offs[3]+5 : offs[5]+5])
			return data
		},
		want:    append(all[:3:3], all[6:]...),
		entries: 1,
	}, {
		name: "damaged segment header",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			data[3] ^= 1
			return data
		},
		want:  all,
		heads: 1,
	}, {
		name: "zero-length segments before and after",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			for _, num := range []uint64{0, 5} {
				if err := os.WriteFile(dir+"/"+segmentName(num), nil, filePerm); err != nil {
					t.Fatal(err)
				}
			}
			return data
		},
		want: all,
	}, {
		name: "truncated header",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			if err := os.WriteFile(dir+"/"+segmentName(0), data[:10], filePerm); err != nil {
				t.Fatal(err)
			}
			return data
		},
		want:  all,
		tails: 1, heads: 1,
	}, {
		name: "garbage segment",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			garbage := make([]byte, 100<<10)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range garbage {
				garbage[i] = byte(r.Uint32())
			}
			// Sprinkle magics so that resynchronisation has to reject them.
			for i := 0; i+len(entryMagic) < len(garbage); i += 997 {
				copy(garbage[i:], entryMagic)
			}
			if err := os.WriteFile(dir+"/"+segmentName(0), garbage, filePerm); err != nil {
				t.Fatal(err)
			}
			return data
		},
		want:  all,
		tails: 1, heads: 1,
	}, {
		name: "padded to the block, as a round leaves it",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			return append(data, zeros(roundUp(len(data))-len(data))...)
		},
		want: all,
		size: func(data []byte, _ []int64) int64 { return int64(len(data)) },
	}, {
		name: "a few zeros",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			return append(data, zeros(5)...)
		},
		want: all,
		size: func(data []byte, _ []int64) int64 { return int64(len(data)) },
	}, {
		name: "blocks of zeros, a torn write whose data never came",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			return append(data, zeros(3*blockBytes+100)...)
		},
		want: all,
		size: func(data []byte, _ []int64) int64 { return int64(len(data)) },
	}, {
		name: "torn padded block",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			data = data[:offs[19]+30]
			return append(data, zeros(roundUp(len(data))-len(data))...)
		},
		want:  all[:19],
		tails: 1,
		size:  func(_ []byte, offs []int64) int64 { return offs[19] },
	}, {
		name: "zeros then a torn record at the end",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			return append(append(data, zeros(700)...), entryMagic+"\x00\x01\x00\x00\x12\x34"...)
		},
		want:  all,
		tails: 1,
		size:  func(data []byte, _ []int64) int64 { return int64(len(data)) },
	}, {
		name: "zeros in the middle, intact entries after them",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			clear(data[offs[3]:offs[6]])
			return data
		},
		want:    append(all[:3:3], all[6:]...),
		entries: 1,
		size:    func(data []byte, _ []int64) int64 { return int64(len(data)) },
	}, {
		name: "a block of zeros between entries, then padding",
		damage: func(t *testing.T, dir, path string, data []byte, offs []int64) []byte {
			data = slices.Insert(data, int(offs[10]), zeros(blockBytes)...)
			return append(data, zeros(roundUp(len(data))-len(data))...)
		},
		want:    all,
		entries: 1,
		size:    func(data []byte, _ []int64) int64 { return int64(len(data)) + blockBytes },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, path, offs := writeSegment(t, all)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			size := int64(-1)
			if tt.size != nil {
				size = tt.size(data, offs)
			}
			if err := os.WriteFile(path, tt.damage(t, dir, path, data, offs), filePerm); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			l := openTest(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if diff := cmp.Diff(tt.want, replayAll(t, l.Log), cmpEntries); diff != "" {
				t.Errorf("Replay (-want +got):\n%s", diff)
			}
			for kind, want := range map[string]float64{damageEntry: tt.entries, damageTail: tt.tails, damageHeader: tt.heads} {
				if got := testutil.ToFloat64(l.metrics.corrupt.WithLabelValues(kind)); got != want {
					t.Errorf("corrupt_entries_total{kind=%q} = %v, want %v", kind, got, want)
				}
			}
			if tt.logged != "" && !strings.Contains(logs.String(), tt.logged) {
				t.Errorf("logs do not mention %q:\n%s", tt.logged, logs.String())
			}
			if size >= 0 {
				info, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if info.Size() != size {
					t.Errorf("segment after Open: %d bytes, want %d (cut to its last intact record)", info.Size(), size)
				}
			}
			l.close()

			// The tail was cut: a second Open finds no tail to cut, and the same entries.
			l2 := openTest(t, dir, Options{})
			if got := testutil.ToFloat64(l2.metrics.corrupt.WithLabelValues(damageTail)); got != 0 {
				t.Errorf("second Open: corrupt_entries_total{kind=tail} = %v, want 0", got)
			}
			if got := replayAll(t, l2.Log); len(got) != len(tt.want) {
				t.Errorf("second Open: Replay returned %d entries, want %d", len(got), len(tt.want))
			}
		})
	}
}
