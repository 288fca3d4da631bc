"""What the integration tests share: which metastack binary they run."""
import os
import pathlib
import signal
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


_binary = None


def metastack_binary():
    """The binary under test: `--metastack PATH` on the command line (taken out of sys.argv so
    that unittest does not see it), else $METASTACK_BIN, else the release build's. The same
    answer on every call."""
    global _binary
    if _binary is None:
        if '--metastack' in sys.argv:
            i = sys.argv.index('--metastack')
            _binary = sys.argv[i + 1]
            del sys.argv[i:i + 2]
        else:
            _binary = os.environ.get('METASTACK_BIN',
                                     str(ROOT / 'build/release/apps/metastack/metastack'))
    return _binary


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; returns its exit
    code (negative: the signal that ended it)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
