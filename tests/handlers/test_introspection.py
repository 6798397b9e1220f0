"""introspect: labels, loss kwargs and the label smoother, read from the forward."""

from __future__ import annotations

import torch
from torch import nn

from handlers.introspection import LabelSmoother, accepts_loss_kwargs, can_return_loss, find_labels


class QA(nn.Module):
    def forward(self, input_ids, start_positions=None, end_positions=None, return_loss=True):
        return input_ids


class Tagger(nn.Module):
    def forward(self, x, token_labels=None, **kwargs):
        return x


def test_label_names_from_the_signature():
    """labels, *_labels and span positions are label names; others are not."""
    assert find_labels(QA()) == ["start_positions", "end_positions"]
    assert find_labels(Tagger()) == ["token_labels"]
    assert find_labels(nn.Linear(2, 2)) == []


def test_loss_kwargs_and_return_loss():
    """**kwargs means loss kwargs; an explicit attribute wins; return_loss=True is detected."""
    assert accepts_loss_kwargs(Tagger()) and not accepts_loss_kwargs(QA())
    tagger = Tagger()
    tagger.accepts_loss_kwargs = False
    assert not accepts_loss_kwargs(tagger)
    assert can_return_loss(QA()) and not can_return_loss(Tagger())


def test_label_smoother_matches_torch_and_ignores_padding():
    """The smoother equals torch's smoothed cross-entropy over non-ignored positions."""
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.randint(0, 7, (2, 5))
    labels[0, 0] = -100
    got = LabelSmoother(epsilon=0.1)(logits, labels)
    keep = labels.view(-1) != -100
    want = nn.functional.cross_entropy(logits.view(-1, 7)[keep], labels.view(-1)[keep], label_smoothing=0.1)
    assert torch.allclose(got, want)


def test_config_label_names_win(cpu_config, mlp_inputs):
    """label_names in the config override what the signature says."""
    from fsm import TrainerInit

    setup = TrainerInit(cpu_config.replace(label_names=["y"]), log=False, **mlp_inputs).run()
    assert setup.label_names == ["y"]
