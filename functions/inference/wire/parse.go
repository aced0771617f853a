// Package wire is the JSON of TensorFlow Serving's REST API for the models of package
// model: it parses a predict request, in row ("instances") or columnar ("inputs")
// form, into a batch of windows, writes the predict response ("predictions" or
// "outputs"), and defines the model status, metadata and error bodies. The API is
// TF-Serving's (https://www.tensorflow.org/tfx/serving/api_rest), so that a real
// TF-Serving can stand in for ours and a client of TF-Serving can call ours.
//
// # The signature
//
// Every model has one signature, "serving_default" (method tensorflow/serving/predict),
// with one input tensor and one output tensor:
//
//	input  "window"      DT_DOUBLE [-1, Steps, len(Features)]  a batch of windows
//	output "prediction"  DT_DOUBLE [-1, len(Outputs)]          one row per window
//
// As TF-Serving does for a signature of one output, the response gives the output
// tensor without its name: {"predictions": [[t, h], ...]} or {"outputs": [[t, h], ...]}.
//
// # Requests
//
// These are the accepted forms, each with one or more windows (here the original
// system's 6 steps of 5 features):
//
//	{"instances": [window, ...]}              row form, plain
//	{"instances": [{"window": window}, ...]}  row form, named input
//	{"inputs": [window, ...]}                 columnar form (the original sender's)
//	{"inputs": {"window": [window, ...]}}     columnar form, named input
//
// where a window is a list of Steps steps, oldest first, each a list of the model's
// features in its order. "signature_name" may be given as "serving_default" (or "");
// other keys of the request object are ignored, as TF-Serving ignores them. As in
// TF-Serving, the tokens NaN, Infinity and -Infinity are read where a number is
// expected; our models refuse them (reason [NotFinite]), as they do numbers too large
// for a float64.
//
// Unlike TF-Serving, the columnar named form refuses an input name other than
// "window" (TF-Serving ignores it), so that a misspelt name is an error and not a
// missing input, and a request must not repeat a key.
//
// Parse never panics and never reads past its input; it is fuzzed against
// encoding/json (FuzzParse): what it accepts, encoding/json reads as the same numbers.
package wire

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/smartx-team/overcloud/functions/model"
)

// Names of the one signature and its tensors.
const (
	SignatureName = "serving_default"
	MethodName    = "tensorflow/serving/predict"
	InputName     = "window"
	OutputName    = "prediction"
)

// Format is the form of a predict request, which decides that of its response.
type Format int

// The two forms of a predict request.
const (
	// Row is {"instances": [...]}, answered {"predictions": [...]}.
	Row Format = iota + 1
	// Columnar is {"inputs": ...}, answered {"outputs": [...]}.
	Columnar
)

