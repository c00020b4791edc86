package protocol

// AuditAction names a row of the hub's audit log: who did what to which terminal.
// The store writes them, the console and `carrel-hub audit` show them; they are
// listed here so both read the same words.
type AuditAction string

const (
	AuditEnroll        AuditAction = "enroll"          // a PC enrolled with a token
	AuditRenew         AuditAction = "renew"           // a terminal's certificate renewed
	AuditRevoke        AuditAction = "revoke"          // a terminal's certificate revoked
	AuditCommand       AuditAction = "command"         // a staff command authorised and sent
	AuditCommandResult AuditAction = "command.result"  // the agent's answer to it
	AuditTokenCreate   AuditAction = "token.create"    // an enrollment token made
	AuditStaffSetup    AuditAction = "staff.setup"     // the first admin made with the setup code
	AuditStaffCreate   AuditAction = "staff.create"    // a staff account made by an admin
	AuditStaffDisable  AuditAction = "staff.disable"   // a staff account disabled
	AuditStaffLogin    AuditAction = "staff.login"     // a login, or a refused one
	AuditStaffLogout   AuditAction = "staff.logout"    // a session ended
	AuditStaffConnect  AuditAction = "staff.connect"   // a refused staff websocket
	AuditStaffRequest  AuditAction = "staff.request"   // a refused staff request
	AuditSetBranch     AuditAction = "terminal.branch" // a terminal moved to a branch
	AuditStaffRole     AuditAction = "staff.role"      // the directory gave an account another role
	AuditPowerNoWake   AuditAction = "power.no-wake"   // a PC sent Wake-on-LAN was not online in time
	AuditErase         AuditAction = "terminal.erase"  // what the hub kept about a PC taken out of service deleted (carrel-hub erase)
)

// The patron session's (internal/patron). The target of a lockout is the card's
// pseudonym (Grant.Patron), never the card.
const (
	AuditPatronLockout AuditAction = "patron.lockout" // a card held after repeated wrong PINs
	AuditGuestCreate   AuditAction = "guest.create"   // a batch of guest passes made
	AuditSessionTime   AuditAction = "session.time"   // staff added or removed time of a session
	AuditRulesSet      AuditAction = "rules.set"      // a branch's time rules or hours changed
)

// Recovery from the hub's shell (`carrel-hub admin unlock`, `admin reset-totp`).
const (
	AuditStaffUnlock  AuditAction = "staff.unlock"     // a locked account opened
	AuditStaffNewTOTP AuditAction = "staff.totp-reset" // an account given a new TOTP secret
)

// Maintenance windows (maintenance.go): a window opened, ended (early by
// hand, or by the hub when its time was up), a branch's schedule changed.
const (
	AuditMaintenanceStart    AuditAction = "maintenance.start"
	AuditMaintenanceEnd      AuditAction = "maintenance.end"
	AuditMaintenanceSchedule AuditAction = "maintenance.schedule"
)

// AuditActions lists every audit action in a stable order.
var AuditActions = []AuditAction{AuditEnroll, AuditRenew, AuditRevoke, AuditCommand, AuditCommandResult,
	AuditTokenCreate, AuditStaffSetup, AuditStaffCreate, AuditStaffDisable, AuditStaffLogin,
	AuditStaffLogout, AuditStaffConnect, AuditStaffRequest, AuditStaffUnlock, AuditStaffNewTOTP, AuditSetBranch, AuditStaffRole, AuditPowerNoWake, AuditErase,
	AuditPatronLockout, AuditGuestCreate, AuditSessionTime, AuditRulesSet,
	AuditAPIKeyCreate, AuditAPIKeyRevoke, AuditAPIRefused, AuditWebhookCreate, AuditWebhookDelete,
	AuditMaintenanceStart, AuditMaintenanceEnd, AuditMaintenanceSchedule}

// Audit detail keys written by the store and read by the console.
const (
	AuditKeyResult = "result" // "ok", "refused: ...", or a command's output
	AuditKeyOK     = "ok"     // "true"/"false" on command.result
	AuditKeyRemote = "remote" // the client address of a staff request
	AuditKeyOp     = "op"     // the op of a refused staff request
	AuditKeyAction = "action" // the action of a refused command
	AuditKeyUser   = "user"   // the staff account a staff.create, .disable, .unlock or .totp-reset names
	AuditKeyRole   = "role"   // the role a staff.create asks for
	AuditKeyCount  = "count"  // how many refusals a summary row stands for

	AuditKeyID          = "id"           // a command's ID
	AuditKeyArgPrefix   = "arg."         // before each argument name of a command
	AuditKeyName        = "name"         // the host name a PC enrolled with
	AuditKeyOS          = "os"           // its OS
	AuditKeySerial      = "serial"       // the certificate serial issued
	AuditKeyFailures    = "failures"     // consecutive failed logins of an account
	AuditKeyLockedUntil = "locked_until" // when a locked account opens again (RFC 3339)
	AuditKeyUses        = "uses"         // an enrollment token's uses
	AuditKeyExpires     = "expires"      // its expiry (RFC 3339)
	AuditKeyExpired     = "expired"      // when a renewed certificate had expired (RFC 3339), on a renewal in grace
	AuditKeyBranch      = "branch"       // the branch a PC enrolled into or was moved to
	AuditKeyEvents      = "events"       // how many events an erase deleted
	AuditKeyCounts      = "counts"       // how many counter rows an erase made anonymous
	AuditKeyForced      = "forced"       // "true" when an erase was forced on a PC still enrolled
	AuditKeyMinutes     = "minutes"      // minutes added (negative: removed), or a guest batch's minutes ("day" for day passes)
	AuditKeyGrant       = "grant"        // a patron session's Grant.ID
	AuditKeyTerminal    = "terminal"     // the PC a patron lockout happened at
	AuditKeyBatch       = "batch"        // a guest pass batch's ID
)
