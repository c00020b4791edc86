//go:build !linux && !windows && !darwin

package browserpolicy

func platformDownloadDirs() (chromium, firefox string) {
	return "${user_home}/Downloads", "${home}/Downloads"
}

func (m *Manager) platformTargets() ([]target, error) { return nil, ErrNotImplemented }

func newNotifier(*Manager) (notifier, error) { return nil, ErrNotImplemented }
