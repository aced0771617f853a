package outbox

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// seqColl holds one counter document per device: {_id: device, seq: last assigned}.
const seqColl = "device_seq"

// NextSeq reserves n sequence numbers for device's readings that came without one and
// returns the first; the counter lives in MongoDB so numbers keep increasing across
// restarts. It is one findOneAndUpdate ($inc, upsert).
func (ob *Outbox) NextSeq(ctx context.Context, device string, n int) (uint64, error) {
	if n <= 0 {
		return 0, errors.New("outbox: NextSeq needs n > 0")
	}
	var doc struct {
		Seq int64 `bson:"seq"`
	}
	err := ob.db.Collection(seqColl).FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: device}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(n)}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
	).Decode(&doc)
	if err != nil {
		return 0, fmt.Errorf("outbox: next seq of %s: %w", device, err)
	}
	if doc.Seq < int64(n) {
		return 0, fmt.Errorf("outbox: seq counter of %s is %d after adding %d", device, doc.Seq, n)
	}
	return uint64(doc.Seq-int64(n)) + 1, nil
}
