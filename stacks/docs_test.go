package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// mdLink finds the target of every Markdown link [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Every relative link in every Markdown file of the repository points at a file or
// folder that exists inside the repository: a user who clones it has nothing beside it.
// It checks relative links only: web URLs (anything with "://"), mailto: links and
// #anchors are skipped, and of a relative link with an anchor only the file is checked,
// not that the anchor exists in it.
func TestMarkdownLinks(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") && d.Name() != ".ci" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".md") {
			return nil
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			abs := filepath.Join(filepath.Dir(path), target)
			if r, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(r, "..") {
				t.Errorf("%s links to %s, outside the repository", rel, m[1])
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links to %s, which does not exist", rel, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("found %d Markdown files; the walk missed the READMEs", files)
	}
}

// folderRow is the first cell of a row of the root README's folder table.
var folderRow = regexp.MustCompile("(?m)^\\| `([^`]+)/?` \\|")

// The root README's folder table names every folder of the top level and every folder
// under functions/, and every folder it names exists.
func TestReadmeFolderTableMatchesTheTree(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, m := range folderRow.FindAllStringSubmatch(string(b), -1) {
		p := strings.TrimSuffix(m[1], "/")
		named[p] = true
		if st, err := os.Stat(filepath.Join("..", p)); err != nil || !st.IsDir() {
			t.Errorf("the folder table names %s, which is not a folder", p)
		}
	}
	covered := func(dir string) bool {
		for p := range named {
			if p == dir || strings.HasPrefix(p, dir+"/") {
				return true
			}
		}
		return false
	}
	for _, parent := range []string{".", "functions"} {
		entries, err := os.ReadDir(filepath.Join("..", parent))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := filepath.ToSlash(filepath.Join(parent, e.Name()))
			if !e.IsDir() || name == ".git" || name == "dist" || name == ".demo" {
				continue
			}
			if !covered(name) {
				t.Errorf("the root README's folder table does not name %s", name)
			}
		}
	}
}

// tableName is a package's name in the first cell of a package table's row; a row may
// name several ("`cmd/flash`, `cmd/benchfw`").
var tableName = regexp.MustCompile("`([^`]+)`")

// packageTable returns the package names of the README's package table, the table
// whose header's first cell is "package", and whether it has one.
func packageTable(readme string) ([]string, bool) {
	lines := strings.Split(readme, "\n")
	start := slices.IndexFunc(lines, func(l string) bool {
		cells := strings.Split(l, "|")
		return len(cells) > 2 && strings.TrimSpace(cells[0]) == "" && strings.TrimSpace(cells[1]) == "package"
	})
	if start < 0 {
		return nil, false
	}
	var names []string
	// The header's next line is the separator row (|---|---|).
	for _, l := range lines[min(start+2, len(lines)):] {
		if !strings.HasPrefix(l, "|") {
			break
		}
		first := strings.Split(l, "|")[1]
		for _, m := range tableName.FindAllStringSubmatch(first, -1) {
			names = append(names, m[1])
		}
	}
	return names, true
}

// tableMismatches compares the package names of the table in readme (a slash path
// from the root) with the package folders dirs (the same) under the README's folder,
// which itself is the tree's command and not in the table. It names each package the
// table lacks and each it names that does not exist.
func tableMismatches(readme string, named, dirs []string) []string {
	tree := path.Dir(readme)
	var listed []string
	for _, d := range dirs {
		if pkg, ok := strings.CutPrefix(d, tree+"/"); ok {
			listed = append(listed, pkg)
		}
	}
	var out []string
	for _, p := range listed {
		if !slices.Contains(named, p) {
			out = append(out, fmt.Sprintf("%s: the package table does not name %s/%s", readme, tree, p))
		}
	}
	for _, p := range named {
		if !slices.Contains(listed, p) {
			out = append(out, fmt.Sprintf("%s: the package table names %s, which go list does not find in %s", readme, p, tree))
		}
	}
	return out
}

// The table reader takes the first cell's names of the package table only, and the
// comparison names what is missing on either side.
func TestReadmePackageTablesReportMismatches(t *testing.T) {
	readme := strings.Join([]string{
		"# sender", "", "| flag | what |", "|---|---|", "| `--x` | not a package |", "",
		"| package | what it is |", "|---|---|", "| `wiring` | the `store` here is no name |",
		"| `cmd/a`, `cmd/b` | two commands |", "| `gone` | renamed |", "", "| `after` | another table |",
	}, "\n")
	named, ok := packageTable(readme)
	if want := []string{"wiring", "cmd/a", "cmd/b", "gone"}; !ok || !slices.Equal(named, want) {
		t.Fatalf("packageTable = %q, %v; want %q", named, ok, want)
	}
	if _, ok := packageTable("# no table\n\n| flag | what |\n|---|---|\n"); ok {
		t.Error("packageTable found a package table in a README without one")
	}
	dirs := []string{"functions/sender", "functions/sender/wiring", "functions/sender/cmd/a", "functions/sender/cmd/b",
		"functions/sender/internal/sendertest", "functions/senderx/wiring", "functions/hubbridge/relay"}
	got := tableMismatches("functions/sender/README.md", named, dirs)
	want := []string{
		"functions/sender/README.md: the package table does not name functions/sender/internal/sendertest",
		"functions/sender/README.md: the package table names gone, which go list does not find in functions/sender",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Every function's README (functions/<name>/README.md) and device/README.md that has a
// package table names in it exactly the packages go list finds in that tree, the
// tree's own command (its main.go) aside: a package added, renamed or removed shows
// here until its README says so. A function without a README yet, or a README without
// a package table, has nothing to check.
func TestReadmePackageTablesMatchTheTree(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// -find: the package folders are enough, nothing needs resolving.
	cmd := exec.Command("go", "list", "-e", "-find", "-f", "{{.Dir}}", "./functions/...", "./device/...")
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var dirs []string // relative to the root, slash separated
	for _, d := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, filepath.ToSlash(rel))
	}

	readmes, err := filepath.Glob(filepath.Join(root, "functions", "*", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readmes = append(readmes, filepath.Join(root, "device", "README.md"))
	tables := 0
	for _, readme := range readmes {
		b, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		named, ok := packageTable(string(b))
		if !ok {
			continue
		}
		tables++
		rel, _ := filepath.Rel(root, readme)
		for _, m := range tableMismatches(filepath.ToSlash(rel), named, dirs) {
			t.Error(m)
		}
	}
	// The check would hold vacuously if the tables were no longer recognised.
	if tables < 6 {
		t.Fatalf("found %d package tables; want the five functions' and the device's at least", tables)
	}
}
