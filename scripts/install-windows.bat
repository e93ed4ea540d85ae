@echo off
rem Double-click to install SerumRNN on Windows (docs/install.md): runs install-windows.ps1
rem next to this file, then waits so the window shows the result.
powershell -NoProfile -ExecutionPolicy Bypass -File "%~dp0install-windows.ps1"
if errorlevel 1 (echo. & echo The install did not finish: the lines above say why.) else (echo. & echo Done. You can close this window.)
pause
