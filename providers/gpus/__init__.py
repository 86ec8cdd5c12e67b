"""Where GPU readings come from: NVML on this machine, nvidia-smi (here or through ssh), a DCGM exporter.

`reader.read_host_gpus` takes one reading of one host, from the source its config names; providers/gpu_monitor.py
keeps the latest reading of every host. Every source turns what it read into providers/gpu_info.py's data.
"""
