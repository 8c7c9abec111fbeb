"""Models from the Hugging Face Hub: what a model is before it is fetched, the files a run
needs, a download with progress that can be cancelled and resumes, and one-line messages
for every way it can fail.

Online by default; offline when the user asks (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``
in the environment, ``--offline``, ``model.offline``). A revision that is a commit sha and
already complete in the cache is used without any network access, so a run pinned to its
commit (``model.revision``) resumes, evaluates and exports offline and reproducibly.

The environment is read at each call, not when ``huggingface_hub`` was imported: the cache
folder (``HF_HUB_CACHE`` / ``HF_HOME``), the server (``HF_ENDPOINT``) and offline mode are
passed to the client explicitly. Tokens come from ``HF_TOKEN`` or the client's own login
(``hf auth login``); ft-tui never reads, stores or prints them itself.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ft_tui.core.errors import ModelNotFound

INFO_TIMEOUT_S = 10          # one API call; the hub is called unreachable after it (~30 s at most)
HUB_PAGE = "https://huggingface.co"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".gguf", ".h5", ".msgpack", ".onnx", ".ot")
SIDE_SUFFIXES = (".json", ".jinja", ".model", ".txt", ".tiktoken")
INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


class HubError(ModelNotFound):
    """A hub model that cannot be had; the message is one line saying what to do."""


class DownloadCancelled(Exception):
    """The user cancelled; the partial files stay in the cache and the next try resumes."""


# ----- where and how -------------------------------------------------------------------------

def hub_cache() -> Path:
    """The Hugging Face cache folder as the client computes it, from the environment now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or HUB_PAGE).rstrip("/")


def is_offline(asked: bool = False) -> bool:
    """Offline when asked (``--offline``, ``model.offline``) or the user's environment says so."""
    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return asked or env.strip().lower() in ("1", "true", "yes", "on")


def _sync_client(offline: bool) -> None:
    """huggingface_hub reads HF_HUB_OFFLINE once, at import; keep it equal to the answer now
    (the user may have set or cleared it after the import, e.g. with ``--offline``)."""
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = offline


def is_commit(revision: str) -> bool:
    return len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)


# ----- what a model is -----------------------------------------------------------------------

@dataclass(frozen=True)
class HubModel:
    repo_id: str
    commit: str
    files: dict[str, int]          # the files a run needs -> bytes
    skipped: tuple[str, ...]       # duplicate weights and other files left on the hub
    params: int | None
    gated: bool
    license: str | None
    chat_template: bool | None     # None: the API did not say
    revision_asked: str = ""       # the branch or commit the user named ("" = main)

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())

    def summary(self) -> str:
        """One line: 'org/name: 7.6B parameters, 15.2 GB in 4 files, gated, licence ...'."""
        parts = [f"{_count(self.params)} parameters" if self.params else "parameters unknown",
                 f"{human_bytes(self.total_bytes)} in {len(self.files)} files",
                 "gated (needs access and a token)" if self.gated else "not gated",
                 f"licence {self.license}" if self.license else "licence not given"]
        if self.chat_template is not None:
            parts.append("has a chat template" if self.chat_template else "no chat template (base model)")
        return f"{self.repo_id}: " + ", ".join(parts)


