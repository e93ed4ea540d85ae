# The producer install on Windows (docs/install.md): one command, no administrator rights.
# Makes a private Python environment in %LOCALAPPDATA%\SerumRNN, installs SerumRNN from this
# checkout into it, copies the models, and writes the launcher the Max for Live device
# starts the server with. Running it again updates the install in place.
# Double-click install-windows.bat next to this file, or run:
#   powershell -ExecutionPolicy Bypass -File scripts\install-windows.ps1
# Settings (optional environment variables): SERUMRNN_PYTHON (a python.exe, 3.11 to 3.13),
# SERUMRNN_HOME (the folder), SERUMRNN_PIP_ARGS (extra pip arguments, space-separated).
$ErrorActionPreference = 'Stop'

function Say([string]$Text) { Write-Host "SerumRNN install: $Text" }
function Fail([string]$Text) {
    Write-Host "SerumRNN install FAILED: $Text" -ForegroundColor Red
    exit 1
}

# The Python's "3.x" when it is 3.11, 3.12 or 3.13, else $null.
function Get-Supported([string[]]$Command) {
    $exe = $Command[0]
    $rest = @($Command | Select-Object -Skip 1)
    try {
        $v = & $exe @rest -c "import sys; print('%d.%d' % sys.version_info[:2])" 2>$null
    } catch { return $null }
    if ($LASTEXITCODE -ne 0) { return $null }
    if (@('3.11', '3.12', '3.13') -contains "$v".Trim()) { return "$v".Trim() }
    return $null
}

$repo = Split-Path -Parent $PSScriptRoot

# Newest first: the py launcher python.org installs, then python.exe on PATH.
$candidates = @()
if ($env:SERUMRNN_PYTHON) { $candidates += ,@($env:SERUMRNN_PYTHON) }
else { $candidates += ,@('py', '-3.13'); $candidates += ,@('py', '-3.12'); $candidates += ,@('py', '-3.11'); $candidates += ,@('python') }
$python = $null
foreach ($c in $candidates) {
    if (Get-Command $c[0] -ErrorAction SilentlyContinue) {
        $version = Get-Supported $c
        if ($version) { $python = $c; break }
    }
}
if (-not $python) {
    Fail 'SerumRNN needs Python 3.11, 3.12 or 3.13, and none was found. Install Python 3.13 from https://www.python.org/downloads/ (the "Windows installer (64-bit)"), then run this installer again.'
}
Say "using Python $version ($($python -join ' '))"

if ($env:SERUMRNN_HOME) { $home_dir = $env:SERUMRNN_HOME } else { $home_dir = Join-Path $env:LOCALAPPDATA 'SerumRNN' }
Say "installing into $home_dir (several hundred MB, no TensorFlow; a few minutes on a fast connection)"
New-Item -ItemType Directory -Force -Path $home_dir | Out-Null
$venv = Join-Path $home_dir 'venv'
$venv_python = Join-Path $venv 'Scripts\python.exe'

# A venv made by another Python version (an older install) is made again.
if ((Test-Path $venv_python) -and ((Get-Supported @($venv_python)) -ne $version)) {
    Say 'replacing the environment made with another Python version'
    Remove-Item -Recurse -Force $venv
}
if (-not (Test-Path $venv_python)) {
    $exe = $python[0]
    $rest = @($python | Select-Object -Skip 1)
    & $exe @rest -m venv $venv
    if ($LASTEXITCODE -ne 0) { Fail "could not make a Python environment in $venv" }
}

$pip_args = @()
if ($env:SERUMRNN_PIP_ARGS) { $pip_args = $env:SERUMRNN_PIP_ARGS -split ' ' | Where-Object { $_ } }
& $venv_python -m pip install --disable-pip-version-check @pip_args "$repo[producer]"
if ($LASTEXITCODE -ne 0) { Fail 'pip could not install SerumRNN (see the lines above; is the computer online?)' }

& $venv_python -m serumrnn.server.user_install --source $repo --home $home_dir
if ($LASTEXITCODE -ne 0) { Fail 'the server did not pass its post-install check (see the lines above)' }
