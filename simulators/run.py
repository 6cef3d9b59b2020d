"""``replay`` and ``drive`` end to end: frozen configs in, the stream played.

The click module builds these configs; this module wires the pure parts
(log -> epochs, drive -> epochs, receiver, faults) to an output shell.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from simulators.drive import DriveConfig, DriveSim
from simulators.events import Epoch, Item
from simulators.faults import FaultInjector, FaultSpec, FaultStats
from simulators.receiver import Family, Receiver, nmea_types
from simulators.replay import read_epochs, replay
from simulators.serve import Output, PtyOutput, ServeStats, StdoutOutput, TcpOutput, serve

__all__ = ["DriveRun", "OutputConfig", "ReplayRun", "RunResult", "open_output", "run_drive", "run_replay"]


@dataclass(frozen=True, slots=True)
class OutputConfig:
    pty: str | None = None
    tcp: tuple[str, int] | None = None
    stdout: bool = False
    file: str | None = None  # drive only: write everything at once, no pacing ('-' = stdout)


@dataclass(frozen=True, slots=True)
class ReplayRun:
    trace: str
    output: OutputConfig
    speed: float = 1.0
    loop: bool = False
    start_epoch: int = 0
    count: int | None = None
    clean: bool = False
    now: bool = False
    max_gap_ms: int = 30_000
    fallback_interval_ms: int = 1000
    faults: FaultSpec = field(default_factory=FaultSpec)
    seed: int = 0
    receiver: Family = Family.NONE
    exit_on_hangup: bool = False


@dataclass(frozen=True, slots=True)
class DriveRun:
    drive: DriveConfig
    output: OutputConfig
    truth: str | None = None
    speed: float = 1.0
    faults: FaultSpec = field(default_factory=FaultSpec)
    receiver: Family = Family.MTK
    exit_on_hangup: bool = False


@dataclass(slots=True)
class RunResult:
    serve: ServeStats | None
    faults: FaultStats
    epochs_written: int = 0  # file output


def open_output(config: OutputConfig) -> Output:
    if config.pty is not None:
        return PtyOutput(config.pty)
    if config.tcp is not None:
        return TcpOutput(*config.tcp)
    return StdoutOutput()


def _with_faults(epochs: Iterator[Epoch], spec: FaultSpec, seed: int) -> tuple[Iterator[Item], FaultInjector]:
    injector = FaultInjector(spec, seed)
    return injector.apply(epochs), injector


def run_replay(
    run: ReplayRun,
    *,
    on_ready: Callable[[Output], None] = lambda output: None,
    log: Callable[[str], None] | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> RunResult:
    data = Path(run.trace).read_bytes()
    played = read_epochs(data, clean=run.clean, fallback_interval_ms=run.fallback_interval_ms,
                         max_gap_ms=run.max_gap_ms)  # fmt: skip
    shift = dt.timedelta(0)
    if run.now:
        start = played.start_time()
        first = played.epochs[run.start_epoch].offset_ms if run.start_epoch < len(played.epochs) else 0
        if start is not None:
            start += dt.timedelta(milliseconds=first - played.epochs[0].offset_ms)
            # Whole seconds, so whole-second logs keep whole-second times.
            shift = dt.timedelta(seconds=round((clock() - start).total_seconds()))
    epochs = replay(played, start_epoch=run.start_epoch, count=run.count, loop=run.loop, shift=shift)
    items, injector = _with_faults(epochs, run.faults, run.seed)
    receiver = None
    if run.receiver is not Family.NONE:
        receiver = Receiver(run.receiver, interval_ms=played.interval_ms, on_note=log)
    output = open_output(run.output)
    on_ready(output)
    stats = serve(items, output, speed=run.speed, receiver=receiver, exit_on_hangup=run.exit_on_hangup, log=log)
    return RunResult(stats, injector.stats)


def truth_path(run: DriveRun) -> str | None:
    """Where the ground truth goes: ``--truth``, else beside the trace or the pty."""
    if run.truth is not None:
        return run.truth
    target = run.output.file if run.output.file not in (None, "-") else run.output.pty
    if target is None:
        return None
    path = Path(target)
    return str(path.with_name(path.stem + ".truth.jsonl" if path.suffix else path.name + ".truth.jsonl"))


def run_drive(
    run: DriveRun,
    *,
    on_ready: Callable[[Output], None] = lambda output: None,
    log: Callable[[str], None] | None = None,
    stdout: IO[bytes] | None = None,
) -> RunResult:
    where = truth_path(run)
    truth_file = open(where, "w", encoding="utf-8") if where is not None else None  # noqa: SIM115
    try:

        def on_truth(record: dict[str, Any]) -> None:
            if truth_file is not None:
                truth_file.write(json.dumps(record, separators=(",", ":")) + "\n")

        sim = DriveSim(run.drive, on_truth=on_truth)
        for record in sim.header():
            on_truth(record)
        cfg = run.drive
        if run.output.file is not None:
            epochs = sim.epochs(None)
            items, injector = _with_faults(epochs, run.faults, cfg.seed)
            count = _write_file(items, run.output.file, stdout)
            return RunResult(None, injector.stats, count)
        receiver = None
        if run.receiver is not Family.NONE:
            receiver = Receiver(run.receiver, interval_ms=cfg.interval_ms, outputs=nmea_types(cfg.sentences),
                                on_note=log)  # fmt: skip
        items, injector = _with_faults(sim.epochs(receiver), run.faults, cfg.seed)
        output = open_output(run.output)
        on_ready(output)
        stats = serve(items, output, speed=run.speed, receiver=receiver, exit_on_hangup=run.exit_on_hangup,
                      select=False, log=log)  # fmt: skip
        return RunResult(stats, injector.stats)
    finally:
        if truth_file is not None:
            truth_file.close()


def _write_file(items: Iterator[Item], path: str, stdout: IO[bytes] | None) -> int:
    """Every epoch at once; stalls and unplugs are the gaps the injector left."""
    count = 0
    if path == "-":
        assert stdout is not None
        for item in items:
            if isinstance(item, Epoch):
                stdout.write(item.data)
                count += 1
        stdout.flush()
        return count
    with open(path, "wb") as out:
        for item in items:
            if isinstance(item, Epoch):
                out.write(item.data)
                count += 1
    return count
