package bench

import (
	"os"
	"testing"

	"github.com/kinesyslog/kinesyslog/internal/e2e"
)

func TestMain(m *testing.M) { os.Exit(e2e.Main(m)) }