def model_info(repo_id: str, revision: str = "") -> HubModel:
    """Ask the hub what ``repo_id`` is (one API call). Raises HubError."""
    from huggingface_hub import HfApi

    _sync_client(False)
    try:
        info = HfApi(endpoint=endpoint()).model_info(repo_id, revision=revision or None,
                                                     files_metadata=True, timeout=INFO_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - every client error becomes one line
        raise explain(exc, repo_id) from None
    sizes = {s.rfilename: (s.size or 0) for s in info.siblings or []}
    keep = select_files(list(sizes))
    return HubModel(
        repo_id=repo_id, commit=str(info.sha or revision), files={n: sizes[n] for n in keep},
        skipped=tuple(n for n in sizes if n not in keep),
        params=info.safetensors.total if info.safetensors else None,
        gated=bool(info.gated), license=_license(info),
        chat_template=_has_chat_template(info, sizes), revision_asked=revision)


def _license(info) -> str | None:
    card = info.card_data
    value = getattr(card, "license", None) if card is not None else None
    if value:
        return str(value)
    for tag in info.tags or []:
        if tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


def _has_chat_template(info, files: dict) -> bool | None:
    if "chat_template.jinja" in files or "chat_template.json" in files:
        return True
    tok = (info.config or {}).get("tokenizer_config") if isinstance(info.config, dict) else None
    if isinstance(tok, dict):
        return bool(tok.get("chat_template"))
    return None


def select_files(names: list[str]) -> list[str]:
    """The files a run needs: config, tokenizer, chat template and one copy of the weights
    (safetensors when there are any, never .bin/.pth/.gguf duplicates). Subfolders
    (``original/``, ``onnx/``) hold other formats and are left out."""
    top = [n for n in names if "/" not in n]
    weights = [n for n in top if n.endswith(".safetensors")]
    if not weights:
        weights = [n for n in top if n.startswith("pytorch_model") and n.endswith(".bin")]
    index = [n for n in top if n in INDEXES and (n.startswith("model.") if weights and
                                                 weights[0].endswith(".safetensors") else True)]
    side = [n for n in top if n.endswith(SIDE_SUFFIXES) and n not in INDEXES
            and not n.endswith(WEIGHT_SUFFIXES)]
    return sorted(set(weights + index + side))


# ----- the local cache -----------------------------------------------------------------------

def _repo_folder(repo_id: str) -> Path:
    return hub_cache() / ("models--" + repo_id.replace("/", "--"))


def cached_commit(repo_id: str, revision: str = "") -> str | None:
    """The commit the cache holds for ``revision`` (a branch's last download, or the sha)."""
    if is_commit(revision):
        return revision if (_repo_folder(repo_id) / "snapshots" / revision).is_dir() else None
    ref = _repo_folder(repo_id) / "refs" / (revision or "main")
    try:
        return ref.read_text().strip() or None
    except OSError:
        return None


def snapshot_folder(repo_id: str, commit: str) -> Path:
    return _repo_folder(repo_id) / "snapshots" / commit


def missing_files(folder: Path) -> list[str]:
    """Files a usable snapshot lacks: config.json, and every shard named in the weights index
    (a snapshot cut short keeps the index but not all the shards). A file whose link points
    at a blob that is gone counts as missing."""
    missing = [] if (folder / "config.json").exists() else ["config.json"]
    for index in INDEXES:
        path = folder / index
        if path.exists():
            try:
                shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError, AttributeError):
                return missing + [f"{index} (unreadable)"]
            return missing + [s for s in shards if not (folder / s).exists()]
    if not any(f.exists() for f in folder.glob("*.safetensors")) and \
            not any(f.exists() for f in folder.glob("pytorch_model*.bin")):
        missing.append("model.safetensors")
    return missing


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds ``folder`` (or the nearest existing parent)."""
    folder = Path(folder)
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return shutil.disk_usage(folder).free


# ----- download ------------------------------------------------------------------------------

@dataclass
class Progress:
    """What a progress line shows. ``speed`` in bytes/s over the last seconds; ``eta`` in s."""

    repo_id: str
    done: int = 0
    total: int = 0
    file: str = ""
    files_done: int = 0
    files_total: int = 0
    speed: float = 0.0
    eta: float | None = None
    finished: bool = False
    to_fetch: int = 0            # bytes not in the cache when it started
    _window: list = field(default_factory=list, repr=False)

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        self._window.append((now, self.done))
        while len(self._window) > 2 and now - self._window[0][0] > 5:
            self._window.pop(0)
        t0, d0 = self._window[0]
        if now - t0 > 0.2:
            self.speed = (self.done - d0) / (now - t0)
            self.eta = (self.total - self.done) / self.speed if self.speed > 0 else None

    def line(self) -> str:
        eta = "-" if self.eta is None else _duration(self.eta)
        return (f"Downloading {self.repo_id}: {human_bytes(self.done)} / {human_bytes(self.total)}"
                f" ({self.files_done}/{self.files_total} files)  {human_bytes(self.speed)}/s"
                f"  ETA {eta}")


@dataclass(frozen=True)
class Snapshot:
    repo_id: str
    commit: str
    path: Path
    downloaded: int     # bytes fetched by this call (0: all were cached)


def fetch_model(repo_id: str, revision: str = "", *, offline: bool = False,
                on_progress: Callable[[Progress], None] | None = None,
                cancel: threading.Event | None = None, log: Callable[[str], None] = print,
                on_info: Callable[[HubModel], None] | None = None) -> Snapshot:
    """The model's snapshot folder in the HF cache, downloaded first where needed.

    A commit already complete in the cache is used as is, without network. Offline, only the
    cache is looked at. Online, the hub says which commit ``revision`` is and which files it
    has; what is not cached yet is checked against the free disk and fetched, with
    ``on_progress`` called as bytes arrive (``on_info`` first, with what the model is).
    ``cancel`` set stops it (DownloadCancelled);
    partial files stay and the next call resumes them. Raises HubError."""
    offline = is_offline(offline)
    cached = cached_commit(repo_id, revision)
    if offline or (cached and is_commit(revision) and not missing_files(snapshot_folder(repo_id, cached))):
        return cached_snapshot(repo_id, revision)
    try:
        model = model_info(repo_id, revision)
    except HubError as exc:
        if getattr(exc, "unreachable", False) and cached:
            folder = snapshot_folder(repo_id, cached)
            if not missing_files(folder):
                log(f"cannot reach the Hugging Face Hub at {endpoint()}; using the cached "
                    f"snapshot {cached[:12]} of {repo_id}")
                return Snapshot(repo_id, cached, folder, 0)
        raise
    if on_info:
        on_info(model)
    return _download(model, on_progress, cancel)


def cached_snapshot(repo_id: str, revision: str = "") -> Snapshot:
    """The complete snapshot of ``revision`` in the cache, without network. Raises HubError
    naming what is missing (the whole model, or the shards a cut-short download lacks)."""
    cached = cached_commit(repo_id, revision)
    if cached is None:
        raise HubError(f"{repo_id} is not in the Hugging Face cache ({hub_cache()}) and offline "
                       "mode is on (--offline, model.offline or HF_HUB_OFFLINE): run `ft-tui "
                       f"download {repo_id}` on a machine with network first, or pass a local "
                       "model folder")
    folder = snapshot_folder(repo_id, cached)
    missing = missing_files(folder)
    if missing:
        raise HubError(f"{repo_id}: the cached snapshot {cached[:12]} is incomplete (missing "
                       f"{', '.join(missing)}); run `ft-tui download {repo_id}` where there is "
                       "network to fetch the rest")
    return Snapshot(repo_id, cached, folder, 0)


def _download(model: HubModel, on_progress, cancel) -> Snapshot:
    folder = snapshot_folder(model.repo_id, model.commit)
    todo = {n: s for n, s in model.files.items() if not (folder / n).exists()}
    partial = _partial_bytes(model.repo_id)
    needed = max(0, sum(todo.values()) - partial)
    free = free_bytes(hub_cache())
    if needed > free:
        raise HubError(f"not enough disk for {model.repo_id}: {human_bytes(needed)} needed, "
                       f"{human_bytes(free)} free in {hub_cache()}; free some space, or set "
                       "HF_HOME to a folder on a bigger disk")
    progress = Progress(model.repo_id, total=model.total_bytes,
                        done=model.total_bytes - sum(todo.values()),
                        files_total=len(model.files), files_done=len(model.files) - len(todo),
                        to_fetch=sum(todo.values()))
    bar = _bar_class(progress, on_progress, cancel)
    for name in sorted(todo, key=lambda n: todo[n]):   # small files first: a bad token fails early
        progress.file = name
        if on_progress:
            on_progress(progress)
        try:
            _fetch_file(model, name, bar)
        except DownloadCancelled:
            raise
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, model.repo_id, file=name) from None
        progress.files_done += 1
    progress.finished, progress.eta = True, 0
    if on_progress:
        on_progress(progress)
    _write_ref(model.repo_id, model.revision_asked, model.commit)
    missing = missing_files(folder)
    if missing:
        raise HubError(f"{model.repo_id} at {model.commit[:12]} is incomplete on the hub: "
                       f"{', '.join(missing)} named in its index is not in the repo; pick another "
                       "revision (model.revision) or model")
    return Snapshot(model.repo_id, model.commit, folder, sum(todo.values()))


def _fetch_file(model: HubModel, name: str, bar) -> None:
    """One file into the cache's layout (blobs/<etag>, snapshots/<commit>/<name> linking to
    it). huggingface_hub 2.5 resumes a dropped connection within one call but deletes its
    partial file when the call ends (file_download.py, _download_to_tmp_and_move), so a Ctrl+C
    would lose a half-fetched 5 GB shard. Here the partial bytes stay in blobs/<etag>.part and
    the next call asks for the rest with a Range request, through the client's own http_get."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(model.repo_id, name, revision=model.commit, endpoint=endpoint())
    meta = get_hf_file_metadata(url, timeout=INFO_TIMEOUT_S, endpoint=endpoint())
    if meta.xet_file_data is not None and not os.environ.get("HF_HUB_DISABLE_XET"):
        # Xet storage: the client's own transfer (it keeps its chunk cache across calls)
        hf_hub_download(model.repo_id, name, revision=model.commit, cache_dir=str(hub_cache()),
                        endpoint=endpoint(), tqdm_class=bar, etag_timeout=INFO_TIMEOUT_S)
        return
    repo = _repo_folder(model.repo_id)
    blob = repo / "blobs" / str(meta.etag)
    if not blob.exists():
        part = blob.with_name(blob.name + ".part")
        part.parent.mkdir(parents=True, exist_ok=True)
        start = part.stat().st_size if part.exists() else 0
        if meta.size is not None and start > meta.size:
            part.unlink()
            start = 0
        headers = build_hf_headers()
        if meta.location != url and urlparse_host(meta.location) != urlparse_host(url):
            headers.pop("authorization", None)   # a signed CDN address: no token to a third party
        with open(part, "ab") as fh:
            http_get(meta.location, fh, resume_size=start, headers=headers,
                     expected_size=meta.size, displayed_filename=name, tqdm_class=bar)
        os.replace(part, blob)
    link = repo / "snapshots" / model.commit / name
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.unlink(missing_ok=True)   # a link to a blob that is gone
        os.symlink(os.path.relpath(blob, link.parent), link)


