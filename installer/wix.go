package installer

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"text/template"

	"github.com/carrel-kiosk/carrel/agent/service"
)

// UpgradeCode identifies the Carrel agent product across versions. It never
// changes: MajorUpgrade finds the installed version by it.
const UpgradeCode = "18CD8BC5-EB40-4292-8E4C-67909DEA3BAC"

// Component GUIDs are fixed so that an upgrade keeps reference counts right.
const (
	componentAgentGUID   = "8D0D0E9B-13DB-405D-B098-58A80C4FEA26"
	componentPreseedGUID = "49DDCCE6-AD26-47AB-8BA2-E156F539C3CD"
	componentProductGUID = "7A2B3C4D-5E6F-4A8B-9C0D-1E2F3A4B5C6D"
	componentEventsGUID  = "3ECEE1D9-CAD0-41B4-9E1B-736350BF5C8E"
)

// EventSourceKey is where the MSI registers the agent's Windows Event Log
// source (Application log, source carrel-agent); uninstall removes it. Its
// messages are EventCreate.exe's (named by its full path: wixl writes no
// REG_EXPAND_SZ), which cover the agent's event IDs (1 to
// 1000, internal/oslog).
const EventSourceKey = `SYSTEM\CurrentControlSet\Services\EventLog\Application\` + service.Name

// MSI public properties: IT sets them on the msiexec command line.
const (
	PropHubURL         = service.KeyHubURL
	PropHubFingerprint = service.KeyHubFingerprint
	PropEnrollToken    = service.KeyEnrollToken
)

// SecureProperties are the public properties that must reach the server side
// of an install that a non-admin starts elevated (advertised or managed
// installs): BuildMSI adds them to the MSI's SecureCustomProperties row, since
// wixl ignores Property/@Secure.
var SecureProperties = []string{PropHubURL, PropHubFingerprint, PropEnrollToken}

// RecoveryCommand is what the MSI's SetRecovery custom action passes to sc.exe:
// restart after 5 s, 5 s and 30 s, failure count reset after a day. The agent
// sets the same actions itself at every start (agent/service).
const RecoveryCommand = "failure " + service.Name + " reset= 86400 actions= restart/5000/restart/5000/restart/30000"

// wixTemplate is WiX v3 source for wixl. Every value is escaped with xml. The
// preseed properties go into HKLM\SOFTWARE\Carrel; an upgrade run without them
// reads the stored values back first (RegistrySearch + set-property actions:
// wixl has no Component/Condition), so it does not blank a preseed the service
// has not used yet.
const wixTemplate = `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="Carrel Agent" Language="1033" Version="{{xml .Version}}" Manufacturer="{{xml .Vendor}}" UpgradeCode="{{.UpgradeCode}}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine" InstallPrivileges="elevated" Description="Carrel Agent {{xml .Version}}" Comments="{{xml .Homepage}}" Manufacturer="{{xml .Vendor}}"/>
    <MajorUpgrade DowngradeErrorMessage="A newer version of Carrel Agent is already installed." />
    <Media Id="1" Cabinet="carrel.cab" EmbedCab="yes"/>

    <Property Id="{{.PropHubURL}}"{{if .HubURL}} Value="{{xml .HubURL}}"{{end}} Secure="yes"/>
    <Property Id="{{.PropHubFingerprint}}"{{if .HubFingerprint}} Value="{{xml .HubFingerprint}}"{{end}} Secure="yes"/>
    <Property Id="{{.PropEnrollToken}}"{{if .EnrollToken}} Value="{{xml .EnrollToken}}"{{end}} Secure="yes" Hidden="yes"/>
    <!-- On an upgrade run without properties, keep the preseed already stored. -->
    <Property Id="CARREL_SAVED_HUB_URL"><RegistrySearch Id="SavedHubURL" Root="HKLM" Key="{{xml .RegistryKey}}" Name="{{.RegHubURL}}" Type="raw" Win64="yes"/></Property>
    <Property Id="CARREL_SAVED_HUB_FINGERPRINT"><RegistrySearch Id="SavedHubFingerprint" Root="HKLM" Key="{{xml .RegistryKey}}" Name="{{.RegHubFingerprint}}" Type="raw" Win64="yes"/></Property>
    <Property Id="CARREL_SAVED_ENROLL_TOKEN" Hidden="yes"><RegistrySearch Id="SavedEnrollToken" Root="HKLM" Key="{{xml .RegistryKey}}" Name="{{.RegEnrollToken}}" Type="raw" Win64="yes"/></Property>
    <!-- Keep the token out of verbose install logs (wixl ignores Property/@Hidden). -->
    <Property Id="MsiHiddenProperties" Value="{{.PropEnrollToken}};CARREL_SAVED_ENROLL_TOKEN"/>
    <Property Id="ARPNOMODIFY" Value="1"/>
    <Property Id="ARPURLINFOABOUT" Value="{{xml .Homepage}}"/>

    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="Carrel">
          <Component Id="Agent" Guid="{{.ComponentAgent}}" Win64="yes">
            <File Id="AgentExe" Name="carrel-agent.exe" Source="{{xml .AgentBinary}}" KeyPath="yes"/>
            <ServiceInstall Id="AgentService" Name="{{xml .ServiceName}}" DisplayName="{{xml .DisplayName}}" Description="{{xml .Description}}" Type="ownProcess" Start="auto" ErrorControl="normal" Account="LocalSystem" Vital="yes" Arguments="{{xml .ServiceArguments}}"/>
            <ServiceControl Id="AgentServiceControl" Name="{{xml .ServiceName}}" Start="install" Stop="both" Remove="uninstall" Wait="yes"/>
          </Component>
          <Component Id="ProductKey" Guid="{{.ComponentProduct}}" Win64="yes">
            <RegistryValue Root="HKLM" Key="{{xml .RegistryKey}}" Name="Version" Type="string" Value="{{xml .Version}}" KeyPath="yes"/>
            <RegistryValue Root="HKLM" Key="{{xml .RegistryKey}}" Name="InstallDir" Type="string" Value="[INSTALLDIR]"/>
          </Component>
          <Component Id="EventSource" Guid="{{.ComponentEvents}}" Win64="yes">
            <RegistryValue Root="HKLM" Key="{{xml .EventSourceKey}}" Name="EventMessageFile" Type="string" Value="[System64Folder]EventCreate.exe" KeyPath="yes"/>
            <RegistryValue Root="HKLM" Key="{{xml .EventSourceKey}}" Name="TypesSupported" Type="integer" Value="7"/>
            <RegistryValue Root="HKLM" Key="{{xml .EventSourceKey}}" Name="CustomSource" Type="integer" Value="1"/>
          </Component>
          <Component Id="Preseed" Guid="{{.ComponentPreseed}}" Win64="yes">
            <RegistryValue Root="HKLM" Key="{{xml .RegistryKey}}" Name="{{.RegHubURL}}" Type="string" Value="[{{.PropHubURL}}]"/>
            <RegistryValue Root="HKLM" Key="{{xml .RegistryKey}}" Name="{{.RegHubFingerprint}}" Type="string" Value="[{{.PropHubFingerprint}}]"/>
            <RegistryValue Root="HKLM" Key="{{xml .RegistryKey}}" Name="{{.RegEnrollToken}}" Type="string" Value="[{{.PropEnrollToken}}]"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>

    <CustomAction Id="KeepHubURL" Property="{{.PropHubURL}}" Value="[CARREL_SAVED_HUB_URL]"/>
    <CustomAction Id="KeepHubFingerprint" Property="{{.PropHubFingerprint}}" Value="[CARREL_SAVED_HUB_FINGERPRINT]"/>
    <CustomAction Id="KeepEnrollToken" Property="{{.PropEnrollToken}}" Value="[CARREL_SAVED_ENROLL_TOKEN]" HideTarget="yes"/>
    <CustomAction Id="SetScExe" Property="CARREL_SC_EXE" Value="[System64Folder]sc.exe"/>
    <CustomAction Id="SetRecovery" Property="CARREL_SC_EXE" ExeCommand="{{xml .RecoveryCommand}}" Execute="deferred" Impersonate="no" Return="ignore"/>
    <CustomAction Id="PurgeState" FileKey="AgentExe" ExeCommand="uninstall --purge --if-version [ProductVersion]" Execute="deferred" Impersonate="no" Return="ignore"/>
    <!-- Explicit sequence numbers: wixl places Before/After relative to actions
         unreliably. AppSearch 50, CostFinalize 1000, InstallValidate 1400,
         DeleteServices 2000, RemoveRegistryValues 2600, RemoveFiles 3500,
         InstallServices 5800, StartServices 5900. -->
    <InstallExecuteSequence>
      <!-- The old version is removed after the new one is installed (wixl
           ignores MajorUpgrade/@Schedule): the components are shared, so the
           service and the state stay, and the old package's PurgeState sees
           the new Version in the registry and leaves everything alone. -->
      <RemoveExistingProducts Sequence="6610"/>
      <Custom Action="KeepHubURL" Sequence="51">NOT {{.PropHubURL}} AND CARREL_SAVED_HUB_URL</Custom>
      <Custom Action="KeepHubFingerprint" Sequence="52">NOT {{.PropHubFingerprint}} AND CARREL_SAVED_HUB_FINGERPRINT</Custom>
      <Custom Action="KeepEnrollToken" Sequence="53">NOT {{.PropEnrollToken}} AND CARREL_SAVED_ENROLL_TOKEN</Custom>
      <Custom Action="SetScExe" Sequence="1010">NOT REMOVE</Custom>
      <Custom Action="SetRecovery" Sequence="5810">NOT REMOVE</Custom>
      <Custom Action="PurgeState" Sequence="2010">REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE</Custom>
    </InstallExecuteSequence>

    <Feature Id="Agent" Title="Carrel Agent" Level="1" Absent="disallow">
      <ComponentRef Id="Agent"/>
      <ComponentRef Id="ProductKey"/>
      <ComponentRef Id="Preseed"/>
      <ComponentRef Id="EventSource"/>
    </Feature>
  </Product>
