package bench

import "slices"

// The content of generated messages: what a relay in front of a web fleet receives, in the
// proportions the draws give. Hex identifiers and addresses keep the compression ratio near that
// of real traffic, where a message repeated with a counter would compress far better.

// Syslog facilities and severities (RFC 5424 section 6.2.1).
const (
	facKern     = 0
	facMail     = 2
	facDaemon   = 3
	facAuth     = 4
	facCron     = 9
	facAuthpriv = 10
	facAudit    = 13
	facLocal0   = 16
	facLocal2   = 18
	facLocal3   = 19
	facLocal7   = 23

	sevErr     = 3
	sevWarning = 4
	sevNotice  = 5
	sevInfo    = 6
	sevDebug   = 7
)

type host struct{ prefix, domain string }

var hosts = [...]host{
	{"web", "prod.example.com"},
	{"db", "prod.example.com"},
	{"cache", "eu-west-1.compute.internal"},
	{"api", "staging.example.net"},
	{"worker", "batch.example.org"},
	{"lb", "edge.example.com"},
	{"fw", "dc2.corp.example"},
	{"k8s-node", "cluster.local"},
}

func appendHost(dst []byte, h *host, n int) []byte {
	dst = append(dst, h.prefix...)
	// n is 1 to 64: two digits, the first a 0 under 10.
	dst = append2(append(dst, '-'), n)
	dst = append(dst, '.')
	return append(dst, h.domain...)
}

var (
	users   = [...]string{"alice", "bob", "deploy", "postgres", "www-data", "jürgen", "zoë", "søren", "ansible", "backup", "山田"}
	paths   = [...]string{"/api/v1/items", "/api/v2/orders", "/static/js/app.min.js", "/healthz", "/login", "/cart/checkout", "/images/products", "/graphql", "/v1/metrics/push"}
	methods = [...]string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	status  = [...]int{200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 500, 502, 503, 504}
	agents  = [...]string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"curl/8.5.0", "Go-http-client/2.0", "kube-probe/1.30", "Prometheus/2.53.0",
	}
	regions = [...]string{"eu-west-1", "us-east-1", "ap-southeast-2", "eu-central-1"}
	words   = [...]string{"retrying", "upstream", "timed out", "after", "connection", "reset by peer", "cache miss", "for key", "rebalancing", "partition", "checkpoint", "complete", "queue depth"}
)

func pick[T any](r *rng, s []T) T { return s[r.intn(len(s))] }

