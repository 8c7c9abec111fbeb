"""What this machine has: NVIDIA GPUs through NVML, CPU cores, RAM and free disk.

No torch import: a probe takes milliseconds, so the Hardware screen calls it every second.
NVML is initialised once per process and its device handles are cached; a failed
initialisation is remembered too, so a GPU-less laptop does not retry the library load
every second. ``probe`` never raises: whatever cannot be read is None, and without a usable
GPU ``no_gpu_reason`` carries NVML's own error text.
"""

from __future__ import annotations

import os
import platform
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GB = 1024 ** 3


@dataclass
class GpuInfo:
    index: int
    name: str
    total_gb: float
    free_gb: float
    used_gb: float
    utilization_pct: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    compute_capability: str | None = None      # "8.9"
    bf16_supported: bool = False               # Ampere (8.0) or newer
    flash_attention_supported: bool = False    # FlashAttention-2 needs Ampere or newer
    driver_version: str | None = None
    cuda_version: str | None = None            # the newest CUDA the driver supports
    uuid: str | None = None                    # "GPU-..." or "MIG-...": CUDA_VISIBLE_DEVICES may name it
    mig_profile: str | None = None             # "1g.10gb" on a MIG slice of an A100/H100
    speed: float | None = None                 # CUDA cores x max SM clock: CUDA's FASTEST_FIRST order
    other_processes_gb: float | None = None    # memory other processes hold on it (nvidia-smi's list)

    # The launcher reads these longer names.
    @property
    def memory_total_gb(self) -> float:
        return self.total_gb

    @property
    def memory_free_gb(self) -> float:
        return self.free_gb

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class HardwareInfo:
    gpus: list[GpuInfo] = field(default_factory=list)
    no_gpu_reason: str | None = None
    cpu_cores: int = 1
    ram_total_gb: float = 0.0
    ram_available_gb: float = 0.0
    disk_free_gb: float | None = None
    disk_path: str = "."
    system: str = ""                           # "Linux x86_64"
    cpu_bf16_flags: list[str] = field(default_factory=list)   # avx512_bf16 / amx_bf16 in /proc/cpuinfo

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    def to_dict(self) -> dict:
        return {**asdict(self), "gpus": [g.to_dict() for g in self.gpus]}


def probe(output_dir: str | os.PathLike = ".") -> HardwareInfo:
    """GPUs, CPU, RAM and free disk at ``output_dir`` (or its nearest existing parent)."""
    info = HardwareInfo(system=f"{platform.system()} {platform.machine()}".strip())
    gpus, reason = _NVML.read()
    info.gpus = _visible(gpus)
    if gpus and not info.gpus:
        reason = (f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r} hides all "
                  f"{len(gpus)} GPU(s)")
    info.no_gpu_reason = None if info.gpus else _explain_no_gpu(reason)
    info.cpu_cores = _cpu_cores()
    info.cpu_bf16_flags = list(cpu_bf16_flags())
    info.ram_total_gb, info.ram_available_gb = ram_gb()
    info.disk_path, info.disk_free_gb = _disk(output_dir)
    return info


def reset_nvml_cache() -> None:
    """Forget NVML's state (tests swap the ``pynvml`` module)."""
    global _NVML
    _NVML.shutdown()
    _NVML = _Nvml()


# ----- NVML -----------------------------------------------------------------------------

