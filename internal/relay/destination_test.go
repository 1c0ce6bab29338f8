package relay

import (
	"context"
	"errors"
	"testing"
)

func TestOwnerGet(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 { // a select between two ready cases would pick either
		if got, err := knownOwner("123456789012").get(done); got != "123456789012" || err != nil {
			t.Fatalf("get(done ctx) of a known owner = %q, %v; want the owner", got, err)
		}
	}
	unknown := &owner{ready: make(chan struct{})}
	if _, err := unknown.get(done); !errors.Is(err, context.Canceled) {
		t.Errorf("get(done ctx) of an unknown owner = %v, want context.Canceled", err)
	}
	learned := make(chan string, 1)
	go func() {
		account, _ := unknown.get(context.Background())
		learned <- account
	}()
	unknown.set("210987654321")
	unknown.set("111111111111") // only the first value counts
	if got := <-learned; got != "210987654321" {
		t.Errorf("get after set = %q, want 210987654321", got)
	}
}
