"""Stand-ins for `nvidia-smi` and `ssh`, put on PATH by the GPU tests, and the DCGM exporter text they serve.

The `nvidia-smi` stand-in answers the two CSV queries llmdeck makes in the real format (`, `-separated, no
header, no units, `[N/A]` where a board cannot tell) and refuses any other command line as the real tool does.
`GPU_STANDIN_MODE` picks what it does: `lab` (three GPUs, one at 100 %, missing fields, compute apps),
`driver-error` (the real message, exit 9), `no-devices` (exit 6), `escapes` (control sequences in names),
`nonsense` (NaN, negative, absurd numbers, broken rows), `comma-name`, `flood` (10 MB), `hang` (never ends).
It writes its pid to `$GPU_STANDIN_PIDS` (one line per run) when that is set.

The `ssh` stand-in checks its options as llmdeck must pass them (`-o BatchMode=yes`, the identity file, `--`,
the destination in `$GPU_STANDIN_SSH_DEST`), logs its argv to `$GPU_STANDIN_SSH_LOG`, then runs the remote
argv here as a child (as the remote side is a separate process). `GPU_STANDIN_SSH_MODE=refuse` fails as an
unreachable host does (exit 255); `no-smi` as a host without nvidia-smi (exit 127).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

UUID_4090 = "GPU-5d3f1b3c-8a5e-4c0b-9e2a-0f6c2b7d9e11"
UUID_A100 = "GPU-a1b2c3d4-1111-2222-3333-444455556666"
UUID_T4 = "GPU-77e1c2a0-9f3b-4d6e-8c5a-2b1f0e9d8c7b"
DRIVER_ERROR = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
                "latest NVIDIA driver is installed and running.")
MIB = 1024 * 1024

_NVIDIA_SMI = r'''
import os, sys, threading

GPU_QUERY = "--query-gpu=index,name,uuid,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw"
APP_QUERY = "--query-compute-apps=gpu_uuid,pid,process_name,used_memory"
FORMAT = "--format=csv,noheader,nounits"
mode = os.environ.get("GPU_STANDIN_MODE", "lab")
if os.environ.get("GPU_STANDIN_PIDS"):
    with open(os.environ["GPU_STANDIN_PIDS"], "a") as log:
        log.write(f"{os.getpid()}\n")
args = sys.argv[1:]
if len(args) != 2 or args[0] not in (GPU_QUERY, APP_QUERY) or args[1] != FORMAT:
    print(f"Invalid combination of input arguments: {args!r}. Please run 'nvidia-smi -h' for help.")
    sys.exit(2)
apps = args[0] == APP_QUERY
GPUS = {
    "lab": "0, NVIDIA GeForce RTX 4090, UUID_4090, 100, 23028, 24564, 83, 437.12\n"
           "1, NVIDIA A100-SXM4-80GB, UUID_A100, 0, 4, 81920, 31, [N/A]\n"
           "2, Tesla T4, UUID_T4, 37, 1057, 15360, [Not Supported], 27.83\n",
    "escapes": "0, \x1b]52;c;cm0gLXJmIC8=\x07\x1b[2JRTX\x1b[31m 4090\x9b1m, UUID_4090, 5, 1, 2, 3, 4\n",
    "nonsense": "0, NVIDIA GeForce RTX 3090, UUID_4090, nan, -5, 24576, -40, inf\n"
                "1, NVIDIA GeForce RTX 3090, UUID_A100, 250, 1e30, 0x10, 9999, -3.5\n"
                "x, not a row, UUID_T4, 1, 2, 3, 4, 5\n"
                "3, too short\n"
                "-1, Negative Index, UUID_T4, 1, 2, 3, 4, 5\n",
    "comma-name": "0, NVIDIA RTX, \"Special\" Edition, UUID_T4, 12, 100, 200, 40, 50.5\n",
}
APPS = {
    "lab": "UUID_4090, 4242, /usr/bin/python3, 22000\n"
           "UUID_4090, 5151, ollama_llama_server, 1010\n"
           "UUID_T4, 6161, /opt/vllm/bin/python, [N/A]\n"
           "GPU-not-a-listed-gpu, 7171, ghost, 5\n",
    "escapes": "UUID_4090, 4242, \x1b]0;owned\x07evil\x1b[5m, 1\n",
    "nonsense": "UUID_4090, -4, negative, 10\nUUID_4090, nan, nan, 10\nUUID_4090, 99, ok, -1\n",
}
if mode == "driver-error":
    print("DRIVER_ERROR\n")
    sys.exit(9)
if mode == "no-devices":
    print("No devices were found")
    sys.exit(6)
if mode == "hang":
    threading.Event().wait()
if mode == "flood":
    line = "0, " + "A" * 1000 + "\n"
    for _ in range(10 * 1024):
        sys.stdout.write(line)
    sys.exit(0)
sys.stdout.write((APPS if apps else GPUS).get(mode, ""))
'''

_SSH = r'''
import os, shutil, subprocess, sys

args = sys.argv[1:]
options, identity = [], None
while args and args[0] != "--":
    if args[0] in ("-o", "-i") and len(args) > 1:
        if args[0] == "-o":
            options.append(args[1])
        else:
            identity = args[1]
        args = args[2:]
        continue
    print(f"ssh stand-in: unexpected argument {args[0]!r} before --", file=sys.stderr)
    sys.exit(255)
if os.environ.get("GPU_STANDIN_SSH_LOG"):
    with open(os.environ["GPU_STANDIN_SSH_LOG"], "a") as log:
        log.write("\t".join(sys.argv[1:]) + "\n")
if "BatchMode=yes" not in options:
    print("ssh stand-in: BatchMode=yes missing: ssh could stop to ask for a password", file=sys.stderr)
    sys.exit(255)
expected_identity = os.environ.get("GPU_STANDIN_SSH_IDENTITY")
if expected_identity and identity != expected_identity:
    print(f"ssh stand-in: identity {identity!r}, expected {expected_identity!r}", file=sys.stderr)
    sys.exit(255)
if len(args) < 3 or args[1] != os.environ.get("GPU_STANDIN_SSH_DEST"):
    print(f"ssh stand-in: wrong destination in {args!r}", file=sys.stderr)
    sys.exit(255)
destination, remote = args[1], args[2:]
mode = os.environ.get("GPU_STANDIN_SSH_MODE", "")
if mode == "refuse":
    print("Warning: Permanently added 'box2' (ED25519) to the list of known hosts.", file=sys.stderr)
    print(f"ssh: connect to host {destination} port 22: Connection refused", file=sys.stderr)
    sys.exit(255)
if mode == "no-smi" or shutil.which(remote[0]) is None:
    print(f"bash: line 1: {remote[0]}: command not found", file=sys.stderr)
    sys.exit(127)
sys.exit(subprocess.run(remote, stdin=subprocess.DEVNULL).returncode)
'''


def _install(bin_dir: Path, name: str, body: str) -> Path:
    path = bin_dir / name
    path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def install_standins(bin_dir: Path) -> Path:
    """Write `nvidia-smi` and `ssh` stand-ins into `bin_dir` (created); returns it, for the front of PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    smi = _NVIDIA_SMI.replace("DRIVER_ERROR", DRIVER_ERROR)
    for name, uuid in (("UUID_4090", UUID_4090), ("UUID_A100", UUID_A100), ("UUID_T4", UUID_T4)):
        smi = smi.replace(name, uuid)
    _install(bin_dir, "nvidia-smi", smi)
    _install(bin_dir, "ssh", _SSH)
    return bin_dir


