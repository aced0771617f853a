package service

import (
	"flag"
	"fmt"
	"os"
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
