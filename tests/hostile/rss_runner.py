"""Run a command as this process's only child and write the child's peak RSS (KiB) to a file.

`python rss_runner.py OUT_FILE CMD...`: the exit status is the command's. RUSAGE_CHILDREN of this small process
covers exactly that one child, which a test process (with many children over a session) cannot say of itself.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path


def main() -> int:
    out, command = Path(sys.argv[1]), sys.argv[2:]
    returncode = subprocess.run(command, check=False).returncode
    out.write_text(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss), encoding="utf-8")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
