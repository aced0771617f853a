package wire_test

import (
	"errors"
	"fmt"

	"github.com/smartx-team/overcloud/functions/inference/wire"
	"github.com/smartx-team/overcloud/functions/model"
)

// The original sender's request, a 6 x 5 window in the columnar form, parsed for the
// baseline shape, and the answer written back in the same form.
func ExampleParse() {
	body := []byte(`{"inputs": [[[61, 4.5, 40, 24, 1], [61, 4.4, 41, 24, 1], [62, 4.4, 41, 24, 1],
		[62, 4.3, 42, 24, 1], [62, 4.3, 42, 24, 1], [63, 4.2, 43, 22, 1]]]}`)
	shape := wire.Shape{Steps: 6, Features: model.BaselineFeatures}
	req, err := wire.Parse(body, shape)
	if err != nil {
		panic(err)
	}
	fmt.Println(req.Format, len(req.Windows), "window; last step:", req.Windows[0][5])

	// One row of outputs per window, as the model would predict them.
	resp, _ := wire.AppendResponse(nil, req.Format, [][]float64{{23.5, 44.25}})
	fmt.Print(string(resp))

	// A refused request says why, with a reason for the metrics.
	_, err = wire.Parse([]byte(`{"inputs": [[[61, 4.5, NaN, 24, 1]]]}`), shape)
	var e *wire.Error
	if errors.As(err, &e) {
		fmt.Println(e.Reason, "-", e.Msg)
	}
	// Output:
	// columnar 1 window; last step: [63 4.2 43 22 1]
	// {"outputs":[[23.5,44.25]]}
	// not_finite - instance 0, step 0: humidity is NaN, want a finite number
}
