package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"
	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/testbed/fleet"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
)

// Bad input arrives while good devices post: each gets its clear 4xx at the hub or
// goes to the dead-letter topic at the sender, is counted, and every good reading
// still arrives exactly once.
func TestBadInputDoesNotDisturbGoodReadings(t *testing.T) {
	t.Parallel()
	p := startPath(t, 10, 200*time.Millisecond)
	token := p.fleetToken(t, "sim-0")

	event := func(device string, value float64) []byte {
		ev := dtos.NewEvent(fleet.ProfileName, device, fleet.SourceName)
		r, err := dtos.NewSimpleReading(fleet.ProfileName, device, "temperature", common.ValueTypeFloat64, value)
		if err != nil {
			t.Fatal(err)
		}
		r.Id = uuid.NewString()
		r.Tags = dtos.Tags{"seq": 1}
		ev.Readings = append(ev.Readings, r)
		b, _ := json.Marshal(requests.NewAddEventRequest(ev))
		return b
	}
	invalid := func() []byte { // no readings: EdgeX's validation requires at least one
		ev := dtos.NewEvent(fleet.ProfileName, "sim-0", fleet.SourceName)
		b, _ := json.Marshal(requests.NewAddEventRequest(ev))
		return b
	}
	huge := append([]byte(`{"apiVersion":"v3","event":{"readings":[`), bytes.Repeat([]byte(`{"id":"x"},`), 20000)...)
	tests := []struct {
		name, device, token string
		body                []byte
		status              int
		reason              string // in the hub_rejected_total label
	}{
		{"malformed JSON", "sim-0", token, []byte(`{"apiVersion":"v3","event":{`), 400, "malformed"},
		{"fails EdgeX validation", "sim-0", token, invalid(), 400, "invalid"},
		{"unknown device", "ghost", "ghost-token", event("ghost", 20), 404, "unknown_device"},
		{"wrong token", "sim-0", "not-the-token", event("sim-0", 20), 401, "unauthorized"},
		{"out of range", "sim-0", token, event("sim-0", 140), 422, "out_of_range"},
		{"oversize body", "sim-0", token, huge, 413, "too_large"},
	}

	// Good devices post all along.
	p.runFleet(8*time.Second, func() {
		for _, tt := range tests {
			path := fmt.Sprintf("%s/api/v3/event/%s/%s/%s/%s", p.HubURL, fleet.ServiceName, fleet.ProfileName, tt.device, fleet.SourceName)
			req, _ := http.NewRequest(http.MethodPost, path, bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var answer struct {
				Message    string `json:"message"`
				StatusCode int    `json:"statusCode"`
			}
			jsonErr := json.Unmarshal(body, &answer)
			if resp.StatusCode != tt.status {
				t.Errorf("%s: HTTP %d, want %d (%s)", tt.name, resp.StatusCode, tt.status, body)
			}
			if jsonErr != nil || answer.Message == "" || answer.StatusCode != resp.StatusCode {
				t.Errorf("%s: answer %q is not an EdgeX JSON error with a reason", tt.name, body)
			}
			if strings.Contains(string(body), token) {
				t.Errorf("%s: the answer leaks the device's token", tt.name)
			}
		}
		p.produceRaw(t, "sim-0", []byte("temperature=21.5 (not a reading)"))
	})
	p.checkExactlyOnce()

	fams, err := promscrape.Scrape(context.Background(), p.HubAdmin)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		if n, _ := fams.Value("hub_rejected_total", "reason", tt.reason); n == 0 {
			t.Errorf("hub metrics do not count reason %q", tt.reason)
		}
	}
	dead := p.readDeadLetters(t, 1)
	if string(dead[0].Value) != "temperature=21.5 (not a reading)" || len(dead[0].Headers) == 0 {
		t.Errorf("dead letter = %q with headers %v, want the original value and a reason", dead[0].Value, dead[0].Headers)
	}
}

func (p *dataPath) fleetToken(t *testing.T, device string) string {
	t.Helper()
	tok, ok := p.tokens[device]
	if !ok {
		t.Fatalf("no token for %s", device)
	}
	return tok
}

// produceRaw puts a message on the readings topic as a broken producer would.
func (p *dataPath) produceRaw(t *testing.T, key string, value []byte) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(p.Kafka.Addr), Topic: localrun.Topic, RequiredAcks: kafka.RequireAll, Balancer: &kafka.Hash{}}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(key), Value: value}); err != nil {
		t.Fatal(err)
	}
}

// readDeadLetters reads n messages from the dead-letter topic.
func (p *dataPath) readDeadLetters(t *testing.T, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{p.Kafka.Addr}, Topic: localrun.DeadTopic, GroupID: "e2e-dead-letter-check",
		StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("dead-letter topic: %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}
