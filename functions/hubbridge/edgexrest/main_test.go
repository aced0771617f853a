package edgexrest

import (
	"testing"

	"github.com/smartx-team/overcloud/functions/testbed/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m, "github.com/smartx-team/overcloud/functions/hubbridge/")
}
