package servers_test

import (
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// TestMongo checks what the hub's outbox needs of FerretDB: insert, find, a duplicate
// _id reported as error 11000, a unique index on two fields, and data kept across a
// restart.
func TestMongo(t *testing.T) {
	t.Parallel()
	m := servertest.Mongo(t)
	ctx := ctxFor(t, 50*time.Second)
	connect := func() *mongo.Collection {
		t.Helper()
		c, err := mongo.Connect(options.Client().ApplyURI(m.URI))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Disconnect(ctx) })
		return c.Database("hub").Collection("outbox")
	}
	coll := connect()

	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "device", Value: "pi-1"}, {Key: "seq", Value: 1}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "device", Value: "pi-1"}, {Key: "seq", Value: 2}},
	}); err != nil {
		t.Fatal(err)
	}
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "device", Value: "pi-2"}})
	var we mongo.WriteException
	if !errors.As(err, &we) || !we.HasErrorCode(11000) || !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate _id: got %v, want a write error with code 11000", err)
	}
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "device", Value: 1}, {Key: "seq", Value: 1}},
		Options: options.Index().SetUnique(true),
	}); err != nil {
		t.Fatalf("create index on two fields: %v", err)
	}
	_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "c"}, {Key: "device", Value: "pi-1"}, {Key: "seq", Value: 2}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate (device, seq): got %v, want a duplicate key error", err)
	}

	restart(t, m.Proc)
	coll = connect()
	var doc struct {
		Device string `bson:"device"`
		Seq    int    `bson:"seq"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "b"}}).Decode(&doc); err != nil {
		t.Fatalf("find after restart: %v", err)
	}
	if doc.Device != "pi-1" || doc.Seq != 2 {
		t.Errorf("after restart got %+v, want pi-1 seq 2", doc)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
		t.Errorf("after restart %d documents (%v), want 2", n, err)
	}
	stop(t, m.Proc)
}
