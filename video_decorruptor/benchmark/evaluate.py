"""Accuracy of a video classifier on corrupted video, as is and with test-time adaptation.

Modes, reported side by side (REFERENCE sections 2-4):

- ``source``: the corrupted clip as is;
- ``restored``: the clip edited by a Decorruptor editor;
- ``ensemble``: the sum of the two logits (the DDA protocol);
- ``tent``: TENT over the test stream of each corruption and severity, reset for the next one;
- ``restored+tent``: TENT over the stream of restored clips.

Work is cached under ``cache_dir`` so a rerun, or a run that adds a mode, redoes nothing: restored
clips (one compressed file per video, keyed by the editor's settings and ``RESTORATION_VERSION``)
and logits (one file per classifier, mode and stream). Under ``torchrun --nproc_per_node N``
videos are sharded across ranks for the stateless modes and whole streams for TENT (which adapts
along its stream, so a stream must stay in one process); rank 0 gathers everything, and the result equals a single
process's run. The ranks share ``cache_dir``, so run them on one machine or a shared filesystem.

One file because it is one evaluation: the modes, the cache keys and the sharding across ranks all
work on the same streams and must agree for a rerun to reuse cached work; about 460 lines.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from image_core.io import atomic_path
from video_decorruptor.benchmark.caches import RESTORATION_VERSION, LogitCache, cache_key, file_identity, video_key
from video_decorruptor.benchmark.data import UCF101, UCF101C, read_class_index, uniform_indices
from video_decorruptor.benchmark.distributed import all_gather, barrier, process_group
from video_decorruptor.benchmark.report import markdown_table, plot_accuracy, write_csv
from video_decorruptor.io import VideoError
from video_decorruptor.recognition.classifiers import (
    VIDEO_MODELS,
    VideoClassifier,
    classification_head,
    create_video_classifier,
)
from video_decorruptor.recognition.tent import Tent
from video_decorruptor.restore.presets import RestorerConfig

__all__ = ["MODES", "EvaluationConfig", "EvaluationResult", "evaluate", "markdown_table"]

MODES = ("source", "restored", "ensemble", "tent", "restored+tent")
STREAM_ORDER_SEED = 20240927  # TENT sees each stream in one fixed shuffled order (split lists are sorted by class)
STAGES = ("decode", "restore", "classify_source", "classify_restored", "tent_source", "tent_restored")
MODE_STAGES = {
    "source": ("decode", "classify_source"),
    "restored": ("decode", "restore", "classify_restored"),
    "ensemble": ("decode", "restore", "classify_source", "classify_restored"),
    "tent": ("decode", "tent_source"),
    "restored+tent": ("decode", "restore", "tent_restored"),
}


@dataclass
class EvaluationConfig:
    """What to evaluate.

    Args:
        data: a UCF-101C folder (``<corruption>/<severity>/<Class>/<video>.mp4``) or, with
            ``on_the_fly``, a clean UCF-101 folder whose sampled clips are corrupted in memory.
        splits_dir: folder with classInd.txt and the split lists.
        corruptions, severities: the streams to evaluate (every pair).
        modes: a subset of ``MODES``.
        classifier: a key of ``VIDEO_MODELS``; ``weights`` its checkpoint (None: the embedded model
            for ``tiny_action_net``).
        editor: the restorer: checkpoint, preset and option overrides
            (:class:`~video_decorruptor.restore.presets.RestorerConfig`; default: the embedded model
            with the default preset). The restored clips' cache key holds every setting it resolves
            to (:func:`video_decorruptor.restore.resolve_settings`), so a new setting cannot be missed.
        clip_length: frames per clip, sampled uniformly over the video (None: what the classifier needs, else 16).
        batch_size: clips per classifier batch, and per TENT update.
        tent_learning_rate: TENT's SGD step size.
        limit: only the first ``limit`` videos of the split (quick looks).
        output_dir: where results.csv, results.json and accuracy.png go.
        cache_dir: restored clips and logits (None: ``output_dir/cache``).
        on_the_fly: ``data`` is clean UCF-101; each sampled clip is corrupted with a seed derived
            from (corruption, severity, file name). Temporal corruptions act on the sampled clip, not
            the whole video, so this approximates UCF-101C; ``make-ucf101c`` builds the real thing.
        device: for the classifier and the editor (None: cuda when available).
        progress: show a progress bar over videos (rank 0).
        restored_data: a restored copy of ``data`` (``restore-dataset``, same layout): the restored
            modes read their clips from it, sampled at the same frame indices, instead of restoring.
    """

    data: Path
    splits_dir: Path
    corruptions: Sequence[str]
    severities: Sequence[int] = (5,)
    modes: Sequence[str] = MODES
    split: str = "test1"
    classifier: str = "tiny_action_net"
    weights: str | None = None
    editor: RestorerConfig = field(default_factory=RestorerConfig)
    clip_length: int | None = None
    batch_size: int = 8
    tent_learning_rate: float = 1e-3
    limit: int | None = None
    output_dir: Path = Path("evaluation")
    cache_dir: Path | None = None
    on_the_fly: bool = False
    backend: str = "pyav"
    seed: int = 0
    device: str | None = None
    progress: bool = True
    restored_data: Path | None = None


@dataclass
class EvaluationResult:
    """Top-1 accuracy (%) per mode and stream ``"<corruption>-<severity>"`` and the mean per mode.

    Timing, measured in this run (0 where the cache answered): ``seconds_per_clip`` per stage
    (decode, restore, classify_source, classify_restored, tent_source, tent_restored) and
    ``mode_seconds_per_clip``, what one clip costs in each mode (the sum of its stages).
    ``unreadable``: videos that could not be decoded (truncated, damaged), left out of every mode's
    accuracy and named here with the reason.
    """

    accuracy: dict[str, dict[str, float]]
    mean: dict[str, float]
    videos: int
    seconds_per_clip: dict[str, float] = field(default_factory=dict)
    mode_seconds_per_clip: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, dict[str, str]] = field(default_factory=dict)  # stream -> {video: why}, left out


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


@dataclass
class _Stream:
    corruption: str
    severity: int
    dataset: UCF101

    @property
    def name(self) -> str:
        return f"{self.corruption}-{self.severity}"


def check_classes(
    classifier: VideoClassifier, weights: str | Path | None, classes: dict[str, int], splits_dir: str | Path
) -> None:
    """Refuse a classifier whose outputs cannot be the classes of ``classInd.txt``: scores would be
    numbers that mean nothing. The embedded TinyActionNet (no ``weights``) knows only its synthetic
    classes; any other classifier must have one output per class.

    Raises:
        ValueError: naming both sides and what to pass instead.
    """
    _, head = classification_head(classifier.model)
    outputs = head.out_features if isinstance(head, torch.nn.Linear) else head.out_channels
    names = list(classes)
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    listed = f"{splits_dir}/classInd.txt lists {len(names)} classes ({shown})"
    if classifier.name == "tiny_action_net" and weights is None:
        from video_decorruptor.recognition.synthetic_actions import ACTION_CLASSES

        if [name.lower() for name in classes] != [name.lower() for name in ACTION_CLASSES]:
            raise ValueError(
                f"the embedded tiny_action_net knows only its {len(ACTION_CLASSES)} synthetic classes "
                f"({', '.join(ACTION_CLASSES[:3])}, ...); {listed}: pass --weights of a classifier trained on them "
                "(video-decorruptor train-classifier)"
            )
    elif outputs != len(classes):
        raise ValueError(
            f"{classifier.name} has {outputs} outputs{f' ({weights})' if weights else ''}; {listed}: pass --weights "
            "of a classifier trained on these classes (video-decorruptor train-classifier)"
        )


class _Evaluator:
    def __init__(self, config: EvaluationConfig, rank: int, world: int):
        self.config, self.rank, self.world = config, rank, world
        unknown = [mode for mode in config.modes if mode not in MODES]
        if unknown or not config.modes:
            raise ValueError(f"unknown mode(s) {', '.join(unknown) or '(none given)'}; allowed: {', '.join(MODES)}")
        if config.classifier not in VIDEO_MODELS:
            raise ValueError(f"unknown video model {config.classifier!r}; allowed: {', '.join(VIDEO_MODELS)}")
        self.device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        spec = VIDEO_MODELS[config.classifier]
        self.clip_length = config.clip_length or spec.frames or max(16, spec.min_frames)
        if (spec.frames and self.clip_length != spec.frames) or self.clip_length < spec.min_frames:
            wanted = spec.frames or f"at least {spec.min_frames}"
            raise ValueError(
                f"{config.classifier} takes clips of {wanted} frames; the clip length asked is {self.clip_length}"
            )
        self.classifier: VideoClassifier = create_video_classifier(config.classifier, config.weights).to(self.device)
        check_classes(self.classifier, config.weights, read_class_index(config.splits_dir), config.splits_dir)
        cache = Path(config.cache_dir or Path(config.output_dir) / "cache")
        weights = config.weights
        if weights is None and config.classifier == "tiny_action_net":
            from video_decorruptor.recognition.action_net import EMBEDDED_ACTION_MODEL

            weights = str(EMBEDDED_ACTION_MODEL)  # retrained embedded weights get a new cache key
        if not self.needs("restored", "ensemble", "restored+tent"):
            self.editor_key = "none"
        elif config.restored_data is not None:
            self.editor_key = "data-" + cache_key(file_identity(str(config.restored_data)))
        else:
            self.editor_key = self._editor_key()
        self.restored_dir = cache / "restored" / self.editor_key
        self._editor = None
        self.seconds = {stage: 0.0 for stage in STAGES}
        self.counts = {stage: 0 for stage in STAGES}
        self.streams = [_Stream(c, s, self._dataset(c, s)) for c in config.corruptions for s in config.severities]
        self.restored_streams = {
            stream.name: self._dataset(stream.corruption, stream.severity, config.restored_data)
            for stream in self.streams
            if config.restored_data is not None
        }
        self.unreadable: dict[str, dict[str, str]] = {stream.name: {} for stream in self.streams}
        # Cached results are filed under the stream and the identity of its files (the clean videos
        # when corrupting on the fly): another or a rebuilt UCF-101C never serves stale clips or logits.
        clean_identity = cache_key(file_identity(str(config.data)), "on the fly") if config.on_the_fly else None
        self.stream_folders = {
            s.name: f"{s.name}-"
            f"{clean_identity or cache_key(file_identity(str(s.dataset.root)), file_identity(s.dataset.list_file))}"
            for s in self.streams
        }
        if rank == 0 and config.progress and not config.on_the_fly and self.streams:
            print(self.streams[0].dataset.layout.describe(), flush=True)
        classifier_key = cache_key(config.classifier, file_identity(weights), self.clip_length)
        self.logits = LogitCache(
            cache / "logits" / f"{config.classifier}-{classifier_key}", self.stream_folders, self.editor_key
        )

    def _editor_key(self) -> str:
        """The restored clips' cache key: the checkpoint's files and every setting the restorer will
        run with, resolved as it resolves them, so a new setting can never be left out."""
        from image_core.editor.loading import EMBEDDED_DEFAULT, checkpoint_settings
        from video_decorruptor.restore.restorer import resolve_settings

        config, restorer = self.config, self.config.editor
        video, editor = resolve_settings(*checkpoint_settings(restorer.checkpoint), restorer.preset, **restorer.options)
        return cache_key(
            RESTORATION_VERSION,
            file_identity(restorer.checkpoint or str(EMBEDDED_DEFAULT)),
            asdict(video),
            asdict(editor),
            config.seed,
            self.clip_length,
        )

    # -- data ---------------------------------------------------------------------------------

    def _dataset(self, corruption: str, severity: int, root: Path | None = None) -> UCF101:
        """One stream's clips from ``config.data``, or from ``root`` (a restored copy of it)."""
        config = self.config

        def sampler(num_frames: int) -> np.ndarray:
            return uniform_indices(num_frames, self.clip_length)

        from video_decorruptor.benchmark.corruptions import VIDEO_CORRUPTIONS

        if corruption not in VIDEO_CORRUPTIONS:
            raise ValueError(f"unknown corruption {corruption!r}; allowed: {', '.join(VIDEO_CORRUPTIONS)}")
        kwargs = {"split": config.split, "sampler": sampler, "output": "uint8", "backend": config.backend}
        if config.on_the_fly and root is None:
            return UCF101(config.data, config.splits_dir, **kwargs)
        return UCF101C(root or config.data, config.splits_dir, corruption, severity, **kwargs)

    def indices(self, stream: _Stream) -> range:
        count = len(stream.dataset) if self.config.limit is None else min(self.config.limit, len(stream.dataset))
        return range(count)

    def relative_path(self, stream: _Stream, index: int) -> str:
        return stream.dataset.entries[index].relative_path

    def readable(
        self, stream: _Stream, index: int, restored: bool = False, frames: np.ndarray | None = None
    ) -> np.ndarray | None:
        """:meth:`clip` (or, ``restored``, :meth:`restored` of ``frames``), or None when the video
        cannot be decoded: recorded in ``unreadable``, so that one damaged file is left out of the
        scores instead of stopping the run."""
        path = self.relative_path(stream, index)
        if path in self.unreadable[stream.name]:
            return None
        try:
            return self.restored(stream, index, frames) if restored else self.clip(stream, index)
        except VideoError as error:
            self.unreadable[stream.name][path] = str(error)
            return None

    def clip(self, stream: _Stream, index: int) -> np.ndarray:
        """The corrupted clip (T, H, W, 3) uint8."""
        started = time.perf_counter()
        clip, _, _ = stream.dataset[index]
        frames = np.ascontiguousarray(clip.permute(1, 2, 3, 0).numpy())
        if self.config.on_the_fly:
            from video_decorruptor.benchmark.corruptions import corrupt_frames
            from video_decorruptor.benchmark.ucf101c import derive_seed

            name = Path(self.relative_path(stream, index)).name
            frames = corrupt_frames(
                frames, stream.corruption, stream.severity, rng=derive_seed(stream.corruption, stream.severity, name)
            )
        self._clock("decode", started, 1)
        return frames

    def _clock(self, stage: str, started: float, clips: int) -> None:
        self.seconds[stage] += time.perf_counter() - started
        self.counts[stage] += clips

    # -- editing ------------------------------------------------------------------------------

    @property
    def editor(self):
        if self._editor is None:
            from video_decorruptor.restore.restorer import VideoDecorruptor

            restorer = self.config.editor
            self._editor = VideoDecorruptor.from_pretrained(
                restorer.checkpoint,
                device=self.device,
                preset=restorer.preset,
                seed=self.config.seed,
                progress=False,
                **restorer.options,
            )
        return self._editor

    def restored(self, stream: _Stream, index: int, frames: np.ndarray | None = None) -> np.ndarray:
        """The edited clip: from ``restored_data`` when given, else from the cache when an earlier
        run made it, else restored now."""
        if self.config.restored_data is not None:
            return self._restored_copy(stream, index)
        path = self.restored_dir / self.stream_folders[stream.name] / (self.relative_path(stream, index) + ".npz")
        if path.is_file():
            with np.load(path) as stored:
                return stored["frames"]
        if frames is None:
            frames = self.clip(stream, index)
        started = time.perf_counter()
        edited = self.editor.restore_frames(frames)
        self._clock("restore", started, 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, clear_stale=True) as temporary:
            with open(temporary, "wb") as handle:
                np.savez_compressed(handle, frames=edited)
        return edited

    def _restored_copy(self, stream: _Stream, index: int) -> np.ndarray:
        """The clip of the restored copy of ``stream``'s video ``index``, sampled as the corrupted one is."""
        mirror = self.restored_streams[stream.name]
        path = self.relative_path(stream, index)
        if index >= len(mirror) or mirror.entries[index].relative_path != path:
            raise VideoError(f"{path} is missing from the restored copy {self.config.restored_data}")
        started = time.perf_counter()
        clip, _, _ = mirror[index]
        self._clock("decode", started, 1)
        return np.ascontiguousarray(clip.permute(1, 2, 3, 0).numpy())

    # -- classification -------------------------------------------------------------------------

    def _batch(self, clips: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3).float().div_(255).to(self.device)

    @torch.no_grad()
    def classify(self, clips: list[np.ndarray], mode: str) -> np.ndarray:
        started = time.perf_counter()
        logits = self.classifier(self._batch(clips)).float().cpu().numpy()
        self._clock(f"classify_{mode}", started, len(clips))
        return logits

    def needs(self, *modes: str) -> bool:
        return bool(set(modes) & set(self.config.modes))

    @property
    def tent_modes(self) -> list[str]:
        return [m for m in ("tent", "restored+tent") if self.needs(m)]

    def per_video(self, progress: tqdm | None) -> dict[str, dict[str, dict[str, np.ndarray]]]:
        """Phase 1, sharded by video: source and restored logits (and every restored clip TENT will
        need). Returns {stream: {mode: {video: logits}}} merged over ranks and the cache."""
        modes = [
            m
            for m, users in (("source", ("source", "ensemble")), ("restored", ("restored", "ensemble")))
            if self.needs(*users)
        ]
        restore_all = self.needs("restored", "ensemble", "restored+tent")
        cached = {s.name: {m: self.logits.load(s.name, m) for m in modes} for s in self.streams}
        mine: dict[str, dict[str, dict[str, np.ndarray]]] = {s.name: {m: {} for m in modes} for s in self.streams}
        for stream in self.streams:
            shard = list(self.indices(stream)[self.rank :: self.world])
            for start in range(0, len(shard), self.config.batch_size):
                chunk = shard[start : start + self.config.batch_size]
                keys = [video_key(self.relative_path(stream, i)) for i in chunk]
                todo = {m: [j for j, k in enumerate(keys) if k not in cached[stream.name][m]] for m in modes}
                sources: dict[int, np.ndarray] = {}
                for j in todo.get("source", []):
                    clip = self.readable(stream, chunk[j])
                    if clip is not None:
                        sources[j] = clip
                if sources:
                    for j, row in zip(sources, self.classify(list(sources.values()), "source")):
                        mine[stream.name]["source"][keys[j]] = row
                if restore_all:
                    restored = {}
                    for j, i in enumerate(chunk):
                        clip = self.readable(stream, i, restored=True, frames=sources.get(j))
                        if clip is not None:
                            restored[j] = clip
                    wanted = [j for j in todo.get("restored", []) if j in restored]
                    if wanted:
                        for j, row in zip(wanted, self.classify([restored[j] for j in wanted], "restored")):
                            mine[stream.name]["restored"][keys[j]] = row
                if progress is not None:
                    progress.update(len(chunk))
        merged = {s.name: {m: dict(cached[s.name][m]) for m in modes} for s in self.streams}
        self.gather_unreadable()
        for shard_results in all_gather(mine, self.world):
            for stream_name, by_mode in shard_results.items():
                for mode, rows in by_mode.items():
                    merged[stream_name][mode].update(rows)
        if self.rank == 0:
            for stream_name, by_mode in merged.items():
                for mode, rows in by_mode.items():
                    if len(rows) > len(cached[stream_name][mode]):
                        self.logits.save(stream_name, mode, rows)
        return merged

    def tent_order(self, stream: _Stream) -> list[int]:
        """The stream's videos in one fixed shuffled order: split lists are sorted by class, and TENT
        on single-class batches would learn the class, not the corruption."""
        order = list(self.indices(stream))
        np.random.default_rng(STREAM_ORDER_SEED).shuffle(order)
        return order

    def my_tent_streams(self) -> list[_Stream]:
        return [s for k, s in enumerate(self.streams) if k % self.world == self.rank]

    def tent(self, progress: tqdm | None) -> dict[str, dict[str, dict[str, np.ndarray]]]:
        """Phase 2, sharded by stream: TENT online over each stream, reset between streams."""
        modes = self.tent_modes
        results: dict[str, dict[str, dict[str, np.ndarray]]] = {s.name: {} for s in self.streams}
        if not modes:
            return results
        adapter = Tent(copy.deepcopy(self.classifier), learning_rate=self.config.tent_learning_rate)
        mine: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        for stream in self.my_tent_streams():
            order = [
                i for i in self.tent_order(stream) if self.relative_path(stream, i) not in self.unreadable[stream.name]
            ]
            for mode in modes:
                rows = self.logits.load(stream.name, mode)
                if len(rows) < len(order):
                    adapter.reset()
                    rows = {}
                    for start in range(0, len(order), self.config.batch_size):
                        chunk = order[start : start + self.config.batch_size]
                        loaded = {i: self.readable(stream, i, restored=mode != "tent") for i in chunk}
                        chunk = [i for i in chunk if loaded[i] is not None]
                        if chunk:
                            started = time.perf_counter()
                            logits = adapter(self._batch([loaded[i] for i in chunk])).float().cpu().numpy()
                            self._clock("tent_source" if mode == "tent" else "tent_restored", started, len(chunk))
                            rows.update({video_key(self.relative_path(stream, i)): r for i, r in zip(chunk, logits)})
                        if progress is not None:
                            progress.update(len(loaded))
                    self.logits.save(stream.name, mode, rows)
                mine.setdefault(stream.name, {})[mode] = rows
        self.gather_unreadable()
        for shard_results in all_gather(mine, self.world):
            for stream_name, by_mode in shard_results.items():
                results[stream_name].update(by_mode)
        return results

    def gather_unreadable(self) -> None:
        """Every rank's unreadable videos, known to all (each rank read only its share)."""
        for shard in all_gather(self.unreadable, self.world):
            for stream_name, found in shard.items():
                self.unreadable[stream_name].update(found)

    def accuracy(self, logits: dict[str, dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, float]]:
        """{mode: {stream: top-1 %}}; ensemble sums the source and restored logits."""
        table: dict[str, dict[str, float]] = {mode: {} for mode in self.config.modes}
        for stream in self.streams:
            scored = [
                i for i in self.indices(stream) if self.relative_path(stream, i) not in self.unreadable[stream.name]
            ]
            if not scored:
                raise VideoError(f"no video of {stream.name} could be read: {self.describe_unreadable(stream.name)}")
            keys = [video_key(self.relative_path(stream, i)) for i in scored]
            labels = np.array([stream.dataset.entries[i].label for i in scored])
            by_mode = logits[stream.name]
            for mode in self.config.modes:
                if mode == "ensemble":
                    scores = np.stack([by_mode["source"][k] + by_mode["restored"][k] for k in keys])
                else:
                    scores = np.stack([by_mode[mode][k] for k in keys])
                table[mode][stream.name] = float(100 * (scores.argmax(axis=1) == labels).mean())
        return table

    def describe_unreadable(self, stream_name: str) -> str:
        """The first unreadable video of a stream and why, with how many more there are."""
        found = self.unreadable[stream_name]
        first = next(iter(found.items()), None)
        if first is None:
            return "none"
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return f"{first[0]}: {first[1]}{more}"

    def workload(self) -> int:
        """Videos this rank walks through (for its progress bar)."""
        shard = sum(len(self.indices(s)[self.rank :: self.world]) for s in self.streams)
        tent = sum(len(self.indices(s)) for s in self.my_tent_streams()) * len(self.tent_modes)
        return shard + tent


