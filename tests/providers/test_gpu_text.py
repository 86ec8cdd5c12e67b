"""GPU readings in words: a host's summary, its GPUs line by line, and "will it fit?" with the arithmetic."""

from __future__ import annotations

from providers.gpu_info import Gpu, GpuProcess, HostGpus
from providers.gpu_text import fit_check, gpu_lines, gpu_summary

GIB = 2**30
TWO_GPUS = HostGpus(host="box", source="nvidia-smi", read_at=1.0, gpus=(
    Gpu(index=0, name="NVIDIA A100 80GB", utilization_pct=100.0, memory_used_bytes=70 * GIB,
        memory_total_bytes=80 * GIB, temperature_c=71.0, power_w=301.5,
        processes=(GpuProcess(pid=4242, name="ollama", used_memory_bytes=69 * GIB),)),
    Gpu(index=1, name="NVIDIA A100 80GB", utilization_pct=20.0, memory_used_bytes=56 * GIB,
        memory_total_bytes=80 * GIB, temperature_c=None, power_w=None),
))


def test_summary_adds_memory_over_gpus_and_averages_utilisation() -> None:
    assert gpu_summary(TWO_GPUS) == "2 GPU 126.0G/160.0G 60%"
    assert gpu_summary(None) == ""
    assert gpu_summary(HostGpus(host="cpu-box", source="none", error="no GPU found")) == "no GPU"
    failed = HostGpus(host="box", source="nvidia-smi", error="NVIDIA-SMI has failed\x1b[2J because")
    assert gpu_summary(failed) == "GPU: NVIDIA-SMI has failed because", "the driver's words, terminal-safe"


def test_lines_give_each_gpu_and_the_processes_holding_memory() -> None:
    lines = gpu_lines(TWO_GPUS)
    assert lines[0] == "GPU 0  NVIDIA A100 80GB  100% busy  70.0 GiB of 80.0 GiB  71 °C  302 W"
    assert lines[1] == "  pid 4242  ollama  69.0 GiB"
    assert lines[2] == "GPU 1  NVIDIA A100 80GB  20% busy  56.0 GiB of 80.0 GiB  —  —", "unknown is a dash, not 0"


def test_fit_on_one_gpu_split_across_gpus_or_not_at_all_with_the_arithmetic() -> None:
    small = fit_check(8 * GIB, TWO_GPUS, "box")
    assert small is not None and small.on_one_gpu
    assert small.text == ("Will it fit on box? yes: 8.0 GiB ≤ GPU 1: 80.0 GiB − 56.0 GiB used = 24.0 GiB free "
                          "(weights only; the KV cache needs more)")
    split = fit_check(30 * GIB, TWO_GPUS, "box")
    assert split is not None and not split.on_one_gpu
    assert "only split across 2 GPUs: 30.0 GiB ≤ 10.0 GiB + 24.0 GiB = 34.0 GiB free" in split.text
    too_big = fit_check(40 * GIB, TWO_GPUS, "box")
    assert too_big is not None and not too_big.on_one_gpu
    assert too_big.text.startswith("Will it fit on box? no: 40.0 GiB > 34.0 GiB free on 2 GPUs")


def test_nothing_to_say_without_a_size_a_reading_or_memory_figures() -> None:
    assert fit_check(None, TWO_GPUS, "box") is None
    assert fit_check(8 * GIB, None, "box") is None
    assert fit_check(8 * GIB, HostGpus(host="box", source="none", error="no GPU found"), "box") is None
    unknown = HostGpus(host="box", source="dcgm", gpus=(Gpu(index=0, name="x", memory_used_bytes=None),))
    assert fit_check(8 * GIB, unknown, "box") is None
