"""`trainer-fsm` itself: subcommands, --debug anywhere, and errors without tracebacks."""

from __future__ import annotations

from fsm.cli import build_parser


def test_every_subcommand_is_listed(cli, capsys):
    """With no subcommand, the help lists init, validate, graph and audit, exit 2."""
    code, _out, err = cli()
    assert code == 2
    for name in ("init", "validate", "graph", "audit"):
        assert f"    {name} " in err


def test_debug_is_accepted_after_any_subcommand():
    """--debug parses before the subcommand, after it, and after a nested one."""
    parser = build_parser()
    assert parser.parse_args(["--debug", "graph"]).debug is True
    assert parser.parse_args(["graph", "--debug"]).debug is True
    assert parser.parse_args(["audit", "verify", "f.jsonl", "--debug"]).debug is True
    assert parser.parse_args(["graph"]).debug is False


def test_training_error_after_ready_is_explained_not_traced(cli, write):
    """A model whose forward does not take the batch: exit 1, the step, the keys, no traceback."""
    path = write("mismatch.yaml", "output_dir: out\nmodel: fsm.demo:TinyMLP\ntrain_dataset: fsm.demo:SyntheticTokens\n")
    code, out, err = cli("init", str(path), "--then-train", "2", "--plain")
    assert code == 1
    assert "Ready in" in out
    assert "--then-train step 1 raised TypeError" in err
    assert "takes the batch (input_ids, labels)" in err
    assert "Traceback" not in err