class _Nvml:
    """nvmlInit once, device handles cached; thread-safe (the UI probes from a timer)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._module: Any = None
        self._handles: list[Any] | None = None
        self._error: str | None = None
        self._system: tuple[str | None, str | None] = (None, None)

    def read(self) -> tuple[list[GpuInfo], str | None]:
        with self._lock:
            if self._handles is None and self._error is None:
                self._init()
            if self._error is not None:
                return [], self._error
            gpus = []
            for index, handle in enumerate(self._handles or []):
                gpus.extend(self._gpus(index, handle))
            if not gpus:
                return [], "NVML found no usable NVIDIA GPU"
            return gpus, None

    def _init(self) -> None:
        try:
            import pynvml
        except ImportError:
            self._error = "the nvidia-ml-py package (pynvml) is not installed"
            return
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except (pynvml.NVMLError, OSError) as exc:
            self._error = f"NVML: {_text(exc)}"
            return
        self._module = pynvml
        self._system = (self._try(lambda: _text(pynvml.nvmlSystemGetDriverVersion())),
                        self._try(lambda: _cuda_version(pynvml.nvmlSystemGetCudaDriverVersion())))
        if not self._handles:
            self._error = f"NVML found no NVIDIA GPU (driver {self._system[0] or 'unknown'})"

    def _gpus(self, index: int, handle: Any) -> list[GpuInfo]:
        """The GPU, or its MIG slices when MIG is on: CUDA runs on a slice, never on the
        whole card, and without root NVML refuses the parent's memory reading anyway."""
        nv = self._module
        mode = self._try(lambda: nv.nvmlDeviceGetMigMode(handle))
        if not mode or not mode[0]:
            gpu = self._gpu(index, handle)
            return [gpu] if gpu is not None else []
        parent_cc = self._try(lambda: nv.nvmlDeviceGetCudaComputeCapability(handle))
        slices = []
        for j in range(self._try(lambda: nv.nvmlDeviceGetMaxMigDeviceCount(handle)) or 0):
            mig = self._try(lambda: nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, j))
            gpu = None if mig is None else self._gpu(index, mig, parent_cc)
            if gpu is not None:
                gpu.mig_profile = gpu.name.rsplit(" MIG ", 1)[-1] if " MIG " in gpu.name else "MIG"
                slices.append(gpu)
        return slices

    def _gpu(self, index: int, handle: Any, cc: tuple | None = None) -> GpuInfo | None:
        nv = self._module
        try:
            memory = nv.nvmlDeviceGetMemoryInfo(handle)
            name = _text(nv.nvmlDeviceGetName(handle))
        except nv.NVMLError:
            return None  # fell off the bus, or reset: list the others
        major_minor = cc or self._try(lambda: nv.nvmlDeviceGetCudaComputeCapability(handle))
        capability = f"{major_minor[0]}.{major_minor[1]}" if major_minor else None
        ampere = bool(major_minor) and major_minor[0] >= 8
        power_mw = self._try(lambda: nv.nvmlDeviceGetPowerUsage(handle))
        cores = self._try(lambda: nv.nvmlDeviceGetNumGpuCores(handle))
        clock = self._try(lambda: nv.nvmlDeviceGetMaxClockInfo(handle, nv.NVML_CLOCK_SM))
        others = self._try(lambda: nv.nvmlDeviceGetComputeRunningProcesses(handle))
        others_gb = None if others is None else sum(
            (p.usedGpuMemory or 0) for p in others if p.pid != os.getpid()) / GB
        return GpuInfo(
            index=index, name=name, total_gb=memory.total / GB, free_gb=memory.free / GB,
            used_gb=memory.used / GB,
            utilization_pct=self._try(lambda: float(nv.nvmlDeviceGetUtilizationRates(handle).gpu)),
            temperature_c=self._try(
                lambda: float(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU))),
            power_w=None if power_mw is None else power_mw / 1000.0,
            compute_capability=capability, bf16_supported=ampere, flash_attention_supported=ampere,
            driver_version=self._system[0], cuda_version=self._system[1],
            uuid=self._try(lambda: _text(nv.nvmlDeviceGetUUID(handle))),
            speed=float(cores * clock) if cores and clock else None, other_processes_gb=others_gb)

    def _try(self, read):
        """One NVML reading, or None where the GPU does not support it (power on some cards)."""
        try:
            return read()
        except (self._module.NVMLError, OSError, AttributeError, TypeError):
            return None

    def shutdown(self) -> None:
        with self._lock:
            if self._module is not None:
                self._try(self._module.nvmlShutdown)
            self._module, self._handles = None, None


_NVML = _Nvml()


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _cuda_version(number: int) -> str:
    return f"{number // 1000}.{number % 1000 // 10}"


def _visible(gpus: list[GpuInfo]) -> list[GpuInfo]:
    """The GPUs torch will use, in torch's order (NVML itself ignores the environment):
    CUDA_DEVICE_ORDER (FASTEST_FIRST unless PCI_BUS_ID; NVML lists in PCI order),
    CUDA_VISIBLE_DEVICES as ordinals in that order or GPU-/MIG- UUIDs (or unique prefixes),
    up to the first entry CUDA cannot match, and one MIG slice per process."""
    order = list(gpus)
    if os.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
        # CUDA ranks by throughput; cores x clock is NVML's nearest figure (stable sort:
        # equal cards keep their PCI order). Without it, the newer architecture first.
        order.sort(key=lambda g: (-(g.speed or 0), -_cc(g)))
    raw = os.environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        chosen = order
    else:
        chosen = []
        whole = [g for g in order if not g.mig_profile] or order
        for part in (p.strip() for p in raw.split(",")):
            if part.lstrip("-").isdigit():
                index = int(part)
                if not 0 <= index < len(whole):
                    break  # CUDA stops at the first invalid ordinal
                chosen.append(whole[index])
                continue
            hits = [g for g in order if part and (g.uuid or "").startswith(part)]
            if len(hits) != 1:
                break
            chosen.append(hits[0])
    slices = [g for g in chosen if g.mig_profile]
    return slices[:1] if slices else chosen


