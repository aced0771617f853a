package service

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Flags is a flag set whose every flag may also be set by an environment variable,
// as a container would: the flag wins over the variable, the variable over the default.
// --help lists each flag with its variable and default.
type Flags struct {
	*flag.FlagSet
	envErrs []error
}

// NewFlags returns an empty set for the named program; usage describes it in --help.
func NewFlags(program, usage string) *Flags {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nUsage: %s [flags]\n\nEvery flag can also be set by the environment variable shown in brackets.\n\n", usage, program)
		fs.PrintDefaults()
	}
	return &Flags{FlagSet: fs}
}

func (f *Flags) env(env string) (string, bool) {
	if env == "" {
		return "", false
	}
	return os.LookupEnv(env)
}

func (f *Flags) doc(usage, env string) string {
	if env == "" {
		return usage
	}
	return usage + " [" + env + "]"
}

// String defines a string setting.
func (f *Flags) String(name, env, def, usage string) *string {
	if v, ok := f.env(env); ok {
		def = v
	}
	return f.FlagSet.String(name, def, f.doc(usage, env))
}

// Int defines an int setting.
func (f *Flags) Int(name, env string, def int, usage string) *int {
	if v, ok := f.env(env); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			f.envErrs = append(f.envErrs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	return f.FlagSet.Int(name, def, f.doc(usage, env))
}

// Duration defines a duration setting ("500ms", "5m").
func (f *Flags) Duration(name, env string, def time.Duration, usage string) *time.Duration {
	if v, ok := f.env(env); ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			f.envErrs = append(f.envErrs, fmt.Errorf("%s=%q: not a duration", env, v))
		} else {
			def = d
		}
	}
	return f.FlagSet.Duration(name, def, f.doc(usage, env))
}

// Bool defines a boolean setting.
func (f *Flags) Bool(name, env string, def bool, usage string) *bool {
	if v, ok := f.env(env); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			f.envErrs = append(f.envErrs, fmt.Errorf("%s=%q: not a boolean", env, v))
		} else {
			def = b
		}
	}
	return f.FlagSet.Bool(name, def, f.doc(usage, env))
}

// Parse parses args; a malformed environment variable is an error like a bad flag.
// It returns flag.ErrHelp for -h/--help, after printing the usage.
func (f *Flags) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		return err
	}
	if len(f.envErrs) > 0 {
		return f.envErrs[0]
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", f.Arg(0))
	}
	return nil
}

// ReadSecret returns a secret given either inline (value) or as a file path (file),
// as Kubernetes mounts Secrets; the file wins. Surrounding white space is trimmed.
func ReadSecret(value, file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(value), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Secret is a secret setting and its file variant, as Kubernetes mounts Secrets:
// --name [ENV] and --name-file [ENV_FILE]. Unlike the other settings, a value from
// the environment is never shown as the default in --help.
type Secret struct {
	env   string
	value string
	file  *string
}

// Secret defines a secret setting name [env] with default def (shown redacted by
// RedactURL in --help) and its file variant name-file [env_FILE], which wins.
func (f *Flags) Secret(name, env, def, usage string) *Secret {
	s := &Secret{env: env, value: def}
	if v, ok := f.env(env); ok {
		s.value = v
	}
	doc := f.doc(usage, env)
	if def != "" {
		doc += fmt.Sprintf(" (default %q)", RedactURL(def))
	}
	f.FlagSet.Func(name, doc, func(v string) error { s.value = v; return nil })
	s.file = f.String(name+"-file", env+"_FILE", "",
		"file holding the value of --"+name+" (a mounted Secret); wins over --"+name)
	return s
}

// Inline is the value given by flag, environment or default, without the file.
func (s *Secret) Inline() string { return s.value }

// File is the path given for the file variant ("" for none).
func (s *Secret) File() string { return *s.file }

// Value reads the secret: the file if one is given, else the inline value, trimmed. An
// error names the file setting and never holds the secret.
func (s *Secret) Value() (string, error) {
	v, err := ReadSecret(s.value, *s.file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", s.env, err)
	}
	return v, nil
}

// Where every function looks for Kafka and MongoDB unless told otherwise. They are
// constants here so that the functions' defaults cannot drift apart again (the hub's
// said 127.0.0.1, the controller's localhost).
const (
	DefaultKafkaBrokers = "127.0.0.1:9092"
	DefaultMongoURI     = "mongodb://127.0.0.1:27017"
)

// SplitList splits a comma-separated setting, dropping spaces and empty items.
func SplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// CheckBrokers checks a list of Kafka bootstrap brokers: at least one, each
// host:port with a host and a port from 1 to 65535.
func CheckBrokers(brokers []string) error {
	if len(brokers) == 0 {
		return errors.New("want at least one host:port")
	}
	for _, b := range brokers {
		if err := CheckHostPort(b, true); err != nil {
			return fmt.Errorf("%q: %w", b, err)
		}
	}
	return nil
}

// CheckHostPort checks a listen or dial address. With needHost, the host must be
// given and the port must not be 0 (which only a listener may ask for).
func CheckHostPort(s string, needHost bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port")
	}
	if needHost && host == "" {
		return errors.New("want host:port with a host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (needHost && n == 0) {
		return errors.New("port is not a number from 1 to 65535")
	}
	return nil
}

// topicName is Kafka's own rule for topic names.
var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// CheckTopic checks a Kafka topic name by Kafka's rule: 1 to 249 of [a-zA-Z0-9._-].
func CheckTopic(name string) error {
	if !topicName.MatchString(name) || name == "." || name == ".." {
		return errors.New("not a Kafka topic name ([a-zA-Z0-9._-], 1-249 characters)")
	}
	return nil
}

// ParseLogLevel reads debug, info, warn or error.
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
