package edgexrest

import (
	"testing"

	"github.com/smartx-team/overcloud/functions/hubbridge/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }
