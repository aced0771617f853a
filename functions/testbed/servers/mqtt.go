package servers

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/eclipse/paho.golang/paho"
)

// MQTT is a mosquitto broker without persistence or authentication.
type MQTT struct {
	*Proc
	// URL is the broker, "mqtt://127.0.0.1:port".
	URL string
	// Addr is the broker's "127.0.0.1:port", for clients that dial themselves.
	Addr string
	// Dir holds the configuration file.
	Dir string
}

// NewMQTT writes a mosquitto configuration into dir (created if needed) that listens
// on a free 127.0.0.1 port, allows anonymous clients, keeps nothing on disk and logs to
// stdout, followed by the lines of extra (for example the broker settings of a
// component), and returns the stopped broker; log receives its log (nil discards it).
// It fails if mosquitto is not installed (see Tool).
func NewMQTT(dir, extra string, log io.Writer) (*MQTT, error) {
	bin, err := Tool("mosquitto")
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	text := "# Written by servers.NewMQTT for tests.\n" +
		"listener " + strconv.Itoa(port) + " 127.0.0.1\n" +
		"allow_anonymous true\n" +
		"persistence false\n" +
		"log_dest stdout\n" +
		"log_type error\nlog_type warning\nlog_type notice\nlog_type information\n" +
		"connection_messages true\n" + extra
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	m := &MQTT{URL: "mqtt://" + addr, Addr: addr, Dir: dir}
	m.Proc = NewProc("mqtt", []string{bin, "-c", conf}, nil, m.ready, log)
	return m, nil
}

// ready connects with MQTT 5 and wants a successful CONNACK.
func (m *MQTT) ready(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return err
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: "servers-ready", CleanStart: true, KeepAlive: 0})
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("connect: %w", err)
	}
	if ack.ReasonCode != 0 {
		_ = conn.Close()
		return fmt.Errorf("connack: reason %d", ack.ReasonCode)
	}
	return c.Disconnect(&paho.Disconnect{ReasonCode: 0})
}
