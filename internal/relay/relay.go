// Package relay wires the stages of kinesyslog together: listeners, buffers, records, spool and
// uploader. It is the one file that shows the whole flow.
package relay
