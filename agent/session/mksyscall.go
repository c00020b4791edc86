package session

// Win32 calls that golang.org/x/sys/windows (v0.49.0) lacks. Regenerate
// zsyscall_windows.go with `go generate ./agent/session` on any OS.

//go:generate go run golang.org/x/sys/windows/mkwinsyscall -output zsyscall_windows.go mksyscall.go

//sys wtsQuerySessionInformation(server windows.Handle, sessionID uint32, infoClass uint32, buffer **uint16, bytesReturned *uint32) (err error) = wtsapi32.WTSQuerySessionInformationW
//sys wtsLogoffSession(server windows.Handle, sessionID uint32, wait bool) (err error) = wtsapi32.WTSLogoffSession
//sys wtsDisconnectSession(server windows.Handle, sessionID uint32, wait bool) (err error) = wtsapi32.WTSDisconnectSession
//sys wtsSendMessage(server windows.Handle, sessionID uint32, title *uint16, titleLength uint32, message *uint16, messageLength uint32, style uint32, timeout uint32, response *uint32, wait bool) (err error) = wtsapi32.WTSSendMessageW
