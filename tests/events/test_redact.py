"""Redaction: secret names at any depth, command lines, env secrets and echoed values in text."""

from __future__ import annotations

import pytest

from events.redact import REDACTED, is_secret_name, redact, register_secret, scrub_text


@pytest.mark.parametrize(
    "name",
    [
        "hub_token",
        "HF_TOKEN",
        "WANDB_API_KEY",
        "MY_API_KEY",
        "db_password",
        "AWS_SECRET_ACCESS_KEY",
        "client_secret",
        "credentials",
        "TRAINER_FSM_AUDIT_KEY",
        "ssh_key",
        "Authorization",
        "session_id",
        "private-key",
    ],
)
def test_secret_names(name):
    """Names that mark secrets are recognised, in any case."""
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["seed", "max_new_tokens", "num_input_tokens_seen", "tokenizer", "pad_token_id", "monkey", "author"]
)
def test_names_that_only_look_secret(name):
    """Counts, tokenizers and words that merely contain a marker are left alone."""
    assert not is_secret_name(name)


def test_nested_mappings_and_lists_are_walked():
    """A secret inside dicts inside lists is hidden; empty secrets stay visible as empty."""
    data = {
        "hub_token": "hf_abcdefgh",
        "no_token": None,
        "plugins": [{"name": "wandb", "api_key": "k" * 12}, {"name": "plain", "value": 3}],
        "nested": {"deeper": {"password": "hunter22", "seed": 1}},
    }
    out = redact(data)
    assert out["hub_token"] == REDACTED and out["no_token"] is None
    assert out["plugins"][0] == {"name": "wandb", "api_key": REDACTED}
    assert out["plugins"][1] == {"name": "plain", "value": 3}
    assert out["nested"]["deeper"] == {"password": REDACTED, "seed": 1}
    assert data["hub_token"] == "hf_abcdefgh"  # the input is not changed


def test_command_line_flags_hide_the_next_item():
    """["--hub_token", "x"] hides "x"; other flags and values are kept."""
    argv = ["train.py", "--hub_token", "hf_zzzzzzzz", "--seed", "3", "--api-key=abcdef123"]
    assert redact(argv) == ["train.py", "--hub_token", REDACTED, "--seed", "3", f"--api-key={REDACTED}"]


def test_environment_secrets_are_scrubbed_from_text(monkeypatch):
    """The value of a secret-named environment variable is hidden wherever it appears in text."""
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789")
    assert scrub_text("request failed for tok-0123456789 at step 3") == f"request failed for {REDACTED} at step 3"


def test_registered_secrets_are_scrubbed():
    """A value given to register_secret is hidden in any later text, however it is framed."""
    register_secret("registered-canary-4242")
    assert "registered-canary-4242" not in scrub_text("401 for registered-canary-4242!")
    assert "registered-canary-4242" not in redact({"message": ["x registered-canary-4242 y"]})["message"][0]


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("HF_TOKEN=hf_abcdef123 rest", "hf_abcdef123", "rest"),
        ('{"api_key": "sk-123456789"}', "sk-123456789", "api_key"),
        ("Authorization: Bearer abcdefghijk", "abcdefghijk", "Authorization"),
        ("https://user:pa55word@host/x", "pa55word", "https://user:"),
        ("--hub_token hf_secretval --seed 3", "hf_secretval", "--seed 3"),
        ("password:hunter22", "hunter22", "password"),
        ("AUDIT_KEY=abcdefgh x", "abcdefgh", " x"),
    ],
)
def test_unknown_secrets_after_secret_names_are_scrubbed(text, hidden, kept):
    """A value after a secret name (name=value, JSON, bearer, URL password, flag) is hidden."""
    out = scrub_text(text)
    assert hidden not in out and kept in out and REDACTED in out


@pytest.mark.parametrize("text", ["max_tokens=100", "hub_token=None", "seed=42 steps=10", "tokenizer=gpt2abc"])
def test_plain_text_is_left_alone(text):
    """Counts, None and ordinary settings are not mistaken for secrets."""
    assert scrub_text(text) == text
