"""The command-line guard and the quiet stderr (errors.py)."""
import os
import subprocess
import sys
from pathlib import Path

from ccdseg.core.errors import UserInputError, run_command

ROOT = Path(__file__).resolve().parents[2]


def test_run_command_turns_user_errors_and_ctrl_c_into_one_line(capsys):
    def fails():
        raise UserInputError("x.fits: not a FITS file")

    def interrupted():
        raise KeyboardInterrupt

    assert run_command(fails) == 1 and capsys.readouterr().err == "error: x.fits: not a FITS file\n"
    assert run_command(interrupted, "stopped") == 130 and capsys.readouterr().err == "error: stopped\n"
    assert run_command(lambda: 3) == 3


def test_native_log_lines_are_dropped_and_everything_else_kept():
    script = (
        "import os, sys\n"
        "from ccdseg.core.errors import quiet_native_logs\n"
        "quiet_native_logs()\n"
        "os.write(2, b'I0000 00:00:1795710044.020579   17800 cudart_stub.cc:31] Could not find cuda\\n')\n"
        "os.write(2, b'E0000 00:00:1795710048.244633   17800 cuda_platform.cc:52] failed call to cuInit\\n')\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "print('error: frame.fits: truncated', file=sys.stderr)\n"
        "sys.stderr.write('50%|#####     |\\r')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0
    assert result.stderr == b"error: frame.fits: truncated\n50%|#####     |\r"