def urlparse_host(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).netloc


def _write_ref(repo_id: str, revision: str, commit: str) -> None:
    """Record which commit a branch name means, as the client does (refs/<branch>), so an
    offline run later finds it; files fetched by commit do not write it themselves."""
    from ft_tui.core.atomic import atomic_write_text

    if not is_commit(revision):
        atomic_write_text(_repo_folder(repo_id) / "refs" / (revision or "main"), commit)


def _partial_bytes(repo_id: str) -> int:
    """Bytes already in partial files of this repo (the next download resumes them)."""
    blobs = _repo_folder(repo_id) / "blobs"
    return sum(p.stat().st_size for p in blobs.glob("*.part")) if blobs.is_dir() else 0


def _bar_class(progress: Progress, on_progress, cancel):
    """A tqdm stand-in the client feeds (huggingface_hub calls a class that is not a tqdm
    subclass with its keyword arguments only). It adds bytes to ``progress`` and raises
    DownloadCancelled between chunks once ``cancel`` is set."""

    class Bar:
        def __init__(self, *args, initial: int = 0, **kwargs):
            if initial:   # a resumed file: its bytes on disk count as done, not as speed
                progress.done += initial
                progress._window.clear()

        def update(self, n: int = 1) -> None:
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled(f"download of {progress.repo_id} cancelled; run it again "
                                        "to resume where it stopped")
            progress.add(n)
            if on_progress:
                on_progress(progress)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def close(self) -> None:
            pass

        def set_description(self, *args, **kwargs) -> None:
            pass

    return Bar