func (f Format) String() string {
	switch f {
	case Row:
		return "row"
	case Columnar:
		return "columnar"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// Shape is what a model takes: windows of Steps rows of one value per feature.
type Shape struct {
	Steps    int
	Features []string // the names, in row order; used in error messages
}

// ShapeOf is the shape of m's windows.
func ShapeOf(m *model.Model) Shape { return Shape{Steps: m.Steps, Features: m.Features} }

// Request is a parsed predict request.
type Request struct {
	Format    Format
	Signature string // as given; "" when not given
	// Windows are the instances in request order, each Steps rows of
	// len(Features) finite numbers. They share one backing array.
	Windows [][][]float64
}

// Reason says why a request is refused, in a word fit for a metric label.
type Reason string

// Reasons of a refused request.
const (
	// NotJSON: the body is not JSON (a syntax error, or empty). Only a body that is
	// not valid JSON gets this reason.
	NotJSON Reason = "not_json"
	// BadRequest: JSON, but not a predict request: not an object, both "instances"
	// and "inputs", a repeated key, "signature_name" not a string, nested too deep.
	BadRequest Reason = "bad_request"
	// MissingInput: neither "instances" nor "inputs", no window in them, or a
	// named instance without "window".
	MissingInput Reason = "missing_input"
	// BadShape: a window that is not Steps lists of len(Features) numbers, an
	// unknown input name, or a mix of plain and named instances.
	BadShape Reason = "bad_shape"
	// NotFinite: NaN, Infinity, or a number beyond the range of a float64.
	NotFinite Reason = "not_finite"
	// UnknownSignature: a signature_name other than "serving_default".
	UnknownSignature Reason = "unknown_signature"
)

// Error is a refused request: a Reason and a message for the client.
type Error struct {
	Reason Reason
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// maxDepth bounds the nesting of values Parse skips (unknown keys), so that no input
// can exhaust the stack. A window is nested three or four deep.
const maxDepth = 64

// Parse reads a predict request for a model of shape s. Every error is an *Error.
func Parse(body []byte, s Shape) (*Request, error) {
	p := parser{b: body, shape: s, rowLen: len(s.Features), winLen: s.Steps * len(s.Features)}
	req, err := p.request()
	if err != nil {
		return nil, err
	}
	return req, nil
}

type parser struct {
	b      []byte
	i      int
	shape  Shape
	rowLen int // values in one step
	winLen int // values in one window
	flat   []float64
	n      int // windows read
}

func (p *parser) fail(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// syntax is the error for a body that is not JSON, at the current offset.
func (p *parser) syntax(what string) *Error {
	if p.i >= len(p.b) {
		return p.fail(NotJSON, "JSON parse error: %s, at the end of the body (offset %d)", what, p.i)
	}
	return p.fail(NotJSON, "JSON parse error: %s, at offset %d (%q)", what, p.i, p.b[p.i])
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek is the next byte, 0 at the end.
func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *parser) request() (*Request, error) {
	p.ws()
	if p.i == len(p.b) {
		return nil, p.fail(NotJSON, "JSON parse error: the body is empty")
	}
	if p.peek() != '{' {
		if err := p.skipValue(0); err != nil {
			return nil, err
		}
		if err := p.end(); err != nil {
			return nil, err
		}
		return nil, p.fail(BadRequest, "the body is not a JSON object: want {\"instances\": [...]} or {\"inputs\": ...}")
	}
	p.i++
	req := &Request{}
	var sawSig, sawKey bool
	p.ws()
	if p.peek() == '}' {
		p.i++
	} else {
		for {
			p.ws()
			key, err := p.key()
			if err != nil {
				return nil, err
			}
			p.ws()
			if p.peek() != ':' {
				return nil, p.syntax("want ':' after an object key")
			}
			p.i++
			p.ws()
			switch key {
			case "signature_name":
				if sawSig {
					return nil, p.fail(BadRequest, "\"signature_name\" is given twice")
				}
				sawSig = true
				if p.peek() != '"' {
					return nil, p.fail(BadRequest, "\"signature_name\" must be a string")
				}
				if req.Signature, err = p.str(); err != nil {
					return nil, err
				}
			case "instances", "inputs":
				if sawKey {
					return nil, p.fail(BadRequest, "give either \"instances\" (row form) or \"inputs\" (columnar form), once")
				}
				sawKey = true
				if key == "instances" {
					req.Format = Row
					err = p.instances()
				} else {
					req.Format = Columnar
					err = p.inputs()
				}
				if err != nil {
					return nil, err
				}
			default:
				if err := p.skipValue(0); err != nil {
					return nil, err
				}
			}
			p.ws()
			switch p.peek() {
			case ',':
				p.i++
				continue
			case '}':
				p.i++
			default:
				return nil, p.syntax("want ',' or '}' in the request object")
			}
			break
		}
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	if !sawKey {
		return nil, p.fail(MissingInput, "missing \"instances\" or \"inputs\" key")
	}
	if req.Signature != "" && req.Signature != SignatureName {
		return nil, p.fail(UnknownSignature, "serving signature name %q not found: the model has only %q", req.Signature, SignatureName)
	}
	req.Windows = p.windows()
	return req, nil
}

// end checks that only white space follows.
func (p *parser) end() error {
	p.ws()
	if p.i != len(p.b) {
		return p.syntax("data after the JSON value")
	}
	return nil
}

// windows slices the values read into windows of rows.
func (p *parser) windows() [][][]float64 {
	rows := make([][]float64, p.n*p.shape.Steps)
	for r := range rows {
		rows[r] = p.flat[r*p.rowLen : (r+1)*p.rowLen : (r+1)*p.rowLen]
	}
	ws := make([][][]float64, p.n)
	for w := range ws {
		ws[w] = rows[w*p.shape.Steps : (w+1)*p.shape.Steps : (w+1)*p.shape.Steps]
	}
	return ws
}

// instances reads the value of "instances": a non-empty list of windows, or of
// objects {"window": window}.
func (p *parser) instances() error {
	if p.peek() != '[' {
		return p.fail(BadRequest, "\"instances\" must be a list of windows")
	}
	p.i++
	p.ws()
	if p.peek() == ']' {
		p.i++
		return p.fail(MissingInput, "\"instances\" holds no window")
	}
	named := p.peek() == '{'
	for k := 0; ; k++ {
		p.ws()
		switch {
		case named && p.peek() != '{':
			return p.fail(BadShape, "instance %d is not an object like instance 0: give every instance as a window, or every one as {%q: window}", k, InputName)
		case !named && p.peek() == '{':
			return p.fail(BadShape, "instance %d is an object, instance 0 is not: give every instance as a window, or every one as {%q: window}", k, InputName)
		case named:
			if err := p.namedWindow(k); err != nil {
				return err
			}
		default:
			if err := p.window(k); err != nil {
				return err
			}
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return p.syntax("want ',' or ']' in \"instances\"")
		}
	}
}

// namedWindow reads {"window": window}.
func (p *parser) namedWindow(k int) error {
	p.i++ // '{'
	p.ws()
	seen := false
	if p.peek() == '}' {
		p.i++
		return p.fail(MissingInput, "instance %d has no %q", k, InputName)
	}
	for {
		p.ws()
		key, err := p.key()
		if err != nil {
			return err
		}
		p.ws()
		if p.peek() != ':' {
			return p.syntax("want ':' after an object key")
		}
		p.i++
		p.ws()
		switch {
		case key != InputName:
			return p.fail(BadShape, "instance %d: unknown input %q: the model's one input is %q", k, key, InputName)
		case seen:
			return p.fail(BadRequest, "instance %d gives %q twice", k, InputName)
		}
		seen = true
		if err := p.window(k); err != nil {
			return err
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.syntax("want ',' or '}' in an instance")
		}
	}
}

// inputs reads the value of "inputs": a list of windows, or {"window": [window, ...]}.
func (p *parser) inputs() error {
	switch p.peek() {
	case '[':
		return p.batch()
	case '{':
	default:
		return p.fail(BadRequest, "\"inputs\" must be a list of windows or {%q: [window, ...]}", InputName)
	}
	p.i++
	p.ws()
	seen := false
	if p.peek() == '}' {
		p.i++
		return p.fail(MissingInput, "missing named input %q in \"inputs\"", InputName)
	}
	for {
		p.ws()
		key, err := p.key()
		if err != nil {
			return err
		}
		p.ws()
		if p.peek() != ':' {
			return p.syntax("want ':' after an object key")
		}
		p.i++
		p.ws()
		switch {
		case key != InputName:
			return p.fail(BadShape, "\"inputs\": unknown input %q: the model's one input is %q", key, InputName)
		case seen:
			return p.fail(BadRequest, "\"inputs\" gives %q twice", InputName)
		}
		seen = true
		if p.peek() != '[' {
			return p.fail(BadShape, "\"inputs\": %q must be a list of windows", InputName)
		}
		if err := p.batch(); err != nil {
			return err
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.syntax("want ',' or '}' in \"inputs\"")
		}
	}
}

// batch reads a non-empty list of windows, at '['.
func (p *parser) batch() error {
	p.i++
	p.ws()
	if p.peek() == ']' {
		p.i++
		return p.fail(MissingInput, "\"inputs\" holds no window")
	}
	for k := 0; ; k++ {
		p.ws()
		if err := p.window(k); err != nil {
			return err
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return p.syntax("want ',' or ']' in the list of windows")
		}
	}
}

// window reads instance k: Steps lists of len(Features) numbers.
func (p *parser) window(k int) error {
	want := func() string {
		return fmt.Sprintf("%d steps, each a list of %d numbers (%s)", p.shape.Steps, p.rowLen, strings.Join(p.shape.Features, ", "))
	}
	if p.peek() != '[' {
		return p.fail(BadShape, "instance %d is not a window: want a list of %s", k, want())
	}
	p.i++
	start := len(p.flat)
	if cap(p.flat)-start < p.winLen {
		// Grow for this window and, by doubling, for those to come.
		grown := make([]float64, start, 2*cap(p.flat)+p.winLen)
		copy(grown, p.flat)
		p.flat = grown
	}
	for s := 0; ; s++ {
		p.ws()
		if s == 0 && p.peek() == ']' {
			p.i++
			return p.fail(BadShape, "instance %d has 0 steps, want %s", k, want())
		}
		if s == p.shape.Steps {
			return p.fail(BadShape, "instance %d has more than %d steps, want %s", k, p.shape.Steps, want())
		}
		if err := p.step(k, s, want); err != nil {
			return err
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
			continue
		case ']':
			p.i++
		default:
			return p.syntax("want ',' or ']' in a window")
		}
		if s+1 != p.shape.Steps {
			return p.fail(BadShape, "instance %d has %d steps, want %s", k, s+1, want())
		}
		p.n++
		return nil
	}
}

// step reads step s of instance k: a list of len(Features) numbers.
func (p *parser) step(k, s int, want func() string) error {
	if p.peek() != '[' {
		return p.fail(BadShape, "instance %d, step %d is not a list of numbers: want %s", k, s, want())
	}
	p.i++
	for f := 0; ; f++ {
		p.ws()
		if f == 0 && p.peek() == ']' {
			p.i++
			return p.fail(BadShape, "instance %d, step %d has 0 values, want %d (%s)", k, s, p.rowLen, strings.Join(p.shape.Features, ", "))
		}
		if f == p.rowLen {
			return p.fail(BadShape, "instance %d, step %d has more than %d values, want %d (%s)", k, s, p.rowLen, p.rowLen, strings.Join(p.shape.Features, ", "))
		}
		v, err := p.number(k, s, f)
		if err != nil {
			return err
		}
		p.flat = append(p.flat, v)
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
			continue
		case ']':
			p.i++
		default:
			return p.syntax("want ',' or ']' in a step")
		}
		if f+1 != p.rowLen {
			return p.fail(BadShape, "instance %d, step %d has %d values, want %d (%s)", k, s, f+1, p.rowLen, strings.Join(p.shape.Features, ", "))
		}
		return nil
	}
}

// feature names value f of a step.
func (p *parser) feature(f int) string {
	if f < len(p.shape.Features) {
		return p.shape.Features[f]
	}
	return "value " + strconv.Itoa(f)
}

// number reads value f of step s of instance k.
func (p *parser) number(k, s, f int) (float64, error) {
	start := p.i
	switch c := p.peek(); {
	case c == '-' || (c >= '0' && c <= '9'):
		if c == '-' && p.i+1 < len(p.b) && p.b[p.i+1] == 'I' {
			p.i++
			if err := p.literal("Infinity"); err != nil {
				return 0, err
			}
			return 0, p.fail(NotFinite, "instance %d, step %d: %s is -Infinity, want a finite number", k, s, p.feature(f))
		}
		v, ok, err := p.scanNumber()
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, p.fail(NotFinite, "instance %d, step %d: %s is %s, beyond the range of a float64", k, s, p.feature(f), p.b[start:p.i])
		}
		return v, nil
	case c == 'N' || c == 'I':
		word := "NaN"
		if c == 'I' {
			word = "Infinity"
		}
		if err := p.literal(word); err != nil {
			return 0, err
		}
		return 0, p.fail(NotFinite, "instance %d, step %d: %s is %s, want a finite number", k, s, p.feature(f), word)
	case c == '"' || c == '{' || c == '[' || c == 't' || c == 'f' || c == 'n':
		kinds := map[byte]string{'"': "a string", '{': "an object", '[': "a list", 't': "true", 'f': "false", 'n': "null"}
		return 0, p.fail(BadShape, "instance %d, step %d: %s is %s, want a number", k, s, p.feature(f), kinds[c])
	default:
		return 0, p.syntax("want a value")
	}
}

// literal reads the word w at the current offset.
func (p *parser) literal(w string) error {
	if len(p.b)-p.i < len(w) || string(p.b[p.i:p.i+len(w)]) != w {
		return p.syntax("not a JSON value")
	}
	p.i += len(w)
	return nil
}

// pow10 holds the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// scanNumber reads a JSON number at the current offset. ok is false for a number
// beyond the range of a float64 (which strconv rounds to an infinity).
//
// Most readings have few digits: when the digits make an integer below 2^53 and the
// decimal exponent is within ±22, both are exact float64s and one multiplication or
// division rounds correctly (Clinger's fast path), so no string is made. Anything
// else goes to strconv.ParseFloat.
func (p *parser) scanNumber() (v float64, ok bool, err error) {
	start := p.i
	neg := false
	if p.peek() == '-' {
		neg = true
		p.i++
	}
	var mant uint64
	digits, exp := 0, 0 // significant digits in mant; decimal exponent to apply
	exact := true
	addDigit := func(d byte) {
		if mant == 0 && d == '0' {
			return // leading zeros add nothing
		}
		if digits < 19 {
			mant = mant*10 + uint64(d-'0')
			digits++
		} else {
			exact = false
		}
	}
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			if digits >= 19 {
				exp++ // a dropped integer digit
			}
			addDigit(p.b[p.i])
			p.i++
		}
	default:
		return 0, false, p.syntax("want a digit")
	}
	if p.peek() == '.' {
		p.i++
		if c := p.peek(); c < '0' || c > '9' {
			return 0, false, p.syntax("want a digit after the decimal point")
		}
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			if digits < 19 {
				if !(mant == 0 && p.b[p.i] == '0') {
					mant = mant*10 + uint64(p.b[p.i]-'0')
					digits++
				}
				exp--
			} else if p.b[p.i] != '0' {
				exact = false
			}
			p.i++
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		esign := 1
		if c := p.peek(); c == '+' || c == '-' {
			if c == '-' {
				esign = -1
			}
			p.i++
		}
		if c := p.peek(); c < '0' || c > '9' {
			return 0, false, p.syntax("want a digit in the exponent")
		}
		e := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			if e < 100000 {
				e = e*10 + int(p.b[p.i]-'0')
			}
			p.i++
		}
		exp += esign * e
	}
	if exact && mant < 1<<53 && exp >= -22 && exp <= 22 {
		v = float64(mant)
		if exp >= 0 {
			v *= pow10[exp]
		} else {
			v /= pow10[-exp]
		}
		if neg {
			v = -v
		}
		return v, true, nil
	}
	v, err = strconv.ParseFloat(string(p.b[start:p.i]), 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, false, nil // only a range error is possible after the scan above
	}
	return v, true, nil
}

