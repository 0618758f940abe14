# vmrepair.azure script: hash_file v1
# Contract: powershell/hash_file.md. Runs over WinRM; parameters: {"path": "F:\\Windows\\MEMORY.DMP"}.
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
trap { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

if ($VmrepairParams.path -isnot [string] -or -not $VmrepairParams.path) { throw 'path must be a non-empty string.' }
$path = $VmrepairParams.path.Replace('/', '\')
$item = Get-Item -LiteralPath $path -Force
if ($item.PSIsContainer) { throw "'$path' is a directory, not a file." }

# Get-FileHash reads the file as a stream; it never holds the whole file.
$hash = Get-FileHash -LiteralPath $item.FullName -Algorithm SHA256
$result = [ordered]@{
    path                = $path
    size                = $item.Length
    sha256              = $hash.Hash.ToLowerInvariant()
    last_write_time_utc = $item.LastWriteTimeUtc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'",
        [System.Globalization.CultureInfo]::InvariantCulture)
}
[Console]::Out.Write((ConvertTo-Json -InputObject $result -Compress) + "`n")
