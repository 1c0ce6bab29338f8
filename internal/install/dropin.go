package install

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/kinesyslog/kinesyslog/internal/config"
)

// DropInName is the file name of the drop-in Install writes into the unit's drop-in directory,
// UnitName + ".d".
const DropInName = "kinesyslog.conf"

// usageWidth is where the drop-in wraps an option's meaning onto the next comment line, so that
// with the "# " before it a line takes at most 100 columns.
const usageWidth = 98

var (
	//go:embed kinesyslog.conf.tmpl
	dropInText string
	dropInTmpl = template.Must(template.New(DropInName).Option("missingkey=error").Parse(dropInText))
)

// RenderDropIn returns the drop-in that lists vars, each commented out with its default and
// usage, for the administrator to uncomment and set. The spool directory's variable shows
// spoolDir, which the unit sets, and says what moving it takes.
func RenderDropIn(vars []config.Variable, spoolDir string) ([]byte, error) {
	type entry struct{ Usage, Assignment string }
	entries := make([]entry, 0, len(vars))
	for _, v := range vars {
		if strings.ContainsAny(v.Default, "\n\r") {
			return nil, fmt.Errorf("install: drop-in: %s: a line break in its default %q", v.Name, v.Default)
		}
		usage, value := v.Usage, v.Default
		if v.Name == config.EnvName("spool-dir") {
			usage, value = "spool DIR of records not yet delivered, set by "+UnitName+": moving it needs ReadWritePaths=DIR too", spoolDir
		}
		entries = append(entries, entry{Usage: wrap(usage, usageWidth), Assignment: assignment(v.Name, value)})
	}
	var b bytes.Buffer
	if err := dropInTmpl.Execute(&b, entries); err != nil {
		return nil, fmt.Errorf("install: render drop-in: %w", err)
	}
	return b.Bytes(), nil
}

// assignment writes NAME=value as an Environment= line takes it: quoted when the value has
// spaces or quotes (systemd splits assignments at spaces), and with systemd's specifier % as %%.
func assignment(name, value string) string {
	a := strings.ReplaceAll(name+"="+value, "%", "%%")
	if !strings.ContainsAny(a, " \t\"'\\") {
		return a
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
}

// wrap breaks text at spaces into lines of at most width bytes where it can, joined as the
// continued comment lines of the template ("\n# ").
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(text) {
		switch {
		case i == 0:
		case n+1+len(word) > width:
			b.WriteString("\n# ")
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}
