package servertest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
)

// helperPortEnv makes the test binary a tiny HTTP server on that port (see
// TestMain), so startNew can be tried on a real process.
const helperPortEnv = "SERVERTEST_HELPER_PORT"

func TestMain(m *testing.M) {
	if port := os.Getenv(helperPortEnv); port != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			fmt.Println(err) // "listen tcp ...: bind: address already in use"
			os.Exit(1)
		}
		_ = http.Serve(ln, http.NotFoundHandler())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A server whose port was taken before it bound it is built again on a new port;
// it is not retried for anything else.
func TestStartNewRetriesATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	attempts := 0
	build := func(first int) func(string, *logWriter) (string, *servers.Proc, error) {
		return func(_ string, log *logWriter) (string, *servers.Proc, error) {
			attempts++
			port := first
			if attempts > 1 {
				var err error
				if port, err = servers.FreePort(); err != nil {
					return "", nil, err
				}
			}
			addr := "127.0.0.1:" + strconv.Itoa(port)
			ready := func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				return err
			}
			exe, _ := os.Executable()
			return addr, servers.NewProc("helper", []string{exe}, []string{helperPortEnv + "=" + strconv.Itoa(port)}, ready, log), nil
		}
	}
	addr := startNew(t, "helper", nil, build(taken.Addr().(*net.TCPAddr).Port))
	if attempts != 2 || addr == taken.Addr().String() {
		t.Fatalf("started on %s after %d attempts; want a new port on the second", addr, attempts)
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