# ----- messages ------------------------------------------------------------------------------

def explain(exc: Exception, repo_id: str, file: str | None = None) -> HubError:
    """A client error as one line: gated, not found, token refused, unreachable, offline..."""
    from huggingface_hub import errors

    token = _token_given()
    page = f"{HUB_PAGE}/{repo_id}"
    if isinstance(exc, errors.GatedRepoError):
        if token:
            text = (f"{repo_id} is gated and your token's account has no access yet: request it on "
                    f"{page} and wait for approval")
        else:
            text = (f"{repo_id} is gated: request access on {page}, then log in with "
                    "`hf auth login` or set HF_TOKEN")
    elif isinstance(exc, errors.RevisionNotFoundError):
        text = f"{repo_id} has no revision like that on the hub; check model.revision"
    elif isinstance(exc, errors.RepositoryNotFoundError):
        close = suggestions(repo_id)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        text = f"no model {repo_id} on the Hugging Face Hub (or it is private){hint}"
    elif isinstance(exc, (errors.RemoteEntryNotFoundError, errors.EntryNotFoundError)):
        text = (f"{repo_id} is incomplete on the hub: {file or 'a file'} it lists cannot be "
                "downloaded; pick another revision (model.revision) or model")
    elif isinstance(exc, errors.OfflineModeIsEnabled):
        text = f"{repo_id} is not cached and offline mode is on; unset HF_HUB_OFFLINE to download it"
    elif isinstance(exc, errors.HfHubHTTPError) and _status(exc) == 401:
        text = ("the Hugging Face token was refused (from HF_TOKEN or `hf auth login`): create a "
                f"new one at {HUB_PAGE}/settings/tokens and log in again")
    elif _is_network(exc):
        error = HubError(f"cannot reach the Hugging Face Hub at {endpoint()} for {repo_id} "
                         f"({_short(exc)}): pass a local model folder, or run `ft-tui download "
                         f"{repo_id}` where there is network and use --offline here")
        error.unreachable = True   # type: ignore[attr-defined]
        return error
    elif isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
        text = (f"the disk holding {hub_cache()} filled up while downloading {repo_id}: free "
                "some space or set HF_HOME to a bigger disk, then run it again to resume")
    else:
        text = f"could not download {repo_id}: {_short(exc)}"
    return HubError(text)


