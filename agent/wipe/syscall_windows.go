//go:build windows

package wipe

// Win32 calls that golang.org/x/sys/windows (v0.49.0) lacks. Regenerate
// zsyscall_windows.go from any OS with
//
//	cd agent/wipe && go run golang.org/x/sys/windows/mkwinsyscall -output zsyscall_windows.go syscall_windows.go
//
// (`go generate` sees this file only on Windows.)

//go:generate go run golang.org/x/sys/windows/mkwinsyscall -output zsyscall_windows.go syscall_windows.go

//sys netUserSetInfo(server *uint16, user *uint16, level uint32, buf *byte, parmErr *uint32) (neterr error) = netapi32.NetUserSetInfo
//sys netUserGetLocalGroups(server *uint16, user *uint16, level uint32, flags uint32, buf **byte, prefMaxLen uint32, entriesRead *uint32, totalEntries *uint32) (neterr error) = netapi32.NetUserGetLocalGroups
//sys netUserModalsGet(server *uint16, level uint32, buf **byte) (neterr error) = netapi32.NetUserModalsGet
//sys netUserAdd(server *uint16, level uint32, buf *byte, parmErr *uint32) (neterr error) = netapi32.NetUserAdd
//sys netUserDel(server *uint16, user *uint16) (neterr error) = netapi32.NetUserDel
//sys regFlushKey(key syscall.Handle) (regerrno error) = advapi32.RegFlushKey

// USER_INFO_1 (lmaccess.h): what NetUserGetInfo level 1 returns and NetUserAdd
// level 1 takes.
type userInfo1 struct {
	Name        *uint16
	Password    *uint16
	PasswordAge uint32
	Priv        uint32
	HomeDir     *uint16
	Comment     *uint16
	Flags       uint32
	ScriptPath  *uint16
}

// USER_MODALS_INFO_2 (lmaccess.h): the account domain of this computer.
type userModalsInfo2 struct {
	DomainName *uint16
	DomainID   *byte // PSID
}

const (
	ufAccountDisable   = 0x0002 // UF_ACCOUNTDISABLE
	ufScript           = 0x0001 // UF_SCRIPT: NetUserAdd requires it
	ufNormalAccount    = 0x0200 // UF_NORMAL_ACCOUNT
	userPrivUser       = 1      // USER_PRIV_USER
	lgIncludeIndirect  = 0x0001 // LG_INCLUDE_INDIRECT
	maxPreferredLength = 0xFFFFFFFF
	nerrUserNotFound   = 2221 // NERR_UserNotFound
)
