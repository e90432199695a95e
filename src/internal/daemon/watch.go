package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/wgstun/wgstun/src/internal/config"
)

// configPoll is how often the configuration file is looked at for changes.
const configPoll = 2 * time.Second

// WatchConfig reloads the configuration at path when hup delivers (SIGHUP)
// and when the file's contents change. A file with errors is rejected as a
// whole: every problem is logged with its line, and the running
// configuration stays. It returns when ctx ends.
func (d *Daemon) WatchConfig(ctx context.Context, path string, hup <-chan os.Signal) {
	last, _ := config.ReadFile(path) // what the running configuration came from
	var lastStat os.FileInfo
	if fi, err := os.Stat(path); err == nil {
		lastStat = fi
	}
	t := time.NewTicker(configPoll)
	defer t.Stop()
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-hup:
			forced = true
			d.log.Info("SIGHUP: reloading the configuration", "path", path)
		case <-t.C:
			fi, err := os.Stat(path)
			if err != nil || lastStat != nil && fi.ModTime().Equal(lastStat.ModTime()) && fi.Size() == lastStat.Size() && os.SameFile(fi, lastStat) {
				continue
			}
			lastStat = fi
		}
		data, err := config.ReadFile(path)
		if err != nil {
			d.log.Error("configuration reload failed; keeping the running configuration", "err", err)
			continue
		}
		if !forced && bytes.Equal(data, last) {
			continue
		}
		last = data
		if !forced {
			d.log.Info("configuration file changed; reloading", "path", path)
		}
		d.reloadFrom(path, data)
	}
}

func (d *Daemon) reloadFrom(path string, data []byte) {
	cfg, err := config.Parse(path, data)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			shown, more := ce.Shown()
			for _, p := range shown {
				d.log.Error("configuration rejected", "problem", p.String())
			}
			if more > 0 {
				d.log.Error("configuration rejected", "problem", fmt.Sprintf("... and %d more problems", more))
			}
		}
		d.log.Error("configuration has errors; keeping the running configuration", "path", path)
		return
	}
	if err := d.Reload(cfg); err != nil {
		d.log.Error("configuration could not be applied; keeping the running configuration", "err", err)
	}
}
