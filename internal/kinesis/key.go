package kinesis

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/kinesyslog/kinesyslog/internal/record"
)

// PartitionKey returns the partition key of a record: its log group and log stream, as
// "/kinesyslog/syslog/514/10.0.0.5". Kinesis hashes the key (MD5) onto a shard, so each source's
// records stay in order on one shard while sources spread over the shards; every record holds
// the events of one source (package buffer). A key longer than MaxPartitionKeyBytes becomes the
// hex SHA-256 of itself, one key still; data that is not a record, which the record stage never
// writes, the hex SHA-256 of the data.
func PartitionKey(data []byte) string {
	h, err := record.ReadHeader(data)
	if err != nil {
		return hexSHA256(data)
	}
	key := h.LogGroup + "/" + h.LogStream
	if len(key) > MaxPartitionKeyBytes {
		return hexSHA256([]byte(key))
	}
	return key
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
