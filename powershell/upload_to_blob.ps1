# vmrepair.azure script: upload_to_blob v1
# Contract: powershell/upload_to_blob.md. Runs over WinRM; parameters:
# {"path": "F:\\Windows\\MEMORY.DMP", "blob_url": "https://<account>.blob.core.windows.net/<container>/<blob>?<SAS>", "block_size": 8388608, "parallel": 4}
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
# The SAS query string, once known: stripped from every message (the SAS is a secret).
$sasQuery = $null
trap {
    $message = $_.Exception.Message
    if ($sasQuery) { $message = $message.Replace($sasQuery, '') }
    [Console]::Error.WriteLine($message)
    exit 1
}
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

$MinBlockSize = 1048576
$MaxBlockSize = 104857600
$MaxBlocks = 50000
$MaxAttempts = 3
$StorageVersion = '2021-08-06'

function Get-IntegerParameter([string]$Name) {
    $value = $VmrepairParams.$Name
    if ($value -isnot [int] -and $value -isnot [long]) {
        throw "$Name must be an integer, not $(ConvertTo-Json -InputObject $value -Compress)."
    }
    [int64]$value
}

function Get-ErrorCode($Response) {
    # x-ms-error-code names the failure (AuthenticationFailed, ...); the reason phrase if a proxy answered.
    $values = $null
    if ($Response.Headers.TryGetValues('x-ms-error-code', [ref]$values)) { return @($values)[0] }
    return $Response.ReasonPhrase
}

function Get-RetryDelayMs($Response, [int]$Attempt) {
    # 1 s after the first attempt, 2 s after the second, unless the service said Retry-After.
    if ($null -ne $Response -and $null -ne $Response.Headers.RetryAfter) {
        $retryAfter = $Response.Headers.RetryAfter
        # PowerShell unwraps the Nullable[TimeSpan] / Nullable[DateTimeOffset] properties.
        if ($null -ne $retryAfter.Delta) { return [int]$retryAfter.Delta.TotalMilliseconds }
        if ($null -ne $retryAfter.Date) {
            return [int][Math]::Max(0, ($retryAfter.Date - [DateTimeOffset]::UtcNow).TotalMilliseconds)
        }
    }
    return 1000 * $Attempt
}

function Get-NoAnswerReason($Task) {
    if ($Task.IsCanceled) { return 'the request timed out' }
    return $Task.Exception.GetBaseException().Message
}

function Test-Retryable([int]$Status) {
    return ($Status -ge 500 -or $Status -eq 408 -or $Status -eq 429)
}

# ---- parameters ------------------------------------------------------------------------------

