package program_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/smartenergy"
	"github.com/smartx-team/overcloud/internal/pulumitest"
	"github.com/smartx-team/overcloud/stacks/program"
)

// What stacks/README.md's secrets table says of a secret in a hub mode.
const (
	required = "required" // the stack must set it, non-empty
	optional = "optional" // it may be unset; when set, it is used
	unused   = "unused"   // the mode does not use it
)

var (
	secretsHeader = regexp.MustCompile("(?m)^\\| secret \\|((?: `hubMode: [a-z]+` \\|)+) what \\|$")
	secretsMode   = regexp.MustCompile("`hubMode: ([a-z]+)`")
	secretsRow    = regexp.MustCompile("(?m)^\\| `([A-Za-z]+)` \\|((?: (?:required|optional|unused) \\|)+) [^|]+ \\|$")
	secretsStatus = regexp.MustCompile("required|optional|unused")
)

// readmeSecrets parses the secrets table of stacks/README.md: the hub modes of its
// columns, and secret -> mode -> status.
func readmeSecrets(t *testing.T) ([]string, map[string]map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	h := secretsHeader.FindStringSubmatch(string(b))
	if h == nil {
		t.Fatal("stacks/README.md has no secrets table (| secret | `hubMode: ...` | ... | what |)")
	}
	var modes []string
	for _, m := range secretsMode.FindAllStringSubmatch(h[1], -1) {
		modes = append(modes, m[1])
	}
	table := map[string]map[string]string{}
	for _, row := range secretsRow.FindAllStringSubmatch(string(b), -1) {
		statuses := secretsStatus.FindAllString(row[2], -1)
		if len(statuses) != len(modes) {
			t.Fatalf("README secrets row %s has %d modes, the header %d", row[1], len(statuses), len(modes))
		}
		if table[row[1]] != nil {
			t.Fatalf("README secrets table lists %s twice", row[1])
		}
		table[row[1]] = map[string]string{}
		for i, m := range modes {
			table[row[1]][m] = statuses[i]
		}
	}
	return modes, table
}

