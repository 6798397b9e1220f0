"""Where a trainer-fsm set-up spends its time: a profile summarised by area and function.

Runs many set-ups of the tiny MLP under pyinstrument (a sampling profiler, so pure
Python is not inflated the way a tracing profiler inflates it) or, when pyinstrument is
missing, under cProfile. Time spent in the standard library and in builtins is charged
to the nearest caller outside the standard library, so ``os.environ`` walks made by
``events/redact.py`` count for ``events/redact.py``: the table says whose code asked
for the time.
"""

from __future__ import annotations

import sys
import sysconfig
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._core import Section, Settings, fsm_kwargs, reset_accelerate

__all__ = ["profile_setups", "run"]

_REPO = Path(__file__).resolve().parents[1]
_STDLIB = {Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "platstdlib")}


def _area(file_path: str | None) -> str | None:
    """The area a source file belongs to; None for the standard library and builtins."""
    if not file_path or file_path.startswith("<"):
        return None
    path = Path(file_path)
    try:
        resolved = path.resolve()
    except OSError:
        return None
    if _REPO in resolved.parents:
        return resolved.relative_to(_REPO).as_posix()
    parts = resolved.parts
    if "site-packages" in parts or "dist-packages" in parts:
        index = max(i for i, p in enumerate(parts) if p in ("site-packages", "dist-packages"))
        if index + 1 < len(parts):
            return parts[index + 1].removesuffix(".py")
    if any(root in resolved.parents for root in _STDLIB):
        return None
    return None


def _walk_pyinstrument(frame: Any, owner: tuple[str, str], areas: dict[str, float], funcs: dict[str, float]) -> None:
    area = _area(frame.file_path)
    if area is not None:
        owner = (area, f"{area}:{frame.function}")
    for child in frame.children:
        if child.is_synthetic_leaf or child.function == "[self]":
            areas[owner[0]] += child.time
            funcs[owner[1]] += child.time
        else:
            _walk_pyinstrument(child, owner, areas, funcs)


def profile_setups(make: Callable[[], Any], count: int) -> dict[str, Any]:
    """Profile `count` calls of `make` (accelerate reset before each, not profiled).

    Returns seconds per call by area and by function, the profiler used and the count.
    """
    areas: dict[str, float] = defaultdict(float)
    funcs: dict[str, float] = defaultdict(float)
    try:
        from pyinstrument import Profiler
    except ImportError:
        return _profile_cprofile(make, count)
    profiler = Profiler(interval=0.0002)
    for _ in range(count):
        reset_accelerate()
        profiler.start()
        try:
            make()
        finally:
            profiler.stop()
    reset_accelerate()
    root = profiler.last_session.root_frame() if profiler.last_session else None
    if root is not None:
        _walk_pyinstrument(root, ("(bench)", "(bench)"), areas, funcs)
    total = sum(areas.values())
    return {
        "profiler": "pyinstrument",
        "count": count,
        "total_s": total / count,
        "areas": {k: v / count for k, v in areas.items()},
        "functions": {k: v / count for k, v in funcs.items()},
    }


def _profile_cprofile(make: Callable[[], Any], count: int) -> dict[str, Any]:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    for _ in range(count):
        reset_accelerate()
        profiler.enable()
        try:
            make()
        finally:
            profiler.disable()
    reset_accelerate()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    areas: dict[str, float] = defaultdict(float)
    funcs: dict[str, float] = defaultdict(float)
    for (file_path, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        area = _area(file_path) or "(stdlib and builtins)"
        areas[area] += tottime
        funcs[f"{area}:{function}"] += tottime
    total = sum(areas.values())
    return {
        "profiler": "cProfile",
        "count": count,
        "total_s": total / count,
        "areas": {k: v / count for k, v in areas.items()},
        "functions": {k: v / count for k, v in funcs.items()},
    }


def _table(title: str, data: dict[str, float], total: float, limit: int) -> list[str]:
    lines = [f"| {title} | ms per set-up | share |", "|---|---:|---:|"]
    for name, seconds in sorted(data.items(), key=lambda kv: -kv[1])[:limit]:
        lines.append(f"| `{name}` | {seconds * 1e3:.3f} | {seconds / total:.0%} |")
    return lines


def run(settings: Settings | None = None) -> Section:
    """Profile set-ups with subscribers off and all on; summarise where the time goes."""
    from bench.bench_setup import NullStream
    from events.log import StructlogSubscriber
    from fsm import InitConfig, TrainerInit
    from fsm.demo import SyntheticRegression, TinyMLP

    settings = settings or Settings()
    section = Section("P", "Profile: where a trainer-fsm set-up spends its time")
    count = settings.reps(100, 3)
    model, data = TinyMLP(), SyntheticRegression(256)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        args = {"output_dir": str(Path(tmp) / "out"), "use_cpu": True, "report_to": "none", "seed": 42}

        def off() -> Any:
            kwargs = fsm_kwargs(log=False, audit=False)
            return TrainerInit(InitConfig(**args), model=model, train_dataset=data, **kwargs)

        def on() -> Any:
            log = StructlogSubscriber(renderer="json", level="info", stream=NullStream())
            return TrainerInit(InitConfig(**args), model=model, train_dataset=data, **fsm_kwargs(log=log, audit=True))

        results = {
            "all off": profile_setups(lambda: off().run(), count),
            "all on": profile_setups(lambda: on().run(), count),
        }
    section.raw = results
    for name, result in results.items():
        total = result["total_s"]
        section.details.append(
            f"**{name}** ({result['profiler']}, {result['count']} set-ups of the tiny MLP, "
            f"{total * 1e3:.2f} ms per set-up sampled; standard library and builtins are charged "
            "to their nearest caller, and a garbage-collection pause to whatever code runs when it "
            "happens, so allocation-heavy subscribers can inflate other areas):"
        )
        section.details.append("")
        section.details += _table("area", result["areas"], total, 12)
        section.details.append("")
        section.details += _table("function (with the stdlib it calls)", result["functions"], total, 15)
        section.details.append("")
    return section


if __name__ == "__main__":  # pragma: no cover - manual use
    for line in run(Settings(quick="--quick" in sys.argv)).details:
        print(line)
