package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the release, set when building a release with
// -ldflags "-X main.version=v1.2.3". Empty means the module version of the build information,
// which `go install github.com/kinesyslog/kinesyslog/cmd/kinesyslog@v1.2.3` records.
var version string

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of kinesyslog and of the Go that built it",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			bi, _ := debug.ReadBuildInfo()
			if _, err := fmt.Fprintln(a.stdout, versionLine(a.version, bi)); err != nil {
				return failure{err}
			}
			return nil
		},
	}
}

// versionLine describes the build: "kinesyslog v1.2.3 (go1.26.8 linux/amd64)", with the VCS
// revision after the version when the build recorded one. bi may be nil.
func versionLine(release string, bi *debug.BuildInfo) string {
	var rev, dirty string
	if bi != nil {
		if release == "" {
			release = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				rev = " " + s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "+dirty"
			}
		}
	}
	if release == "" {
		release = "(devel)"
	}
	if rev == "" {
		dirty = ""
	}
	return fmt.Sprintf("kinesyslog %s%s%s (%s %s/%s)", release, rev, dirty, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
