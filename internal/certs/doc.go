// Package certs supplies the certificates of the TLS listeners: the server certificate, loaded
// from PEM files and replaced while the relay runs, or made self-signed at start; the bundle of
// CAs that sign client certificates; and the identities of a client certificate matched against
// the --client-allow patterns.
//
// It starts no goroutine and logs nothing: the listener decides when to reload (SIGHUP, or a
// change that Store.Changed reports) and says what happened. A Store hands its certificate to
// crypto/tls through GetCertificate, and a reload swaps it atomically, so handshakes in progress
// and open connections keep the certificate they started with; a new certificate that does not
// load (unreadable, a key that does not match, expired) leaves the old one in place.
package certs