if ($VmrepairParams.path -isnot [string] -or -not $VmrepairParams.path) { throw 'path must be a non-empty string.' }
$path = $VmrepairParams.path.Replace('/', '\')
$blockSize = Get-IntegerParameter 'block_size'
$parallel = Get-IntegerParameter 'parallel'
$blobUrl = $VmrepairParams.blob_url
if ($blockSize -lt $MinBlockSize -or $blockSize -gt $MaxBlockSize) {
    throw "block_size must be between $MinBlockSize and $MaxBlockSize bytes."
}
if ($parallel -lt 1 -or $parallel -gt 16) { throw 'parallel must be between 1 and 16.' }
$uri = $null
$validUrl = $blobUrl -is [string] -and [Uri]::TryCreate($blobUrl, [UriKind]::Absolute, [ref]$uri)
if (-not $validUrl -or $uri.Scheme -ne 'https' -or $blobUrl.IndexOf('?') -lt 0 -or $uri.Query -notmatch '[?&]sig=') {
    throw 'blob_url must be an https URL with a SAS query string.'
}
$question = $blobUrl.IndexOf('?')
$sasQuery = $blobUrl.Substring($question)
$plainUrl = $blobUrl.Substring(0, $question)

$item = Get-Item -LiteralPath $path -Force
if ($item.PSIsContainer) { throw "'$path' is a directory, not a file." }
$size = [int64]$item.Length
$blocks = [int64][Math]::Ceiling([double]$size / [double]$blockSize)
if ($blocks -gt $MaxBlocks) {
    throw "The file needs $blocks blocks of $blockSize bytes; a block blob holds at most $MaxBlocks."
}

# ---- the client ----------------------------------------------------------------------------------

Add-Type -AssemblyName System.Net.Http
# .NET Framework: TLS 1.2 may be off by default; two connections per host unless raised; no 100-continue round trip.
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
if ([Net.ServicePointManager]::DefaultConnectionLimit -lt $parallel + 1) {
    [Net.ServicePointManager]::DefaultConnectionLimit = $parallel + 1
}
[Net.ServicePointManager]::Expect100Continue = $false
$client = New-Object System.Net.Http.HttpClient
$client.Timeout = [TimeSpan]::FromMinutes(10)
$client.DefaultRequestHeaders.Add('x-ms-version', $StorageVersion)

$md5 = [System.Security.Cryptography.MD5]::Create()
$blockSha = [System.Security.Cryptography.SHA256]::Create()
$fileSha = [System.Security.Cryptography.SHA256]::Create()
$blockIds = New-Object 'string[]' ([int]$blocks)
$blockHashes = New-Object 'string[]' ([int]$blocks)
$freeBuffers = New-Object System.Collections.Stack
$inFlight = New-Object System.Collections.ArrayList
$retries = 0
$stopwatch = [Diagnostics.Stopwatch]::StartNew()

function Send-Block($Entry) {
    # .NET Framework's HttpClient disposes the content after each request: a new one per attempt.
    $content = [System.Net.Http.ByteArrayContent]::new($Entry.Buffer, 0, $Entry.Bytes)
    $content.Headers.ContentMD5 = $Entry.Md5
    $url = $blobUrl + '&comp=block&blockid=' + [Uri]::EscapeDataString($Entry.Id)
    $Entry.Attempt += 1
    $Entry.Task = $client.PutAsync($url, $content)
    $Entry.RetryAt = $null
}

function Read-Block([System.IO.Stream]$Stream, [byte[]]$Buffer, [int]$Want) {
    $count = 0
    while ($count -lt $Want) {
        $read = $Stream.Read($Buffer, $count, $Want - $count)
        if ($read -eq 0) { break }
        $count += $read
    }
    return $count
}

# ---- the blocks: read in order (one reader, one whole-file hash), up to $parallel in flight ------------

$stream = New-Object System.IO.FileStream($item.FullName, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read,
    [System.IO.FileShare]::ReadWrite, 1048576, [System.IO.FileOptions]::SequentialScan)
try {
    $next = 0
    while ($next -lt $blocks -or $inFlight.Count -gt 0) {
        while ($next -lt $blocks -and $inFlight.Count -lt $parallel) {
            if ($freeBuffers.Count -gt 0) { $buffer = $freeBuffers.Pop() } else { $buffer = New-Object byte[] ([int]$blockSize) }
            $want = [int][Math]::Min([int64]$blockSize, $size - [int64]$next * $blockSize)
            $count = Read-Block $stream $buffer $want
            if ($count -ne $want) { throw "'$path' ended at $([int64]$next * $blockSize + $count) bytes while being read." }
            [void]$fileSha.TransformBlock($buffer, 0, $count, $null, 0)
            $blockHashes[$next] = [BitConverter]::ToString($blockSha.ComputeHash($buffer, 0, $count)).Replace('-', '').ToLowerInvariant()
            $blockIds[$next] = [Convert]::ToBase64String([Text.Encoding]::ASCII.GetBytes($next.ToString('D6')))
            $entry = @{ Index = $next; Id = $blockIds[$next]; Buffer = $buffer; Bytes = $count
                        Md5 = $md5.ComputeHash($buffer, 0, $count); Attempt = 0; Task = $null; RetryAt = $null }
            Send-Block $entry
            [void]$inFlight.Add($entry)
            $next += 1
        }

        # Blocks waiting out a retry delay are resent when due; otherwise wait for any request to end.
        $now = [DateTime]::UtcNow
        $waitMs = -1
        foreach ($entry in @($inFlight)) {
            if ($null -ne $entry.RetryAt) {
                if ($entry.RetryAt -le $now) {
                    $retries += 1
                    Send-Block $entry
                } else {
                    $left = [int][Math]::Ceiling(($entry.RetryAt - $now).TotalMilliseconds)
                    if ($waitMs -lt 0 -or $left -lt $waitMs) { $waitMs = $left }
                }
            }
        }
        $running = @($inFlight | Where-Object { $null -ne $_.Task })
        if ($running.Count -eq 0) {
            if ($waitMs -gt 0) { Start-Sleep -Milliseconds $waitMs }
            continue
        }
        $tasks = [System.Threading.Tasks.Task[]]@($running | ForEach-Object { $_.Task })
        $done = [System.Threading.Tasks.Task]::WaitAny($tasks, $waitMs)
        if ($done -lt 0) { continue }
        $entry = $running[$done]
        $task = $entry.Task
        $entry.Task = $null
        if ($task.IsFaulted -or $task.IsCanceled) {
            if ($entry.Attempt -ge $MaxAttempts) {
                throw "Put Block $($entry.Index) failed: no answer ($(Get-NoAnswerReason $task)) ($plainUrl)"
            }
            $entry.RetryAt = [DateTime]::UtcNow.AddMilliseconds((Get-RetryDelayMs $null $entry.Attempt))
            continue
        }
        $response = $task.Result
        try {
            $status = [int]$response.StatusCode
            if ($status -eq 201) {
                $freeBuffers.Push($entry.Buffer)
                $inFlight.Remove($entry)
            } elseif ((Test-Retryable $status) -and $entry.Attempt -lt $MaxAttempts) {
                $entry.RetryAt = [DateTime]::UtcNow.AddMilliseconds((Get-RetryDelayMs $response $entry.Attempt))
            } else {
                throw "Put Block $($entry.Index) failed: $status $(Get-ErrorCode $response) ($plainUrl)"
            }
        } finally {
            $response.Dispose()
        }
    }
} finally {
    $stream.Dispose()
}
[void]$fileSha.TransformFinalBlock((New-Object byte[] 0), 0, 0)
$sha256 = [BitConverter]::ToString($fileSha.Hash).Replace('-', '').ToLowerInvariant()

# ---- commit ------------------------------------------------------------------------------------------

$xml = New-Object System.Text.StringBuilder
[void]$xml.Append('<?xml version="1.0" encoding="utf-8"?><BlockList>')
foreach ($id in $blockIds) { [void]$xml.Append("<Latest>$id</Latest>") }
[void]$xml.Append('</BlockList>')
$request = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::Put, $blobUrl + '&comp=blocklist')
$request.Content = [System.Net.Http.ByteArrayContent]::new([Text.Encoding]::ASCII.GetBytes($xml.ToString()))
$request.Content.Headers.ContentType = New-Object System.Net.Http.Headers.MediaTypeHeaderValue('application/xml')
[void]$request.Headers.TryAddWithoutValidation('x-ms-blob-content-type', 'application/octet-stream')
[void]$request.Headers.TryAddWithoutValidation('x-ms-meta-sha256', $sha256)
$task = $client.SendAsync($request)
try {
    [void]$task.Wait()
} catch {
    throw "Put Block List failed: no answer ($(Get-NoAnswerReason $task)) ($plainUrl)"
}
$response = $task.Result
try {
    $status = [int]$response.StatusCode
    if ($status -ne 201) { throw "Put Block List failed: $status $(Get-ErrorCode $response) ($plainUrl)" }
} finally {
    $response.Dispose()
    $client.Dispose()
}

$result = [ordered]@{
    path         = $path
    size         = $size
    block_size   = $blockSize
    blocks       = $blocks
    sha256       = $sha256
    block_sha256 = $blockHashes
    retries      = $retries
    seconds      = [Math]::Round($stopwatch.Elapsed.TotalSeconds, 3)
}
[Console]::Out.Write((ConvertTo-Json -InputObject $result -Compress) + "`n")
