# vmrepair.azure script: read_file_chunks v1
# Contract: powershell/read_file_chunks.md. Runs over WinRM; parameters:
# {"path": "F:\\Windows\\MEMORY.DMP", "offset": 0, "length": 16777216, "chunk_size": 1048576, "compression": "deflate"}
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
trap { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }

function Get-IntegerParameter([string]$Name) {
    $value = $VmrepairParams.$Name
    if ($value -isnot [int] -and $value -isnot [long]) {
        throw "$Name must be an integer, not $(ConvertTo-Json -InputObject $value -Compress)."
    }
    [int64]$value
}

if ($VmrepairParams.path -isnot [string] -or -not $VmrepairParams.path) { throw 'path must be a non-empty string.' }
$path = $VmrepairParams.path.Replace('/', '\')
$offset = Get-IntegerParameter 'offset'
$length = Get-IntegerParameter 'length'
$chunkSize = Get-IntegerParameter 'chunk_size'
$compression = $VmrepairParams.compression
if ($offset -lt 0 -or $length -lt 0) { throw 'offset and length must not be negative.' }
if ($chunkSize -lt 1 -or $chunkSize -gt 16777216) { throw 'chunk_size must be between 1 and 16777216 bytes.' }
if ($compression -cne 'none' -and $compression -cne 'deflate') { throw "compression must be 'none' or 'deflate', not '$compression'." }
$item = Get-Item -LiteralPath $path -Force
if ($item.PSIsContainer) { throw "'$path' is a directory, not a file." }

# One chunk in memory at a time: read, hash the raw bytes, optionally deflate, write one line.
$stream = New-Object System.IO.FileStream($item.FullName, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read,
    [System.IO.FileShare]::ReadWrite, 1048576, [System.IO.FileOptions]::SequentialScan)
$sha256 = [System.Security.Cryptography.SHA256]::Create()
$buffer = New-Object byte[] ([int]$chunkSize)
$out = [Console]::Out
$sent = [int64]0
try {
    [void]$stream.Seek($offset, [System.IO.SeekOrigin]::Begin)
    $position = $offset
    $end = $offset + $length
    while ($position -lt $end) {
        $want = [int][Math]::Min($chunkSize, $end - $position)
        $count = 0
        while ($count -lt $want) {
            $read = $stream.Read($buffer, $count, $want - $count)
            if ($read -eq 0) { break }
            $count += $read
        }
        if ($count -eq 0) { break }
        $hash = [BitConverter]::ToString($sha256.ComputeHash($buffer, 0, $count)).Replace('-', '').ToLowerInvariant()
        if ($compression -eq 'deflate') {
            $packed = New-Object System.IO.MemoryStream
            $deflate = New-Object System.IO.Compression.DeflateStream($packed,
                [System.IO.Compression.CompressionLevel]::Fastest, $true)
            $deflate.Write($buffer, 0, $count)
            $deflate.Dispose()
            $payload = [Convert]::ToBase64String($packed.GetBuffer(), 0, [int]$packed.Length)
        } else {
            $payload = [Convert]::ToBase64String($buffer, 0, $count)
        }
        $out.Write("$position $count $hash $compression $payload`n")
        $position += $count
        $sent += $count
    }
} finally {
    $stream.Dispose()
}
$out.Write("END $sent`n")
$out.Flush()