// key reads an object key, at '"'.
func (p *parser) key() (string, error) {
	if p.peek() != '"' {
		return "", p.syntax("want a string as object key")
	}
	return p.str()
}

// str reads a JSON string at '"' and returns it decoded. Like encoding/json it does
// not insist on valid UTF-8.
func (p *parser) str() (string, error) {
	p.i++
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", p.syntax("control character in a string")
		default:
			p.i++
		}
	}
	return "", p.syntax("unterminated string")
}

// escaped finishes a string that holds an escape, from start (after the quote).
func (p *parser) escaped(start int) (string, error) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), nil
		case c < 0x20:
			return "", p.syntax("control character in a string")
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		p.i++ // the backslash
		if p.i >= len(p.b) {
			return "", p.syntax("unterminated string")
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.syntax("bad \\u escape")
			}
			if r >= 0xD800 && r < 0xDC00 { // a high surrogate: a low one may follow
				save := p.i
				if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					p.i += 2
					if r2, ok := p.hex4(); ok && r2 >= 0xDC00 && r2 < 0xE000 {
						out = utf8.AppendRune(out, 0x10000+(r-0xD800)<<10+(r2-0xDC00))
						continue
					}
				}
				p.i = save
				r = 0xFFFD
			} else if r >= 0xDC00 && r < 0xE000 {
				r = 0xFFFD
			}
			out = utf8.AppendRune(out, r)
		default:
			p.i--
			return "", p.syntax("bad escape in a string")
		}
	}
	return "", p.syntax("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// skipValue reads any JSON value, for a key Parse does not use.
func (p *parser) skipValue(depth int) error {
	if depth >= maxDepth {
		return p.fail(BadRequest, "the request is nested more than %d deep", maxDepth)
	}
	switch c := p.peek(); {
	case c == '{':
		p.i++
		p.ws()
		if p.peek() == '}' {
			p.i++
			return nil
		}
		for {
			p.ws()
			if _, err := p.key(); err != nil {
				return err
			}
			p.ws()
			if p.peek() != ':' {
				return p.syntax("want ':' after an object key")
			}
			p.i++
			p.ws()
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			p.ws()
			switch p.peek() {
			case ',':
				p.i++
			case '}':
				p.i++
				return nil
			default:
				return p.syntax("want ',' or '}' in an object")
			}
		}
	case c == '[':
		p.i++
		p.ws()
		if p.peek() == ']' {
			p.i++
			return nil
		}
		for {
			p.ws()
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			p.ws()
			switch p.peek() {
			case ',':
				p.i++
			case ']':
				p.i++
				return nil
			default:
				return p.syntax("want ',' or ']' in a list")
			}
		}
	case c == '"':
		_, err := p.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, _, err := p.scanNumber()
		return err
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	default:
		return p.syntax("want a value")
	}
}
