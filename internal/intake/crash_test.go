package intake

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv names the directory a re-executed test binary appends to until it is killed.
const crashChildEnv = "KINESYSLOG_INTAKE_CRASH_DIR"

// crashMessage is the message of entry seq of stream, so that the parent can check replayed
// bytes without being told them.
func crashMessage(stream, seq uint64) []byte {
	return fmt.Appendf(nil, "<13>crash test stream %d entry %d %s", stream, seq, strings.Repeat("x", int(seq%97)))
}

// crashChild appends batches from a few goroutines, each its own stream, waits until each batch
// is durable and prints "durable STREAM LAST"; it releases every third batch once durable and
// prints nothing for those, since their markers may or may not survive. It never returns.
func crashChild(dir string) {
	l, err := Open(dir, Options{SyncInterval: 2 * time.Millisecond, SegmentBytes: 256 << 10})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	go l.Run(context.Background())
	var mu sync.Mutex
	for g := range 4 {
		go func() {
			s := l.NewStream()
			r := rand.New(rand.NewPCG(s, uint64(g)))
			seq := uint64(0)
			for batch := 0; ; batch++ {
				n := 1 + r.IntN(50)
				es := make([]Entry, n)
				for i := range es {
					es[i] = Entry{Stream: s, Seq: seq + uint64(i), Received: time.Now(), Message: crashMessage(s, seq+uint64(i))}
				}
				p, err := l.Append(context.Background(), batchOf(es))
				if err == nil {
					err = l.WaitSynced(context.Background(), p)
				}
				if err != nil {
					fmt.Println("append:", err)
					os.Exit(1)
				}
				last := seq + uint64(n) - 1
				if batch%3 == 2 {
					if err := l.Release([]Run{{s, seq, last}}); err != nil {
						fmt.Println("release:", err)
						os.Exit(1)
					}
				} else {
					mu.Lock()
					fmt.Printf("durable %d %d %d\n", s, seq, last)
					mu.Unlock()
				}
				seq = last + 1
			}
		}()
	}
	select {}
}

func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	type run struct{ stream, first, last uint64 }
	var durable []run
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 20 + rand.IntN(400) // durable batches
		sc := bufio.NewScanner(out)
		lines := 0
		for sc.Scan() {
			var r run
			if _, err := fmt.Sscanf(sc.Text(), "durable %d %d %d", &r.stream, &r.first, &r.last); err != nil {
				cmd.Process.Kill()
				t.Fatalf("child: %s", sc.Text())
			}
			durable = append(durable, r)
			if lines++; lines == killAfter {
				// SIGKILL at once: the child is in the middle of appends, syncs and releases.
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child ended with %v before it was killed", round, err)
		}
		t.Logf("round %d: killed after %d durable batches", round, lines)
	}

	l := openTest(t, dir, Options{})
	replayed := make(map[[2]uint64]bool)
	err := l.Replay(context.Background(), 0, func(e Entry) error {
		if want := crashMessage(e.Stream, e.Seq); string(e.Message) != string(want) {
			return fmt.Errorf("entry %d of stream %d: message %q, want %q", e.Seq, e.Stream, e.Message, want)
		}
		replayed[[2]uint64{e.Stream, e.Seq}] = true
		return nil
	})
	if err != nil {
		t.Fatalf("Replay = %v", err)
	}
	missing := 0
	for _, r := range durable {
		for seq := r.first; seq <= r.last; seq++ {
			if !replayed[[2]uint64{r.stream, seq}] {
				if missing++; missing <= 10 {
					t.Errorf("entry %d of stream %d was reported durable and is not replayed", seq, r.stream)
				}
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d durable entries not replayed", missing)
	}
	t.Logf("%d durable batches, %d entries replayed", len(durable), len(replayed))
}
