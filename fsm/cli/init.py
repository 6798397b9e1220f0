"""`trainer-fsm init [CONFIG]`: run a set-up to Ready, showing each phase as it runs.

Without CONFIG it sets up the embedded default (`fsm.cli._config_file.DEFAULT_CONFIG`):
a tiny MLP built after seeding, synthetic data, output in ./trainer_output, nothing
downloaded. ``--then-train N`` then runs N optimizer steps on the result and prints
the loss, to show the set-up is really ready to train.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fsm.cli import EXIT_OK, EXIT_PHASE_FAILED, EXIT_USAGE, CliError
from fsm.cli._config_file import load_config
from fsm.cli._display import JsonDisplay, LiveDisplay, PhaseBoard, PlainDisplay, make_console, summary_table

if TYPE_CHECKING:
    from rich.console import Console

    from fsm.exceptions import ConfigError, PhaseError
    from fsm.machine import TrainerInit
    from fsm.result import TrainerSetup

__all__ = ["register", "run"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a whole number of steps >= 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def register(subparsers: Any) -> None:
    """Add the `init` subcommand."""
    parser = subparsers.add_parser(
        "init",
        help="run a set-up to Ready (the embedded default, or a YAML/JSON config)",
        description=(
            "Run the eleven set-up phases to Ready and show each as it runs, then a summary. "
            "Without CONFIG: the embedded default (a tiny MLP and synthetic data, output in "
            "./trainer_output, no downloads). Exit codes: 0 Ready, 1 a phase failed, "
            "2 the config was rejected."
        ),
    )
    parser.add_argument("config", nargs="?", metavar="CONFIG", help="a .yaml/.yml or .json config file")
    parser.add_argument("--output-dir", metavar="DIR", help="override the config's output_dir")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--plain", action="store_true", help="line-by-line output, even on a terminal")
    mode.add_argument("--json", action="store_true", help="stream every event as a JSON line (redacted)")
    parser.add_argument(
        "--then-train",
        type=_positive_int,
        default=0,
        metavar="N",
        help="then run N optimizer steps on the result and print the loss",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the set-up; returns the exit code."""
    from events.log import StructlogSubscriber
    from fsm.exceptions import ConfigError, PhaseError
    from fsm.machine import TrainerInit

    file = load_config(args.config)
    config = file.config
    if args.output_dir:
        config = config.replace(output_dir=args.output_dir)
    inputs = file.build_inputs()

    as_json = bool(args.json)
    console = make_console(sys.stdout, plain=args.plain)
    board = PhaseBoard()
    display: Any
    if as_json:
        display = JsonDisplay(sys.stdout)
    elif console.is_terminal:
        display = LiveDisplay(board, console)
    else:
        display = PlainDisplay(board, sys.stdout)

    debug = getattr(args, "debug", False)
    log: Any = StructlogSubscriber(renderer="console", level="debug", stream=sys.stderr) if debug else False
    init = TrainerInit(config, log=log, **inputs)
    init.bus.subscribe("*", board, priority=100)
    init.bus.subscribe("*", display, priority=-100)

    if not as_json:
        console.print(f"trainer-fsm init: {file.source} ({file.describe()})", soft_wrap=True)
    try:
        with display:
            setup = init.run()
    except ConfigError as exc:
        _report_rejection(console if not as_json else None, init, board, exc)
        return EXIT_USAGE
    except PhaseError as exc:
        if not as_json:
            console.print(summary_table(board))
        _report_failure(init, exc)
        return EXIT_PHASE_FAILED

    if not as_json:
        console.print(summary_table(board))
        _report_ready(console, init, setup, board)
    if args.then_train:
        _train(setup, args.then_train, console=None if as_json else console)
    return EXIT_OK


def _audit_path(init: TrainerInit, setup: TrainerSetup | None) -> str | None:
    """Where the audit log of this run is, if one was written."""
    path = getattr(setup, "audit_path", None) if setup is not None else None
    if not path:
        path = getattr(getattr(init, "audit", None), "path", None)
    return str(path) if path and os.path.isfile(path) else None


def _report_ready(console: Console, init: TrainerInit, setup: TrainerSetup, board: PhaseBoard) -> None:
    total = f"{board.total_s:.2f} s" if board.total_s is not None else "?"
    console.print(f"Ready in {total} (run {setup.run_id}). Output directory: {setup.output_dir}", soft_wrap=True)
    audit = _audit_path(init, setup)
    if audit:
        console.print(f"Audit log: {audit}  (check it: trainer-fsm audit verify {audit})", soft_wrap=True)
    else:
        console.print("Audit log: none was written for this run")