</Wix>
`

var wixTmpl = template.Must(template.New("wix").Option("missingkey=error").Funcs(template.FuncMap{
	"xml": func(s string) (string, error) {
		var b strings.Builder
		if err := xml.EscapeText(&b, []byte(s)); err != nil {
			return "", err
		}
		return b.String(), nil
	},
}).Parse(wixTemplate))

// WindowsConfigArg is the --config argument the MSI gives the service.
const WindowsConfigArg = `[CommonAppDataFolder]` + service.WindowsDataDir + `\` + service.WindowsConfigName

// WiX renders the WiX v3 source of the MSI for o. agentBinary is the path wixl
// reads the executable from.
func WiX(o Options) ([]byte, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return renderWiX(o)
}

func renderWiX(o Options) ([]byte, error) {
	if o.Arch != "amd64" {
		return nil, fmt.Errorf("%w: MSI for %s: wixl builds x64 MSIs only", ErrNotImplemented, o.Arch)
	}
	data := map[string]any{
		"Version":            o.Version,
		"Vendor":             o.Vendor,
		"Homepage":           o.Homepage,
		"UpgradeCode":        UpgradeCode,
		"AgentBinary":        o.AgentBinary,
		"HubURL":             o.HubURL,
		"HubFingerprint":     o.HubFingerprint,
		"EnrollToken":        o.EnrollToken,
		"PropHubURL":         PropHubURL,
		"PropHubFingerprint": PropHubFingerprint,
		"PropEnrollToken":    PropEnrollToken,
		"ServiceName":        service.Name,
		"DisplayName":        service.DisplayName,
		"Description":        service.Description,
		"ServiceArguments":   `service --config "` + WindowsConfigArg + `"`,
		"RegistryKey":        service.RegistryKey,
		"RegHubURL":          service.RegHubURL,
		"RegHubFingerprint":  service.RegHubFingerprint,
		"RegEnrollToken":     service.RegEnrollToken,
		"RecoveryCommand":    RecoveryCommand,
		"ComponentAgent":     componentAgentGUID,
		"ComponentProduct":   componentProductGUID,
		"ComponentPreseed":   componentPreseedGUID,
		"ComponentEvents":    componentEventsGUID,
		"EventSourceKey":     EventSourceKey,
	}
	var b bytes.Buffer
	if err := wixTmpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render WiX: %w", err)
	}
	return b.Bytes(), nil
}
