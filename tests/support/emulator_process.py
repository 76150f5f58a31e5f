"""The emulator runner lives in devkit/emulator_process.py (bench uses it too); tests keep
importing it from here."""

from devkit.emulator_process import REPO_ROOT, EmulatorError, EmulatorProcess, running_emulator

__all__ = ["REPO_ROOT", "EmulatorError", "EmulatorProcess", "running_emulator"]