def evaluate(config: EvaluationConfig) -> EvaluationResult:
    """Run the evaluation (one process or one rank of ``torchrun``); rank 0 writes results.csv,
    results.json and accuracy.png to ``config.output_dir`` and every rank returns the result."""
    with process_group(config.device) as (rank, world, _):
        return _evaluate_rank(config, rank, world)


def _evaluate_rank(config: EvaluationConfig, rank: int, world: int) -> EvaluationResult:
    """:func:`evaluate`'s work on one rank of ``world`` processes."""
    evaluator = _Evaluator(config, rank, world)
    progress = tqdm(total=evaluator.workload(), desc="videos", unit="video", disable=not config.progress or rank != 0)
    logits = evaluator.per_video(progress)
    barrier(world)  # restored clips TENT reads were written by every rank
    for stream_name, by_mode in evaluator.tent(progress).items():
        logits[stream_name].update(by_mode)
    progress.close()
    accuracy = evaluator.accuracy(logits)
    seconds, counts = dict.fromkeys(STAGES, 0.0), dict.fromkeys(STAGES, 0)
    for shard_seconds, shard_counts in all_gather((evaluator.seconds, evaluator.counts), world):
        for stage in STAGES:
            seconds[stage] += shard_seconds[stage]
            counts[stage] += shard_counts[stage]
    per_clip = {stage: seconds[stage] / counts[stage] if counts[stage] else 0.0 for stage in STAGES}
    clips = sum(len(evaluator.indices(s)) for s in evaluator.streams)
    result = EvaluationResult(
        accuracy=accuracy,
        mean={mode: float(np.mean(list(values.values()))) for mode, values in accuracy.items()},
        videos=clips,
        seconds_per_clip=per_clip,
        mode_seconds_per_clip={mode: sum(per_clip[stage] for stage in MODE_STAGES[mode]) for mode in config.modes},
        unreadable={name: found for name, found in evaluator.unreadable.items() if found},
    )
    if rank == 0:
        output = Path(config.output_dir)
        output.mkdir(parents=True, exist_ok=True)
        result.files = {
            "csv": str(output / "results.csv"),
            "json": str(output / "results.json"),
            "plot": str(output / "accuracy.png"),
        }
        write_csv(output / "results.csv", result)
        record = {
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
            "world_size": world,
            **asdict(result),
        }
        with atomic_path(output / "results.json", clear_stale=True) as temporary:
            Path(temporary).write_text(json.dumps(record, indent=2, default=str) + "\n")
        title = (
            f"{config.classifier} on {len(evaluator.streams)} corrupted stream(s), "
            f"{clips // max(len(evaluator.streams), 1)} videos each"
        )
        plot_accuracy(output / "accuracy.png", result, title)
    return result