func appendHex(dst []byte, r *rng, digits int) []byte {
	start := len(dst)
	dst = slices.Grow(dst, digits)[:start+digits]
	for b := dst[start:]; len(b) > 0; {
		v := r.next()
		k := min(len(b), 16)
		for i := range b[:k] {
			b[i] = hexDigits[v&0xf]
			v >>= 4
		}
		b = b[k:]
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendIPTail appends the last three octets of an address.
func appendIPTail(dst []byte, r *rng) []byte {
	dst = appendUint(dst, r.uintn(256))
	dst = appendUint(append(dst, '.'), r.uintn(256))
	return appendUint(append(dst, '.'), r.uintn(254))
}

func appendIP(dst []byte, r *rng) []byte {
	switch r.intn(3) {
	case 0:
		dst = append(dst, "10."...)
		return appendIPTail(dst, r)
	case 1:
		dst = append(dst, "203.0.113."...)
	default:
		dst = append(dst, "198.51.100."...)
	}
	return appendUint(dst, r.uintn(254))
}

func appendPath(dst []byte, r *rng) []byte {
	dst = append(dst, pick(r, paths[:])...)
	dst = appendUint(append(dst, '/'), r.uintn(100000))
	if r.intn(2) == 0 {
		dst = appendUint(append(dst, "?page="...), r.uintn(40))
	}
	return dst
}

// A messageKind is one sort of message: the program that sends it, at which facility and
// severities. appendBody writes its text.
type messageKind struct {
	app        string
	facility   int
	severities []int
}

var kinds = [...]messageKind{
	{"nginx", facLocal7, []int{sevInfo}},
	{"sshd", facAuthpriv, []int{sevInfo, sevNotice}},
	{"kernel", facKern, []int{sevWarning, sevInfo}},
	{"postgres", facLocal0, []int{sevInfo, sevWarning}},
	{"systemd", facDaemon, []int{sevInfo}},
	{"CRON", facCron, []int{sevInfo}},
	{"orders-api", facLocal3, []int{sevErr, sevWarning, sevInfo, sevDebug}},
	{"haproxy", facLocal2, []int{sevInfo}},
	{"audit", facAudit, []int{sevNotice}},
	{"postfix/smtpd", facMail, []int{sevInfo, sevNotice}},
	{"dockerd", facDaemon, []int{sevInfo, sevDebug}},
}

// appendBody appends the text of a message of kinds[kind]. It is a switch rather than a function
// per kind so that r, passed to direct calls only, stays on the stack.
func appendBody(dst []byte, kind int, r *rng) []byte {
	switch kinds[kind].app {
	case "nginx":
		dst = appendIP(dst, r)
		dst = append(dst, ` - - "`...)
		dst = append(dst, pick(r, methods[:])...)
		dst = appendPath(append(dst, ' '), r)
		dst = append(dst, ` HTTP/1.1" `...)
		dst = appendUint(dst, uint64(pick(r, status[:])))
		dst = appendUint(append(dst, ' '), r.uintn(200000))
		dst = append(dst, ` "-" "`...)
		dst = append(dst, pick(r, agents[:])...)
		dst = appendUint(append(dst, `" rt=0.`...), r.uintn(1000))
		return dst
	case "sshd":
		if r.intn(3) == 0 {
			dst = append(dst, "Failed password for invalid user "...)
		} else {
			dst = append(dst, "Accepted publickey for "...)
		}
		dst = append(dst, pick(r, users[:])...)
		dst = appendIP(append(dst, " from "...), r)
		dst = appendUint(append(dst, " port "...), r.uintn(65535))
		dst = append(dst, " ssh2: ED25519 SHA256:"...)
		return appendHex(dst, r, 43)
	case "kernel":
		dst = appendUint(append(dst, '['), r.uintn(9999999))
		dst = appendUint(append(dst, '.'), r.uintn(1000000))
		dst = append(dst, "] IPTables-Dropped: IN=eth0 OUT= MAC="...)
		dst = appendHex(dst, r, 28)
		dst = appendIP(append(dst, " SRC="...), r)
		dst = appendIP(append(dst, " DST="...), r)
		dst = appendUint(append(dst, " LEN="...), r.uintn(1500))
		dst = appendUint(append(dst, " TOS=0x00 PREC=0x00 TTL="...), r.uintn(255))
		dst = appendUint(append(dst, " ID="...), r.uintn(65535))
		dst = appendUint(append(dst, " DF PROTO=TCP SPT="...), r.uintn(65535))
		return append(dst, " DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0"...)
	case "postgres":
		dst = append(dst, "user=app,db=orders LOG:  duration: "...)
		dst = appendUint(dst, r.uintn(5000))
		dst = appendUint(append(dst, '.'), r.uintn(1000))
		dst = append(dst, " ms  statement: SELECT id, total, created_at FROM orders WHERE customer_id = "...)
		dst = appendUint(dst, r.uintn(1000000))
		return append(dst, " ORDER BY created_at DESC LIMIT 50"...)
	case "systemd":
		if r.intn(2) == 0 {
			dst = appendUint(append(dst, "Started Session "...), r.uintn(100000))
			dst = append(dst, " of User "...)
			return append(append(dst, pick(r, users[:])...), '.')
		}
		return append(dst, "Finished apt-daily-upgrade.service - Daily apt upgrade and clean activities."...)
	case "CRON":
		dst = append(append(append(dst, '('), pick(r, users[:])...), ") CMD (/usr/local/bin/backup.sh --incremental /var/lib/postgresql/16/main --retain "...)
		return append(appendUint(dst, r.uintn(30)), ')')
	case "orders-api":
		dst = append(dst, `level=warn caller=handler.go:`...)
		dst = appendUint(dst, r.uintn(900))
		dst = append(dst, ` msg="slow request" method=`...)
		dst = append(dst, pick(r, methods[:])...)
		dst = appendPath(append(dst, " path="...), r)
		dst = appendUint(append(dst, " status="...), uint64(pick(r, status[:])))
		dst = appendUint(append(dst, " duration="...), r.uintn(30))
		dst = appendUint(append(dst, '.'), r.uintn(1000))
		return append(append(dst, "s user="...), pick(r, users[:])...)
	case "haproxy":
		dst = appendIP(dst, r)
		dst = appendUint(append(dst, ':'), r.uintn(65535))
		dst = append(dst, " https-in~ api_backend/api-0"...)
		dst = appendUint(dst, r.uintn(9))
		dst = appendUint(append(dst, " 0/0/1/"...), r.uintn(500))
		dst = appendUint(append(dst, "/46 "...), uint64(pick(r, status[:])))
		dst = appendUint(append(dst, ' '), r.uintn(100000))
		dst = append(dst, ` - - ---- 12/12/3/1/0 0/0 "`...)
		dst = append(dst, pick(r, methods[:])...)
		dst = appendPath(append(dst, ' '), r)
		return append(dst, ` HTTP/1.1"`...)
	case "audit":
		dst = append(dst, "type=SYSCALL msg=audit(1771708070."...)
		dst = appendUint(dst, r.uintn(1000))
		dst = appendUint(append(dst, ':'), r.uintn(1000000))
		dst = append(dst, "): arch=c000003e syscall=59 success=yes exit=0 ppid="...)
		dst = appendUint(dst, r.uintn(65535))
		dst = appendUint(append(dst, " pid="...), r.uintn(65535))
		return append(dst, ` auid=1000 uid=0 comm="bash" exe="/usr/bin/bash" key="exec"`...)
	case "postfix/smtpd":
		dst = append(dst, "NOQUEUE: reject: RCPT from unknown["...)
		dst = appendIP(dst, r)
		dst = append(dst, "]: 554 5.7.1 <"...)
		dst = append(dst, pick(r, users[:])...)
		return append(dst, "@example.org>: Relay access denied; proto=ESMTP helo=<mail.example.net>"...)
	case "dockerd":
		dst = append(dst, `level=info msg="ignoring event" container=`...)
		dst = appendHex(dst, r, 64)
		return append(dst, ` module=libcontainerd namespace=moby topic=/tasks/delete type="*events.TaskDelete"`...)
	}
	return dst
}

// fillerKeys are the keys of the key=value pairs that pad a message to its size.
var fillerKeys = [...]string{"trace_id", "span_id", "user", "region", "bytes", "latency_ms", "path", "peer", "note"}

// appendFiller appends " key=value" with a key drawn from fillerKeys.
func appendFiller(dst []byte, r *rng) []byte {
	key := fillerKeys[r.intn(len(fillerKeys))]
	dst = append(append(append(dst, ' '), key...), '=')
	switch key {
	case "trace_id":
		return appendHex(dst, r, 32)
	case "span_id":
		return appendHex(dst, r, 16)
	case "user":
		return append(dst, pick(r, users[:])...)
	case "region":
		return append(dst, pick(r, regions[:])...)
	case "bytes":
		return appendUint(dst, r.uintn(1<<20))
	case "latency_ms":
		return appendUint(dst, r.uintn(10000))
	case "path":
		return appendPath(dst, r)
	case "peer":
		return appendUint(append(appendIP(dst, r), ':'), r.uintn(65535))
	}
	dst = append(dst, '"')
	for i := range 2 + r.intn(5) {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, pick(r, words[:])...)
	}
	return append(dst, '"')
}