def _status(exc) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _is_network(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectError", "TimeoutException", "NetworkError", "TransportError",
                         "ConnectionError", "LocalEntryNotFoundError"}) or \
        (isinstance(exc, OSError) and "connect" in str(exc).lower())


def _short(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def _token_given() -> bool:
    """Whether the client will send a token; its value is never read into ft-tui's own data."""
    try:
        from huggingface_hub import get_token

        return get_token() is not None
    except Exception:  # noqa: BLE001
        return False


# Hub ids of the models ft-tui's planner knows by size (core/plan/model_profile.py's table),
# offered as close names for a typo. Kept here because models/ sits below plan/.
KNOWN_HUB_IDS = (
    "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Llama-2-7b-chat-hf", "meta-llama/Llama-2-13b-chat-hf",
    "mistralai/Mistral-7B-Instruct-v0.3", "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "google/gemma-2-2b-it",
    "google/gemma-2-9b-it", "microsoft/Phi-3-mini-4k-instruct",
    "HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-360M-Instruct",
    "HuggingFaceTB/SmolLM2-1.7B-Instruct",
)


def suggestions(repo_id: str, limit: int = 3) -> list[str]:
    """Close names: the hub's own search for the name (most downloaded first, when it
    answers), models already in the cache, and the hub ids of ft-tui's known models."""
    import difflib

    cached = []
    try:
        cached = [p.name[len("models--"):].replace("--", "/") for p in hub_cache().glob("models--*")]
    except OSError:
        pass
    names = {n.lower(): n for n in cached + list(KNOWN_HUB_IDS)}
    key = repo_id.lower()
    close = difflib.get_close_matches(key, list(names), n=limit, cutoff=0.5)
    close += difflib.get_close_matches(key.split("/")[-1], list(names), n=limit, cutoff=0.5)
    found = [m for m in search(repo_id.split("/")[-1], limit) if m.lower() != key]
    return list(dict.fromkeys(found + [names[c] for c in close]))[:limit]


def search(text: str, limit: int = 5) -> list[str]:
    """Hub ids matching ``text``, most downloaded first; [] when offline or unreachable."""
    if is_offline() or len(text.strip()) < 2:
        return []
    try:
        from huggingface_hub import HfApi

        _sync_client(False)
        found = HfApi(endpoint=endpoint()).list_models(search=text.strip(), sort="downloads",
                                                       limit=limit)
        return [m.id for m in found]
    except Exception:  # noqa: BLE001 - a search is a nicety; it fails quietly
        return []


# ----- numbers for people --------------------------------------------------------------------

def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _count(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n:,}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