def path_with(bin_dir: Path) -> str:
    """PATH with `bin_dir` first, so the stand-ins are found before any real tool."""
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


DCGM_METRICS = """\
# HELP DCGM_FI_DEV_SM_CLOCK SM clock frequency (in MHz).
# TYPE DCGM_FI_DEV_SM_CLOCK gauge
DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-c2f76b33-7953-256e-8f33-1343419b1a1c",pci_bus_id="00000000:31:00.0",\
device="nvidia0",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} 2040
# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-c2f76b33-7953-256e-8f33-1343419b1a1c",pci_bus_id="00000000:31:00.0",\
device="nvidia0",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} 45
DCGM_FI_DEV_GPU_TEMP{gpu="1",UUID="GPU-0e1a7c55-3b2d-4f6e-9a8b-7c6d5e4f3a2b",pci_bus_id="00000000:32:00.0",\
device="nvidia1",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} NaN
# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-c2f76b33-7953-256e-8f33-1343419b1a1c",pci_bus_id="00000000:31:00.0",\
device="nvidia0",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} 34.156000
DCGM_FI_DEV_POWER_USAGE{gpu="1",UUID="GPU-0e1a7c55-3b2d-4f6e-9a8b-7c6d5e4f3a2b",pci_bus_id="00000000:32:00.0",\
device="nvidia1",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} -12.000000
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-c2f76b33-7953-256e-8f33-1343419b1a1c",pci_bus_id="00000000:31:00.0",\
device="nvidia0",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} 100
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-0e1a7c55-3b2d-4f6e-9a8b-7c6d5e4f3a2b",pci_bus_id="00000000:32:00.0",\
device="nvidia1",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} 3
# HELP DCGM_FI_DEV_FB_FREE Framebuffer memory free (in MiB).
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-c2f76b33-7953-256e-8f33-1343419b1a1c",pci_bus_id="00000000:31:00.0",\
device="nvidia0",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} 1563
DCGM_FI_DEV_FB_FREE{gpu="1",UUID="GPU-0e1a7c55-3b2d-4f6e-9a8b-7c6d5e4f3a2b",pci_bus_id="00000000:32:00.0",\
device="nvidia1",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} 22563
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-c2f76b33-7953-256e-8f33-1343419b1a1c",pci_bus_id="00000000:31:00.0",\
device="nvidia0",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} 21000
DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-0e1a7c55-3b2d-4f6e-9a8b-7c6d5e4f3a2b",pci_bus_id="00000000:32:00.0",\
device="nvidia1",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} 0
# HELP DCGM_FI_DEV_FB_RESERVED Framebuffer memory reserved (in MiB).
# TYPE DCGM_FI_DEV_FB_RESERVED gauge
DCGM_FI_DEV_FB_RESERVED{gpu="0",UUID="GPU-c2f76b33-7953-256e-8f33-1343419b1a1c",pci_bus_id="00000000:31:00.0",\
device="nvidia0",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} 460
DCGM_FI_DEV_FB_RESERVED{gpu="1",UUID="GPU-0e1a7c55-3b2d-4f6e-9a8b-7c6d5e4f3a2b",pci_bus_id="00000000:32:00.0",\
device="nvidia1",modelName="NVIDIA L4",Hostname="box3",DCGM_FI_DRIVER_VERSION="580.105.08"} 460
"""
"""Two L4s as dcgm-exporter 4.x prints them (label order, HELP and TYPE lines as in its output); GPU 1 has a NaN
temperature and a negative power draw."""