def _cc(gpu: GpuInfo) -> float:
    try:
        return float(gpu.compute_capability or 0)
    except ValueError:
        return 0.0


def nvidia_device_nodes() -> bool:
    """Whether this machine has an NVIDIA driver's device files (a GPU container without
    libnvidia-ml still has them): only then is asking torch about CUDA worth its import."""
    return os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/nvidia0")


def plain_gpu_reason(reason: str) -> str:
    """NVML's own words in plain ones: 'NVML Shared Library Not Found' means that no
    NVIDIA GPU driver is installed (the driver brings that library). NVML's words stay in
    brackets, for a search."""
    if "library not found" in reason.lower() and not reason.startswith("no NVIDIA GPU driver"):
        said, _, rest = reason.partition(". ")
        said = said.rstrip(".").removeprefix("NVML: ")
        return (f"no NVIDIA GPU driver was found (the driver's NVML library is missing: {said})"
                + (f". {rest}" if rest else ""))
    return reason


def _explain_no_gpu(reason: str | None) -> str:
    reason = plain_gpu_reason(reason or "no NVIDIA GPU found")
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return (f"{reason}. This is an Apple Silicon Mac: its GPU (MPS) has no NVML and no "
                "bitsandbytes, so plans here are for the CPU and QLoRA is unavailable")
    return f"{reason}. Training runs on the CPU only"


# ----- CPU, RAM, disk -------------------------------------------------------------------

def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # respects taskset / container CPU sets
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# The x86 instructions that compute bf16 matmuls natively. Without them oneDNN emulates bf16
# and a CPU step gets slower, not faster.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
_CPU_FLAGS_CACHE: dict[str, tuple[str, ...]] = {}


def cpu_bf16_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> tuple[str, ...]:
    """The bf16 instruction-set flags this CPU advertises (read once per process; empty where
    /proc/cpuinfo does not exist, as on macOS and Windows)."""
    key = str(cpuinfo)
    if key not in _CPU_FLAGS_CACHE:
        found: set[str] = set()
        try:
            with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.startswith("flags"):
                        found.update(f for f in line.split(":", 1)[-1].split() if f in BF16_CPU_FLAGS)
                        break  # every core lists the same flags
        except OSError:
            pass
        _CPU_FLAGS_CACHE[key] = tuple(f for f in BF16_CPU_FLAGS if f in found)
    return _CPU_FLAGS_CACHE[key]


def cpu_precision(flags, mkldnn_bf16: bool | None = None) -> tuple[str, str]:
    """What ``training.precision: auto`` trains in on this CPU, and why, in words.

    bf16 autocast needs both the instructions (``flags`` from :func:`cpu_bf16_flags`) and a
    torch whose oneDNN uses them (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``; None: not
    checked yet, as in the torch-free planner, so the run checks it at start)."""
    flags = tuple(flags)
    if not flags:
        return "fp32", ("fp32 on the CPU: it has no bf16 instructions (neither AVX512-BF16 nor AMX "
                        "in /proc/cpuinfo), and emulated bf16 would be slower than fp32.")
    have = " and ".join(flags)
    if mkldnn_bf16 is False:
        return "fp32", (f"fp32 on the CPU: it has {have}, but this torch build's oneDNN does not "
                        "use them (torch.ops.mkldnn._is_mkldnn_bf16_supported() is False).")
    checked = "" if mkldnn_bf16 else "; torch confirms it when the run starts"
    return "bf16", (f"bf16 autocast on the CPU: it has {have}{checked}. Weights stay fp32; "
                    "matmuls run in bf16.")


def ram_gb() -> tuple[float, float]:
    """(total, available) RAM in GiB; zeros without psutil."""
    try:
        import psutil
    except ImportError:
        return 0.0, 0.0
    memory = psutil.virtual_memory()
    return memory.total / GB, memory.available / GB


def _disk(output_dir: str | os.PathLike) -> tuple[str, float | None]:
    path = Path(output_dir).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent  # the run folder may not exist yet: measure where it will be
    try:
        return str(path), shutil.disk_usage(path).free / GB
    except OSError:
        return str(path), None
