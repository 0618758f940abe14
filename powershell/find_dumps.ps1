# vmrepair.azure script: find_dumps v2
# Contract: powershell/find_dumps.md. Runs over WinRM; parameters: {"header_bytes": N}.
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
trap { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

$headerBytes = 12288
if ((Test-Path variable:VmrepairParams) -and $VmrepairParams -and ($VmrepairParams.PSObject.Properties.Name -contains 'header_bytes')) {
    $headerBytes = [int]$VmrepairParams.header_bytes
}

# An attached disk copy arrives offline (SAN policy OfflineShared). IsReadOnly is left as it is.
$offline = @(Get-Disk | Where-Object IsOffline)
if ($offline.Count -gt 0) {
    $offline | Set-Disk -IsOffline $false
    Update-HostStorageCache
}

function Get-DumpType([object]$Enabled, [object]$FilterPages) {
    switch ([int]$Enabled) {
        0 { 'none' }
        1 { if ($FilterPages -eq 1) { 'active' } else { 'complete' } }
        2 { 'kernel' }
        3 { 'small' }
        7 { 'automatic' }
        default { "unknown ($Enabled)" }
    }
}

# CrashControl of the offline installation, from the ControlSet that Select\Current names.
# REG_EXPAND_SZ values are read unexpanded: expanding them here would give the repair VM's %SystemRoot%.
function Read-CrashControl([string]$Letter, [string]$HivePath) {
    $mount = "VMREPAIR_$Letter"
    $output = & reg.exe load "HKLM\$mount" $HivePath 2>&1
    if ($LASTEXITCODE -ne 0) {
        return @{ error = ("reg.exe load of $HivePath failed: " + (($output | Out-String).Trim())) }
    }
    $noExpand = [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames
    $root = $null
    try {
        $root = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($mount)
        $select = $root.OpenSubKey('Select')
        if (-not $select) { return @{ error = "$HivePath has no Select key" } }
        $current = [int]$select.GetValue('Current', 0)
        $select.Close()
        $setName = 'ControlSet{0:D3}' -f $current
        $crash = $root.OpenSubKey("$setName\Control\CrashControl")
        if (-not $crash) { return @{ error = "$HivePath has no $setName\Control\CrashControl key (Select\Current = $current)" } }
        $enabled = $crash.GetValue('CrashDumpEnabled', $null)
        $filter = $crash.GetValue('FilterPages', $null)
        $result = [ordered]@{
            control_set         = $setName
            crash_dump_enabled  = $enabled
            dump_type           = (Get-DumpType $enabled $filter)
            dump_file           = $crash.GetValue('DumpFile', $null, $noExpand)
            minidump_dir        = $crash.GetValue('MinidumpDir', $null, $noExpand)
            dedicated_dump_file = $crash.GetValue('DedicatedDumpFile', $null, $noExpand)
            filter_pages        = $filter
        }
        $crash.Close()
        return @{ crash_control = $result }
    }
    finally {
        if ($root) { $root.Close() }
        # Open handles keep the hive loaded; let go of them before unloading.
        [GC]::Collect()
        [GC]::WaitForPendingFinalizers()
        $null = & reg.exe unload "HKLM\$mount" 2>&1
    }
}

# Where a path of the broken VM is on the repair VM: its C: is the attached volume.
function Resolve-BrokenPath([string]$Path, [string]$Letter) {
    $expanded = $Path -replace '(?i)%SystemRoot%', 'C:\Windows'
    if ($expanded -match '^[Cc]:\\(.*)$') { return @{ path = "${Letter}:\$($Matches[1])" } }
    if ($expanded -match '^([A-Za-z]):') {
        $drive = $Matches[1].ToUpperInvariant()
        $why = "it is on drive ${drive}: of the broken VM, not on its OS disk"
        if ($drive -eq 'D') { $why += ' (on Azure, D: is the temporary disk, which is not kept)' }
        return @{ why = $why }
    }
    return @{ why = "'$Path' is not a path this script can place on the OS disk" }
}

function Read-Header([string]$Path, [long]$Size) {
    if ($Size -le 0 -or $headerBytes -le 0) { return '' }
    $stream = [IO.File]::Open($Path, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::ReadWrite)
    try {
        $buffer = New-Object byte[] ([Math]::Min([long]$headerBytes, $Size))
        $read = $stream.Read($buffer, 0, $buffer.Length)
        return [Convert]::ToBase64String($buffer, 0, $read)
    }
    finally { $stream.Dispose() }
}

$dumps = New-Object System.Collections.Generic.List[object]
$notFound = New-Object System.Collections.Generic.List[object]
$seen = @{}
function Add-Candidate([string]$Path, [string]$Kind, [string]$Source, [string]$Letter) {
    $place = Resolve-BrokenPath $Path $Letter
    if (-not $place.ContainsKey('path')) {
        $notFound.Add([ordered]@{ path = $Path; kind = $Kind; source = $Source; why = $place.why })
        return
    }
    $full = $place.path
    # The configured DumpFile is usually the default MEMORY.DMP too: list each file once.
    if ($seen.ContainsKey($full.ToLowerInvariant())) { return }
    $seen[$full.ToLowerInvariant()] = $true
    $file = Get-Item -LiteralPath $full -Force -ErrorAction SilentlyContinue
    if (-not $file -or $file.PSIsContainer) {
        $notFound.Add([ordered]@{ path = $full; kind = $Kind; source = $Source; why = 'no such file' })
        return
    }
    $dumps.Add([ordered]@{
        path                = $file.FullName
        kind                = $Kind
        source              = $Source
        size                = $file.Length
        last_write_time_utc = $file.LastWriteTimeUtc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'",
            [System.Globalization.CultureInfo]::InvariantCulture)
        header_base64       = (Read-Header $file.FullName $file.Length)
    })
}

$systemLetter = $env:SystemDrive.Substring(0, 1)
$volumes = New-Object System.Collections.Generic.List[object]
$partitions = Get-Partition |
    Where-Object { "$($_.DriveLetter)" -match '^[A-Za-z]$' -and "$($_.DriveLetter)" -ne $systemLetter } |
    Sort-Object -Property DriveLetter
foreach ($partition in $partitions) {
    $letter = "$($partition.DriveLetter)".ToUpperInvariant()
    $windows = "${letter}:\Windows"
    $hive = "$windows\System32\config\SYSTEM"
    if (-not (Test-Path -LiteralPath $hive -PathType Leaf)) { continue }
    $read = Read-CrashControl $letter $hive
    $control = if ($read.ContainsKey('crash_control')) { $read.crash_control } else { $null }
    $volumes.Add([ordered]@{
        disk_number         = [int]$partition.DiskNumber
        drive_letter        = $letter
        windows_dir         = $windows
        crash_control       = $control
        crash_control_error = if ($read.ContainsKey('error')) { $read.error } else { $null }
    })

    $dumpFile = '%SystemRoot%\MEMORY.DMP'
    $minidumpDir = '%SystemRoot%\Minidump'
    if ($control) {
        if ($control.dump_file) { $dumpFile = $control.dump_file }
        if ($control.minidump_dir) { $minidumpDir = $control.minidump_dir }
        if ($control.dedicated_dump_file) { Add-Candidate $control.dedicated_dump_file 'dedicated' 'DedicatedDumpFile' $letter }
    }
    Add-Candidate $dumpFile 'memory' $(if ($control -and $control.dump_file) { 'DumpFile' } else { 'default' }) $letter
    Add-Candidate '%SystemRoot%\MEMORY.DMP' 'memory' 'default' $letter

    $minidumpPlace = Resolve-BrokenPath $minidumpDir $letter
    if ($minidumpPlace.ContainsKey('path')) {
        $minidumps = @(Get-ChildItem -LiteralPath $minidumpPlace.path -Filter '*.dmp' -File -Force -ErrorAction SilentlyContinue |
            Where-Object { $_.Extension -eq '.dmp' } | Sort-Object -Property Name)
        foreach ($minidump in $minidumps) { Add-Candidate "C:$($minidump.FullName.Substring(2))" 'minidump' 'MinidumpDir' $letter }
    }
    else {
        $notFound.Add([ordered]@{ path = $minidumpDir; kind = 'minidump'; source = 'MinidumpDir'; why = $minidumpPlace.why })
    }
}

$result = [ordered]@{ windows_volumes = $volumes; dumps = $dumps; not_found = $notFound }
[Console]::Out.Write((ConvertTo-Json -InputObject $result -Compress -Depth 5) + "`n")
