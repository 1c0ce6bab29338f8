package awsconf

import (
	"context"
	"errors"
	"log/slog"
	"testing"
)

func TestOwnerGet(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	known := NewOwner("", slog.New(slog.DiscardHandler))
	known.set("123456789012")
	for range 100 { // a select between two ready cases would pick either
		if got, err := known.Get(done); got != "123456789012" || err != nil {
			t.Fatalf("Get(done ctx) of a known owner = %q, %v; want the owner", got, err)
		}
	}
	unknown := NewOwner("", slog.New(slog.DiscardHandler))
	if _, err := unknown.Get(done); !errors.Is(err, context.Canceled) {
		t.Errorf("Get(done ctx) of an unknown owner = %v, want context.Canceled", err)
	}
	learned := make(chan string, 1)
	go func() {
		account, _ := unknown.Get(context.Background())
		learned <- account
	}()
	unknown.set("210987654321")
	unknown.set("111111111111") // only the first value counts
	if got := <-learned; got != "210987654321" {
		t.Errorf("Get after set = %q, want 210987654321", got)
	}
}
