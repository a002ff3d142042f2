package sophsapp_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/sophsapp/sophsapp/internal/config"
)

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEverySettingIsDocumented: each variable of config.Config has a
// description (for `sophsapp help serve`), a line in .env.example (which
// install.sh copies), and a row with its default in README's configuration
// table. A field added to Config without them fails here.
func TestEverySettingIsDocumented(t *testing.T) {
	example := readFile(t, ".env.example")
	readme := readFile(t, "README.md")
	for _, v := range config.Vars() {
		if v.Description == "" {
			t.Errorf("%s: the Config field has no description tag", v.Name)
		}
		if !regexp.MustCompile(`(?m)^` + v.Name + `=`).MatchString(example) {
			t.Errorf("%s: no %s= line in .env.example", v.Name, v.Name)
		}
		row := regexp.MustCompile("(?m)^\\| `" + v.Name + "` \\|([^|]*)\\|").FindStringSubmatch(readme)
		switch {
		case row == nil:
			t.Errorf("%s: no row in README's configuration table", v.Name)
		case v.Default != "" && !strings.Contains(row[1], "`"+v.Default+"`"):
			t.Errorf("%s: README gives the default as %q, Config as %q", v.Name, strings.TrimSpace(row[1]), v.Default)
		}
	}
}

// TestEveryMakeTargetIsDocumented: each Makefile target has a "## target:"
// line (what `make help` prints) and appears in README's table of targets.
func TestEveryMakeTargetIsDocumented(t *testing.T) {
	makefile := readFile(t, "Makefile")
	readme := readFile(t, "README.md")
	targets := regexp.MustCompile(`(?m)^([a-z][a-z-]*):([^=]|$)`).FindAllStringSubmatch(makefile, -1)
	if len(targets) < 5 {
		t.Fatalf("found only %d targets in the Makefile", len(targets))
	}
	for _, m := range targets {
		name := m[1]
		if !strings.Contains(makefile, "\n## "+name+": ") {
			t.Errorf("make %s has no \"## %s: ...\" line for make help", name, name)
		}
		if !regexp.MustCompile("(?m)^\\|.*`make " + name + "`.*\\|").MatchString(readme) {
			t.Errorf("make %s is not in README's table of targets", name)
		}
	}
}
