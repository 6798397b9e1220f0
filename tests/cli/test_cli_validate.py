"""`trainer-fsm validate`: guards only, every violation listed, nothing created."""

from __future__ import annotations

import json

from fsm import validate
from fsm.cli._config_file import load_config

VALID = """
output_dir: out/valid
model_init: fsm.demo:TinyMLP
train_dataset: {factory: fsm.demo:SyntheticRegression, kwargs: {n: 32}}
"""

REJECTED = """
output_dir: out/rejected
fp16: true
bf16: true
gradient_accumulation_steps: 0
per_device_train_batch_size: 0
model_init: fsm.demo:TinyMLP
"""


def test_valid_config_exits_0_and_creates_nothing(cli, write, files):
    """A valid config: exit 0, says so, and no output directory appears."""
    path = write("valid.yaml", VALID)
    before = files()
    code, out, _ = cli("validate", str(path))
    assert code == 0
    assert "valid (" in out and "static rules passed" in out
    assert files() == before


def test_rejected_config_lists_every_violation_with_rule_and_hint(cli, write, files):
    """Exit 2; each violation fsm.validate finds is printed with its rule id, fields and hint."""
    path = write("rejected.yaml", REJECTED)
    file = load_config(path)
    expected = validate(file.config, **file.build_inputs())
    assert len(expected) >= 3
    before = files()
    code, _out, err = cli("validate", str(path))
    assert code == 2
    assert f"rejected, {len(expected)} problems found" in err
    for i, v in enumerate(expected, 1):
        assert f"{i}. [{v.rule}]" in err
        assert f"fix: {v.hint}" in err
    assert files() == before


def test_json_output_is_the_violations_as_data(cli, write):
    """--json prints the violations as fsm.validate's dicts; exit 2."""
    path = write("rejected.json", json.dumps({"fp16": True, "bf16": True, "model_init": "fsm.demo:TinyMLP"}))
    code, out, _ = cli("validate", str(path), "--json")
    assert code == 2
    file = load_config(path)
    assert json.loads(out) == [v.to_dict() for v in validate(file.config, **file.build_inputs())]


def test_file_problems_are_all_reported_naming_their_keys(cli, write):
    """Typos, bad import paths, missing modules and wrong kwargs are listed together, exit 2."""
    path = write(
        "typos.yaml",
        "outptu_dir: x\n"
        "model: {factory: fsm.demo:TinyMLP, kwargs: {width: 3}}\n"
        "train_dataset: no_such_module_here:Data\n"
        "eval_dataset: fsm.demo:NoSuchThing\n"
        "callbacks: [fsm.demo]\n",
    )
    code, _out, err = cli("validate", str(path))
    assert code == 2
    assert "5 problems" in err
    assert "outptu_dir: not a config field or input key; did you mean 'output_dir'?" in err
    assert "model.kwargs: got an unexpected keyword argument 'width'" in err
    assert "train_dataset: cannot import module 'no_such_module_here'" in err
    assert "eval_dataset: module 'fsm.demo' has no attribute 'NoSuchThing'" in err
    assert "callbacks[0]: 'fsm.demo' is not an import path" in err
    assert "Traceback" not in err


def test_unreadable_files_exit_2_with_the_reason(cli, write):
    """A missing file, broken YAML (with its line) and a list instead of a mapping are usage errors."""
    code, _, err = cli("validate", "missing.yaml")
    assert code == 2 and "missing.yaml: 1 problem" in err and "file not found" in err
    broken = write("broken.yaml", "seed: 1\nmodel: [unclosed\n")
    code, _, err = cli("validate", str(broken))
    assert code == 2 and "not valid YAML" in err and "line 3" in err
    listed = write("list.yaml", "- seed\n- 1\n")
    code, _, err = cli("validate", str(listed))
    assert code == 2 and "must hold one mapping" in err


def test_readme_validate_example_is_true(cli, write):
    """The README's bad.yaml, validated now, gives exactly the rule ids and messages the README shows."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    config = re.search(r"```yaml\n# bad\.yaml\n(.*?)```", readme, re.S).group(1)
    shown = re.search(r"\$ trainer-fsm validate bad\.yaml\n(.*?)```", readme, re.S).group(1)
    code, _out, err = cli("validate", str(write("bad.yaml", config)))
    assert code == 2
    assert re.findall(r"\[([\w.]+)\]", err) == re.findall(r"\[([\w.]+)\]", shown)
    assert err.splitlines()[1:] == shown.splitlines()[1:]  # the first line names the path
