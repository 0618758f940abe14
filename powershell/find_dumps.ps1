# vmrepair.azure script: find_dumps v1
# Contract: powershell/find_dumps.md. Runs over WinRM; parameters: {}.
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
trap { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

# An attached disk copy arrives offline (SAN policy OfflineShared). IsReadOnly is left as it is.
$offline = @(Get-Disk | Where-Object IsOffline)
if ($offline.Count -gt 0) {
    $offline | Set-Disk -IsOffline $false
    Update-HostStorageCache
}

function ConvertTo-DumpEntry($File, [string]$Kind) {
    [ordered]@{
        path                = $File.FullName
        kind                = $Kind
        size                = $File.Length
        last_write_time_utc = $File.LastWriteTimeUtc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'",
            [System.Globalization.CultureInfo]::InvariantCulture)
    }
}

$systemLetter = $env:SystemDrive.Substring(0, 1)
$volumes = New-Object System.Collections.Generic.List[object]
$dumps = New-Object System.Collections.Generic.List[object]
$partitions = Get-Partition |
    Where-Object { "$($_.DriveLetter)" -match '^[A-Za-z]$' -and "$($_.DriveLetter)" -ne $systemLetter } |
    Sort-Object -Property DriveLetter
foreach ($partition in $partitions) {
    $letter = "$($partition.DriveLetter)".ToUpperInvariant()
    $windows = "${letter}:\Windows"
    if (-not (Test-Path -LiteralPath "$windows\System32\config\SYSTEM" -PathType Leaf)) { continue }
    $volumes.Add([ordered]@{ disk_number = [int]$partition.DiskNumber; drive_letter = $letter; windows_dir = $windows })
    $memory = Get-Item -LiteralPath "$windows\MEMORY.DMP" -Force -ErrorAction SilentlyContinue
    if ($memory -and -not $memory.PSIsContainer) { $dumps.Add((ConvertTo-DumpEntry $memory 'memory')) }
    $minidumps = @(Get-ChildItem -LiteralPath "$windows\Minidump" -Filter '*.dmp' -File -Force -ErrorAction SilentlyContinue |
        Where-Object { $_.Extension -eq '.dmp' } | Sort-Object -Property Name)
    foreach ($minidump in $minidumps) { $dumps.Add((ConvertTo-DumpEntry $minidump 'minidump')) }
}

$result = [ordered]@{ windows_volumes = $volumes; dumps = $dumps }
[Console]::Out.Write((ConvertTo-Json -InputObject $result -Compress -Depth 4) + "`n")
