package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/install"
)

func (a *app) installCommand() *cobra.Command {
	var o install.Options
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Write the systemd unit that runs the relay",
		Long: `Write the systemd unit kinesyslog.service, which runs this executable's "listen", its drop-in
kinesyslog.service.d/kinesyslog.conf, which lists every option's KINESYSLOG_* variable with its
default, unless it exists (it is never replaced), and create the spool directory the unit uses.
Run it as root, with this executable's full path:

  sudo "$(command -v kinesyslog)" install --user syslog

Then set the relay's options in the drop-in, or with "systemctl edit kinesyslog".`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			exe, err := a.executable()
			if err != nil {
				return failure{fmt.Errorf("install: find this executable: %w", err)}
			}
			o.Executable = exe
			in, err := install.Install(o)
			switch {
			case errors.Is(err, install.ErrUnknownUser):
				return err
			case errors.Is(err, fs.ErrPermission):
				return failure{fmt.Errorf("%w (run install as root)", err)}
			case err != nil:
				return failure{err}
			}
			dropIn := "Wrote " + in.DropIn
			if in.DropInKept {
				dropIn = "Kept " + in.DropIn + ", which exists"
			}
			if _, err := fmt.Fprintf(a.stdout, "Wrote %s\n%s\n\n%s", in.Unit, dropIn, install.NextSteps); err != nil {
				return failure{err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.User, "user", "",
		"run the service as `USER` (default root)")
	cmd.Flags().StringVar(&o.SystemDir, "system-dir", install.DefaultSystemDir,
		"systemd system unit `DIR` to write the unit to")
	cmd.Flags().StringVar(&o.SpoolDir, "spool-dir", config.SystemSpoolDir,
		"spool `DIR` of the service, created mode 0700 and owned by --user")
	return cmd
}
