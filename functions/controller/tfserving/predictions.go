package tfserving

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// ParsePredictions reads a predict answer in TF-Serving's row format,
// {"predictions": [...]}, holding n predictions of the named outputs (see the package
// doc for the shapes taken), and returns them as rows in the order of outputs. It wraps
// ErrMalformed for anything else. NaN, Infinity and -Infinity are returned as such.
func ParsePredictions(b []byte, n int, outputs []string) ([][]float64, error) {
	var resp struct {
		Predictions json.RawMessage `json:"predictions"`
		Error       string          `json:"error"`
	}
	if err := json.Unmarshal(quoteSpecials(b), &resp); err != nil {
		return nil, fmt.Errorf("%w: predictions: %w", ErrMalformed, err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("%w: predictions: the server says %q", ErrMalformed, resp.Error)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(resp.Predictions, &items); err != nil || resp.Predictions == nil {
		return nil, fmt.Errorf("%w: predictions: want a list", ErrMalformed)
	}
	if len(items) != n {
		return nil, fmt.Errorf("%w: %d predictions for %d instances", ErrMalformed, len(items), n)
	}
	rows := make([][]float64, n)
	for i, item := range items {
		row, err := parseItem(item, outputs)
		if err != nil {
			return nil, fmt.Errorf("%w: prediction %d: %w", ErrMalformed, i, err)
		}
		rows[i] = row
	}
	return rows, nil
}

// parseItem reads one prediction: a list of numbers in the order of outputs, an object
// keyed by output name, or, for one output, a number.
func parseItem(item json.RawMessage, outputs []string) ([]float64, error) {
	item = bytes.TrimSpace(item)
	if len(item) == 0 {
		return nil, fmt.Errorf("empty")
	}
	switch item[0] {
	case '[':
		var vals []json.RawMessage
		if err := json.Unmarshal(item, &vals); err != nil {
			return nil, err
		}
		if len(vals) != len(outputs) {
			return nil, fmt.Errorf("%d values for %d outputs", len(vals), len(outputs))
		}
		row := make([]float64, len(vals))
		for j, v := range vals {
			f, err := parseNumber(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", outputs[j], err)
			}
			row[j] = f
		}
		return row, nil
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(item, &obj); err != nil {
			return nil, err
		}
		row := make([]float64, len(outputs))
		for j, name := range outputs {
			v, ok := obj[name]
			if !ok {
				return nil, fmt.Errorf("no %q", name)
			}
			f, err := parseNumber(unwrapOne(v))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			row[j] = f
		}
		return row, nil
	}
	if len(outputs) != 1 {
		return nil, fmt.Errorf("a single value for %d outputs", len(outputs))
	}
	f, err := parseNumber(item)
	if err != nil {
		return nil, err
	}
	return []float64{f}, nil
}

// unwrapOne turns a one-element list [x] (a named output of shape [1]) into x.
func unwrapOne(v json.RawMessage) json.RawMessage {
	var one []json.RawMessage
	if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' && json.Unmarshal(t, &one) == nil && len(one) == 1 {
		return one[0]
	}
	return v
}

// parseNumber reads a JSON number or one of the special values quoteSpecials quoted.
func parseNumber(v json.RawMessage) (float64, error) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, err
		}
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		return 0, fmt.Errorf("%q is not a number", trunc(s))
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		return 0, fmt.Errorf("%s is not a number", trunc(string(v)))
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil {
		// Out of float64's range: as infinite as TF-Serving's Infinity.
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, nil
		}
		return 0, err
	}
	return f, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// quoteSpecials puts quotes around the bare tokens NaN, Infinity and -Infinity that
// TF-Serving writes for non-finite numbers (outside strings), so that encoding/json
// reads the document; parseNumber turns them back into numbers.
func quoteSpecials(b []byte) []byte {
	var out []byte // nil until the first special is found
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		if c == '"' {
			inString = true
		} else if tok := special(b[i:]); tok != "" {
			if out == nil {
				out = append(make([]byte, 0, len(b)+16), b[:i]...)
			}
			out = append(out, '"')
			out = append(out, tok...)
			out = append(out, '"')
			i += len(tok) - 1
			continue
		}
		if out != nil {
			out = append(out, c)
		}
	}
	if out == nil {
		return b
	}
	return out
}

// special is the special token b starts with, if any.
func special(b []byte) string {
	for _, tok := range []string{"NaN", "Infinity", "-Infinity"} {
		if bytes.HasPrefix(b, []byte(tok)) {
			return tok
		}
	}
	return ""
}
