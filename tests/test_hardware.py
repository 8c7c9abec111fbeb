"""The hardware probe: NVML missing, failing or faked with two GPUs; never a crash."""

import json
import subprocess
import sys
import types

import pytest

from ft_tui.core.plan import hardware
from ft_tui.core.plan.hardware import probe, reset_nvml_cache

MIB = 1024 ** 2


class FakeNVMLError(Exception):
    """pynvml's error base class."""


class FakeNotSupported(FakeNVMLError):
    pass


def fake_nvml(devices=(), init_error=None, calls=None):
    """A stand-in for the pynvml module. ``devices``: dicts with name, total/used MiB, cc,
    util, temp, power (None: the card does not report it)."""
    calls = calls if calls is not None else {}
    mod = types.ModuleType("pynvml")
    mod.NVMLError = FakeNVMLError
    mod.NVML_TEMPERATURE_GPU = 0

    def count(name):
        calls[name] = calls.get(name, 0) + 1

    def nvmlInit():
        count("init")
        if init_error:
            raise init_error

    def reading(key):
        def read(handle, *args):
            value = devices[handle][key]
            if value is None:
                raise FakeNotSupported("Not Supported")
            return value
        return read

    mod.nvmlInit = nvmlInit
    mod.nvmlShutdown = lambda: count("shutdown")
    mod.nvmlDeviceGetCount = lambda: len(devices)
    mod.nvmlDeviceGetHandleByIndex = lambda i: i
    mod.nvmlDeviceGetName = reading("name")
    mod.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(
        total=devices[h]["total"] * MIB, used=devices[h]["used"] * MIB,
        free=(devices[h]["total"] - devices[h]["used"]) * MIB)
    mod.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=reading("util")(h))
    mod.nvmlDeviceGetTemperature = reading("temp")
    mod.nvmlDeviceGetPowerUsage = reading("power")
    mod.nvmlDeviceGetCudaComputeCapability = reading("cc")
    mod.nvmlSystemGetDriverVersion = lambda: b"550.54.15"
    mod.nvmlSystemGetCudaDriverVersion = lambda: 12040
    return mod


TWO_GPUS = [
    {"name": b"NVIDIA GeForce RTX 4090", "total": 24564, "used": 1564, "cc": (8, 9),
     "util": 37, "temp": 61, "power": 215_500},
    {"name": "Tesla T4", "total": 15360, "used": 0, "cc": (7, 5), "util": 0, "temp": 40,
     "power": None},
]


@pytest.fixture(autouse=True)
def fresh_nvml(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    reset_nvml_cache()
    yield
    reset_nvml_cache()


def test_nvml_library_missing_gives_the_exact_error_and_cpu_only(monkeypatch):
    error = type("NVMLError_LibraryNotFound", (FakeNVMLError,), {})("NVML Shared Library Not Found")
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(init_error=error))
    info = probe()
    assert info.gpus == []
    assert "NVML Shared Library Not Found" in info.no_gpu_reason
    assert "CPU" in info.no_gpu_reason


def test_pynvml_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    info = probe()
    assert info.gpus == [] and "nvidia-ml-py" in info.no_gpu_reason


def test_apple_silicon_mentions_mps(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr(hardware.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(hardware.platform, "machine", lambda: "arm64")
    assert "MPS" in probe().no_gpu_reason


def test_driver_without_gpus(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(devices=[]))
    info = probe()
    assert info.gpus == [] and "no NVIDIA GPU" in info.no_gpu_reason and "550.54.15" in info.no_gpu_reason


def test_two_fake_gpus_are_read_in_full(monkeypatch):
    calls = {}
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(TWO_GPUS, calls=calls))
    info = probe()
    assert info.no_gpu_reason is None
    first, second = info.gpus
    assert first.name == "NVIDIA GeForce RTX 4090"          # bytes decoded
    assert first.total_gb == pytest.approx(24564 / 1024)
    assert first.used_gb == pytest.approx(1564 / 1024)
    assert first.free_gb == pytest.approx(23000 / 1024)
    assert (first.utilization_pct, first.temperature_c, first.power_w) == (37, 61, 215.5)
    assert first.compute_capability == "8.9" and first.bf16_supported and first.flash_attention_supported
    assert (first.driver_version, first.cuda_version) == ("550.54.15", "12.4")
    assert second.name == "Tesla T4" and second.compute_capability == "7.5"
    assert not second.bf16_supported and not second.flash_attention_supported
    assert second.power_w is None                           # "Not Supported" is not a crash
    assert second.memory_total_gb == second.total_gb == pytest.approx(15.0)
    json.dumps(info.to_dict())                              # the --json contract

    probe()
    assert calls["init"] == 1                               # NVML initialised once, handles cached


def test_cuda_visible_devices_filters_like_cuda(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(TWO_GPUS))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert [g.name for g in probe().gpus] == ["Tesla T4"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    info = probe()
    assert info.gpus == [] and "CUDA_VISIBLE_DEVICES" in info.no_gpu_reason


def test_failed_init_is_remembered(monkeypatch):
    calls = {}
    error = FakeNVMLError("Driver Not Loaded")
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(init_error=error, calls=calls))
    for _ in range(3):
        assert "Driver Not Loaded" in probe().no_gpu_reason
    assert calls["init"] == 1  # a GPU-less laptop does not retry the library every second


def test_cpu_ram_and_disk_of_a_folder_not_created_yet(tmp_path):
    info = probe(tmp_path / "runs" / "not-yet")
    assert info.cpu_cores >= 1
    assert 0 < info.ram_available_gb <= info.ram_total_gb
    assert info.disk_path == str(tmp_path) and info.disk_free_gb > 0


def test_probe_imports_no_torch():
    code = ("import sys; from ft_tui.core.plan.hardware import probe; probe(); "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx2 avx512f {extra} avx512_vnni
processor\t: 1
flags\t\t: fpu sse2 avx2 avx512f {extra} avx512_vnni
"""


@pytest.mark.parametrize("extra,flags", [
    ("avx512_bf16 amx_tile amx_bf16", ("avx512_bf16", "amx_bf16")),
    ("avx512_bf16", ("avx512_bf16",)),
    ("", ()),
])
def test_cpu_bf16_flags_come_from_cpuinfo(tmp_path, extra, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(extra=extra))
    assert hardware.cpu_bf16_flags(path) == flags
    assert hardware.cpu_bf16_flags(tmp_path / "absent") == ()   # macOS, Windows: no file


def test_cpu_precision_needs_the_instructions_and_torch_using_them():
    mode, why = hardware.cpu_precision(("avx512_bf16",), mkldnn_bf16=True)
    assert mode == "bf16" and "avx512_bf16" in why
    mode, why = hardware.cpu_precision(("amx_bf16",), mkldnn_bf16=False)
    assert mode == "fp32" and "oneDNN" in why
    mode, why = hardware.cpu_precision((), mkldnn_bf16=True)
    assert mode == "fp32" and "no bf16 instructions" in why
    # The torch-free planner cannot ask oneDNN: it plans bf16 and says the run checks.
    mode, why = hardware.cpu_precision(("amx_bf16",))
    assert mode == "bf16" and "when the run starts" in why
