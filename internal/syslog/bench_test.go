package syslog

import (
	"testing"
	"time"
)

// Results kept in package variables so the compiler cannot drop the benchmarked calls.
var (
	benchHeader Header
	benchBytes  []byte
)

var benchMessages = []struct {
	name string
	loc  *time.Location
	msg  string
}{
	{name: "RFC5424", msg: `<13>1 2026-02-21T21:07:50.239881+00:00 host.example.com user 4326 - [timeQuality tzKnown="1" isSynced="0"] Hello, World!`},
	{name: "RFC5424/NILVALUE", msg: "<13>1 - host.example.com user 4326 - - Hello, World!"},
	{name: "RFC3164", msg: "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"},
	{name: "RFC3164/Location", loc: time.FixedZone("UTC-5", -5*3600), msg: "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"},
	{name: "RFC3164/NewYear", msg: "<34>Dec 31 23:59:59 mymachine su: 'su root' failed for lonvick on /dev/pts/8"},
	{name: "rsyslog-forward", msg: "<30>2026-02-21T21:07:40.123456+00:00 db01 systemd[1]: Started Session 42 of user deploy."},
	{name: "Cisco", msg: "<189>237: 000485: router1: *Feb 21 21:05:03.295 UTC: %LINEPROTO-5-UPDOWN: Line protocol on Interface Loopback100, changed state to up"},
	{name: "no-header", msg: "<189>date=2026-02-21 time=21:02:00 devname=\"FGT60F-HQ\" type=\"traffic\" subtype=\"forward\" level=\"notice\""},
}

func BenchmarkScan(b *testing.B) {
	for _, bm := range benchMessages {
		b.Run(bm.name, func(b *testing.B) {
			p := Parser{Location: bm.loc}
			msg := []byte(bm.msg)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				benchHeader = p.Scan(msg, corpusReceived)
			}
		})
	}
}

func BenchmarkAppendRewritten(b *testing.B) {
	msg := []byte(benchMessages[len(benchMessages)-1].msg)
	h := Parser{}.Scan(msg, corpusReceived)
	dst := make([]byte, 0, 2*len(msg)+64)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		dst = AppendRewritten(dst[:0], msg, h, corpusReceived, corpusSource)
	}
	benchBytes = dst
}