// readmeRequired is the sorted list of the secrets the README requires in mode.
func readmeRequired(table map[string]map[string]string, mode string) []string {
	var keys []string
	for k, byMode := range table {
		if byMode[mode] == required {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func sorted(keys []string) []string {
	keys = slices.Clone(keys)
	sort.Strings(keys)
	return keys
}

// The keys the engine requires (those Pulumi.yaml declares without a default or value:
// the engine refuses to run a stack that does not set one) are exactly the secrets the
// README requires in every hub mode; the README's required secrets of each mode are the
// ones the program checks; the table lists every secret key; and an optional secret's
// default is "" (a non-empty default would be a password shared by every stack).
func TestRequiredSecretsMatchReadme(t *testing.T) {
	proj, err := workspace.LoadProject(filepath.Join("..", "..", "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("load Pulumi.yaml: %v", err)
	}
	var engine, declaredSecrets []string
	for k, c := range proj.Config {
		if c.Default == nil && c.Value == nil {
			engine = append(engine, k)
		}
		if c.Secret {
			declaredSecrets = append(declaredSecrets, k)
			if c.Default != nil && c.Default != "" {
				t.Errorf("secret %s has the default %q, want none or \"\"", k, c.Default)
			}
		}
	}
	sort.Strings(engine)

	modes, table := readmeSecrets(t)
	if want := []string{smartenergy.HubStandalone, smartenergy.HubEdgeX}; !slices.Equal(modes, want) {
		t.Errorf("README secrets table has the modes %v, want %v", modes, want)
	}
	listed := sorted(slices.Collect(maps.Keys(table)))
	if !slices.Equal(listed, sorted(program.SecretKeys)) || !slices.Equal(listed, sorted(declaredSecrets)) {
		t.Errorf("README secrets table lists %v; the program reads %v, Pulumi.yaml declares %v secret",
			listed, sorted(program.SecretKeys), sorted(declaredSecrets))
	}
	var always []string
	for _, k := range listed {
		every := true
		for _, m := range modes {
			every = every && table[k][m] == required
		}
		if every {
			always = append(always, k)
		}
	}
	if !slices.Equal(engine, always) {
		t.Errorf("Pulumi.yaml declares %v without a default (the engine requires them), README requires %v in every mode", engine, always)
	}
	for _, m := range modes {
		if got, want := sorted(program.RequiredSecrets(m)), readmeRequired(table, m); !slices.Equal(got, want) {
			t.Errorf("hubMode %s: the program requires %v, README %v", m, got, want)
		}
	}
}

// declared is what a run of the program declared: its resources' keys and its
// Kubernetes manifests (secret values revealed), in a comparable form.
func declared(t *testing.T, cfg map[string]string, keys []string) (string, error) {
	t.Helper()
	m, err := pulumitest.Run(program.Project, "test", cfg, keys, program.Run)
	if err != nil {
		return "", err
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil {
		t.Fatalf("manifests: %v", err)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID() < ms[j].ID() })
	var rs []string
	for _, r := range m.Resources() {
		rs = append(rs, r.Key())
	}
	sort.Strings(rs)
	b, err := json.Marshal(struct {
		Resources []string
		Manifests []componenttest.Manifest
	}{rs, ms})
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

// An empty secret is an unset one, as the README's table says per mode: a required
// secret unset or empty is refused with an error naming its key; an optional one unset
// or empty declares exactly the same, and not what it declares when set; an unused one
// changes nothing.
func TestEmptySecretIsUnset(t *testing.T) {
	modes, table := readmeSecrets(t)
	for _, mode := range modes {
		for _, k := range sorted(slices.Collect(maps.Keys(table))) {
			t.Run(mode+"/"+k, func(t *testing.T) {
				setCfg, keys := Config(map[string]string{"hubMode": mode})
				set, setErr := declared(t, setCfg, keys)
				if setErr != nil {
					t.Fatalf("program with every secret set: %v", setErr)
				}
				unsetCfg, _ := Config(map[string]string{"hubMode": mode})
				delete(unsetCfg, "smartx:"+k)
				emptyCfg, _ := Config(map[string]string{"hubMode": mode, k: ""})
				unset, unsetErr := declared(t, unsetCfg, keys)
				empty, emptyErr := declared(t, emptyCfg, keys)
				switch status := table[k][mode]; status {
				case required:
					for what, err := range map[string]error{"unset": unsetErr, "empty": emptyErr} {
						if err == nil || !strings.Contains(err.Error(), "config smartx:"+k+" is required") {
							t.Errorf("%s: err = %v, want config smartx:%s is required", what, err, k)
						}
					}
				case optional, unused:
					if unsetErr != nil || emptyErr != nil {
						t.Fatalf("unset: %v; empty: %v", unsetErr, emptyErr)
					}
					if empty != unset {
						t.Error("an empty secret declares something else than an unset one")
					}
					if status == optional && set == unset {
						t.Error("setting the optional secret changed nothing: is it read at all?")
					}
					if status == unused && set != unset {
						t.Error("the README calls it unused, but setting it changes what is declared")
					}
					if strings.Contains(unset, secrets[k]) {
						t.Error("the secret's value is declared although it is unset")
					}
				default:
					t.Fatalf("README status %q", status)
				}
			})
		}
	}
}

// Every stack file is loadable, sets no secret in plain text, and for every secret its
// hub mode requires either sets it (encrypted) or says in its comments how to set it
// (`pulumi config set ... --secret`, naming the key): the repository's stack files
// hold no secret, their users set them.
func TestStackFilesNameRequiredSecrets(t *testing.T) {
	proj, err := workspace.LoadProject(filepath.Join("..", "..", "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("load Pulumi.yaml: %v", err)
	}
	_, table := readmeSecrets(t)
	files, err := filepath.Glob(filepath.Join("..", "Pulumi.*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found stack files %v, want local, aws-dev and aws-prod at least", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ps, err := workspace.LoadProjectStack(nil, proj, f)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var comments []string
			for _, line := range strings.Split(string(b), "\n") {
				if c, ok := strings.CutPrefix(strings.TrimSpace(line), "#"); ok {
					comments = append(comments, c)
				}
			}
			doc := strings.Join(comments, "\n")
			mode := program.Defaults["hubMode"]
			set := map[string]config.Value{}
			for k, v := range ps.Config {
				if k.Namespace() != program.Project {
					continue
				}
				set[k.Name()] = v
				if k.Name() == "hubMode" {
					if mode, err = v.Value(config.NopDecrypter); err != nil {
						t.Fatalf("smartx:hubMode: %v", err)
					}
				}
			}
			for k := range table {
				if v, ok := set[k]; ok && !v.Secure() {
					t.Errorf("sets secret %s in plain text", k)
				}
			}
			needed := readmeRequired(table, mode)
			if len(needed) == 0 {
				t.Fatalf("hubMode %q: the README requires no secret", mode)
			}
			for _, k := range needed {
				if _, ok := set[k]; ok {
					continue
				}
				documented := strings.Contains(doc, "pulumi config set") && strings.Contains(doc, "--secret") &&
					regexp.MustCompile(`\b`+k+`\b`).MatchString(doc)
				if !documented {
					t.Errorf("hubMode %s requires secret %s: the file neither sets it nor says to set it with `pulumi config set --secret`", mode, k)
				}
			}
		})
	}
}
