"""`llmdeck emulate` in the foreground ends on Ctrl-C even when the kernel hands SIGINT to another thread than the
main one (the server's, busy answering): the main thread must wake to raise KeyboardInterrupt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.waiting import HANG_S

ROOT = Path(__file__).resolve().parents[2]

# SIGINT sent to a thread of the process's own choosing, not the main one: what the kernel may do with Ctrl-C.
SCRIPT = """
import signal, sys, threading
from providers.emulators.registry import start_emulator
from providers.emulators.server import serve_until_interrupted

server = start_emulator("ollama")
threading.Timer(0.3, lambda: signal.pthread_kill(threading.get_ident(), signal.SIGINT)).start()
serve_until_interrupted(server)
print("stopped", server.listening, flush=True)
"""


def test_ctrl_c_delivered_to_another_thread_still_stops_the_emulator() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=HANG_S,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped False"