def _report_rejection(console: Console | None, init: TrainerInit, board: PhaseBoard, exc: ConfigError) -> None:
    from fsm.phases import INITIAL

    if init.state == INITIAL:
        hint = "Nothing was created. `trainer-fsm validate CONFIG` lists these without running."
        print(f"{exc}\n{hint}", file=sys.stderr)
        return
    # A rule that needs an earlier phase's result rejected the next transition.
    if console is not None:
        console.print(summary_table(board))
    nxt = init.next_trigger
    print(
        f"{exc}\nThe set-up stopped in {init.state}: the phases above ran; {nxt!r} and those after it did not.",
        file=sys.stderr,
    )


def _report_failure(init: TrainerInit, exc: PhaseError) -> None:
    last_good = init.last_good_state or "Uninitialized"
    lines = [
        f"error: {exc}",
        f"  The machine stopped in Failed; the last good state is {last_good}. The failed phase "
        f"{exc.phase!r} was rolled back and nothing after it ran.",
        "  hint: fix the cause and run the command again. From Python, TrainerInit.retry() re-runs only "
        "the failed phase and resume() goes on to Ready (see examples/recover.py).",
        f"  where it stopped: trainer-fsm graph --highlight {last_good}",
    ]
    audit = _audit_path(init, None)
    if audit:
        lines.append(f"  the audit log records the failure: {audit}")
    print("\n".join(lines), file=sys.stderr)


def _loss_of(output: Any) -> Any:
    if isinstance(output, Mapping):
        return output.get("loss")
    loss = getattr(output, "loss", None)
    if loss is None and isinstance(output, (tuple, list)) and output:
        loss = output[0]
    return loss


def _step(setup: TrainerSetup, model: Any, optimizer: Any, batch: Any) -> Any:
    """One optimizer step on `batch`; returns the loss."""
    from fsm.exceptions import TrainerFsmError

    output = model(**batch) if isinstance(batch, Mapping) else model(*batch)
    loss = _loss_of(output)
    if loss is None:
        msg = "the model's forward returned no loss; --then-train needs a model that computes one from `labels`"
        raise TrainerFsmError(msg)
    setup.accelerator.backward(loss)
    if setup.config.max_grad_norm:
        setup.accelerator.clip_grad_norm_(model.parameters(), setup.config.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad()
    return loss


def _train(setup: TrainerSetup, steps: int, *, console: Console | None) -> list[float]:
    """Run `steps` optimizer steps on the set-up's model and data; print each loss."""
    loader = setup.train_dataloader()
    optimizer = setup.create_optimizer()
    model = setup.model
    model.train()
    every = max(1, steps // 20)
    if console is not None:
        console.print(
            f"Training {steps} step{'s' if steps != 1 else ''} "
            f"(batch {setup.config.per_device_train_batch_size}, lr {setup.config.learning_rate}, {setup.device}):"
        )
    losses: list[float] = []
    batches = iter(loader)
    for step in range(1, steps + 1):
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        try:
            loss = _step(setup, model, optimizer, batch)
        except Exception as exc:
            keys = ", ".join(map(str, batch)) if isinstance(batch, Mapping) else f"{type(batch).__name__} batch"
            msg = (
                f"--then-train step {step} raised {type(exc).__name__}: {exc}\n"
                f"  The set-up itself reached Ready. Check that the model's forward takes the batch ({keys}) "
                "and returns a loss."
            )
            raise CliError(msg, exit_code=EXIT_PHASE_FAILED) from exc
        setup.state.global_step += 1
        losses.append(float(loss.detach()))
        if console is None:
            print(json.dumps({"event": "TrainStep", "step": step, "loss": losses[-1]}), flush=True)
        elif step % every == 0 or step in (1, steps):
            console.print(f"  step {step:>{len(str(steps))}}/{steps}  loss {losses[-1]:.4f}")
    if console is not None and len(losses) > 1:
        change = (losses[-1] - losses[0]) / losses[0] * 100 if losses[0] else 0.0
        console.print(f"Loss {losses[0]:.4f} -> {losses[-1]:.4f} ({change:+.0f}%) over {steps} steps.")
    return losses
