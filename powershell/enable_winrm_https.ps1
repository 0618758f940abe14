# vmrepair.azure script: enable_winrm_https v1
# Contract: powershell/enable_winrm_https.md. Runs through Run Command (as SYSTEM); the caller
# inserts the $VmrepairParams line after the marker: {"subject_names": ["<IP or DNS name>", ...]}.
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
trap { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false

$names = @($VmrepairParams.subject_names | Where-Object { $_ })
if ($names.Count -eq 0) { throw 'subject_names must name at least one IP address or DNS name.' }

# Subject alternative names: IP addresses as IPAddress entries, anything else as DNS names.
$san = foreach ($name in $names) {
    $address = $null
    if ([System.Net.IPAddress]::TryParse($name, [ref]$address)) { "IPAddress=$name" } else { "DNS=$name" }
}
$cert = New-SelfSignedCertificate -Subject "CN=$($names[0])" -TextExtension @("2.5.29.17={text}$($san -join '&')") `
    -KeyAlgorithm RSA -KeyLength 2048 -NotAfter (Get-Date).AddDays(30) -CertStoreLocation 'Cert:\LocalMachine\My'

# One HTTPS listener on 5986 with this certificate (replacing an earlier one); NTLM via Negotiate, no Basic.
Set-Service -Name WinRM -StartupType Automatic
Start-Service -Name WinRM
Get-ChildItem -Path WSMan:\localhost\Listener |
    Where-Object { $_.Keys -contains 'Transport=HTTPS' } |
    Remove-Item -Recurse -Force
New-Item -Path WSMan:\localhost\Listener -Transport HTTPS -Address * -CertificateThumbPrint $cert.Thumbprint -Force |
    Out-Null
Set-Item -Path WSMan:\localhost\Service\Auth\Negotiate -Value $true
Set-Item -Path WSMan:\localhost\Service\Auth\Basic -Value $false

if (-not (Get-NetFirewallRule -Name 'vmrepair-winrm-https' -ErrorAction SilentlyContinue)) {
    New-NetFirewallRule -Name 'vmrepair-winrm-https' -DisplayName 'vmrepair: WinRM over HTTPS (5986)' `
        -Direction Inbound -Protocol TCP -LocalPort 5986 -Action Allow -Profile Any | Out-Null
}

$listenerHost = if ($names[0].Contains(':')) { "[$($names[0])]" } else { $names[0] }
$result = [ordered]@{
    thumbprint  = $cert.Thumbprint
    certificate = [Convert]::ToBase64String($cert.RawData)
    listener    = "https://${listenerHost}:5986/wsman"
}
[Console]::Out.Write((ConvertTo-Json -InputObject $result -Compress) + "`n")
