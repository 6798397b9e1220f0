"""The machine from Uninitialized to Ready: phases, events, the result, failures."""

from __future__ import annotations

import pytest
import torch

from events import FactEvent, PhaseCompleted, PhaseStarted
from events.testing import capture_events
from fsm import (
    FAILED,
    INITIAL,
    READY,
    STATES,
    TRIGGERS,
    ConfigError,
    InitConfig,
    PhaseError,
    StateError,
    TrainerInit,
)
from fsm.demo import SyntheticRegression, TinyMLP


def test_mlp_reaches_ready_and_returns_a_setup(cpu_config, mlp_inputs):
    """A tiny MLP goes through all eleven phases and the result holds a placed model."""
    init = TrainerInit(cpu_config, **mlp_inputs)
    assert init.state == INITIAL
    setup = init.run()
    assert init.state == READY
    assert setup.model is mlp_inputs["model"]
    assert setup.model_wrapped is setup.model
    assert next(setup.model.parameters()).device == setup.accelerator.device
    assert setup.label_names == ["labels"]
    assert setup.state.global_step == 0
    assert setup.control.should_training_stop is False
    assert [type(cb).__name__ for cb in setup.callbacks.callbacks] == ["DefaultFlowCallback", "ProgressCallback"]


def test_events_arrive_in_order_with_one_fact_per_phase(cpu_config, lm_inputs):
    """Eleven PhaseStarted/PhaseCompleted pairs, each with one fact event between, seq gapless."""
    with capture_events() as events:
        TrainerInit(cpu_config, **lm_inputs).run()
    assert events[0].name == "InitStarted"
    assert events[-1].name == "InitReady"
    assert [e.seq for e in events] == list(range(len(events)))
    body = events[1:-1]
    assert len(body) == 33
    for i, trigger in enumerate(TRIGGERS):
        started, fact, completed = body[3 * i : 3 * i + 3]
        assert isinstance(started, PhaseStarted) and started.phase == trigger
        assert isinstance(fact, FactEvent) and fact.phase == trigger
        assert isinstance(completed, PhaseCompleted) and completed.phase == trigger
        assert completed.state == STATES[i + 1]
        assert completed.duration_s >= 0
    assert len({e.run_id for e in events}) == 1


def test_every_event_serialises_to_a_flat_json_dict(cpu_config, mlp_inputs):
    """to_dict() of every event is JSON-serialisable and carries the envelope."""
    import json

    with capture_events() as events:
        TrainerInit(cpu_config, **mlp_inputs).run()
    for event in events:
        data = json.loads(json.dumps(event.to_dict()))
        assert data["event"] == event.name
        assert {"run_id", "seq", "time", "monotonic", "rank", "world_size", "phase", "attempt"} <= set(data)


def test_transformer_style_model_reports_what_its_forward_says(cpu_config, lm_inputs):
    """The LM's forward takes labels and **kwargs: label names and loss-kwargs support follow."""
    with capture_events() as events:
        setup = TrainerInit(cpu_config.replace(label_smoothing_factor=0.1), **lm_inputs).run()
    introspected = events.of_type(__import__("events").ModelIntrospected)[0]
    assert introspected.label_names == ["labels"]
    assert setup.model_accepts_loss_kwargs is True
    assert setup.label_smoother is not None and setup.label_smoother.epsilon == 0.1
    assert setup.model.config.use_cache is False  # finalize applied config.use_cache


def test_setup_trains_and_the_loss_falls(cpu_config, mlp_inputs):
    """Real optimizer steps on the TrainerSetup lower the loss."""
    config = cpu_config.replace(learning_rate=1e-2)
    setup = TrainerInit(config, **mlp_inputs).run()
    loader = setup.train_dataloader()
    optimizer = setup.create_optimizer()
    model = setup.model
    model.train()
    losses = []
    for _ in range(8):
        for batch in loader:
            loss = model(**batch)["loss"]
            setup.accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4


def test_lm_setup_trains_and_the_loss_falls(cpu_config, lm_inputs):
    """The tiny transformer LM learns its counting task from the set-up."""
    setup = TrainerInit(cpu_config.replace(learning_rate=3e-3), **lm_inputs).run()
    optimizer = setup.create_optimizer()
    losses = []
    for _ in range(6):
        for batch in setup.train_dataloader():
            loss = setup.model(**batch)["loss"]
            setup.accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.7


def test_step_runs_exactly_one_phase(cpu_config, mlp_inputs):
    """step() advances one state at a time, in table order."""
    init = TrainerInit(cpu_config, **mlp_inputs)
    seen = [init.state]
    while init.state != READY:
        assert init.next_trigger == TRIGGERS[len(seen) - 1]
        seen.append(init.step())
    assert seen == list(STATES[:-1])
    with pytest.raises(StateError, match="already Ready"):
        init.step()


def test_model_init_is_called_after_seeding(cpu_config):
    """model_init builds the same weights for the same seed, so it runs after seed."""
    built = [TrainerInit(cpu_config, model_init=TinyMLP).run().model for _ in range(2)]
    for a, b in zip(built[0].parameters(), built[1].parameters(), strict=True):
        assert torch.equal(a, b)


def test_model_init_with_one_argument_gets_the_trial(cpu_config):
    """A model_init with one parameter is called with the trial (None here)."""
    calls = []

    def model_init(trial):
        calls.append(trial)
        return TinyMLP()

    TrainerInit(cpu_config, model_init=model_init).run()
    assert calls == [None]


def test_failing_model_init_leaves_failed_state_and_restored_context(cpu_config):
    """A model_init that raises: Failed, PhaseError naming the phase, context as before the phase."""

    def model_init():
        raise RuntimeError("weights are corrupt")

    init = TrainerInit(cpu_config, model_init=model_init)
    init.step()
    init.step()
    assert init.state == "Accelerated"
    before = init.context.snapshot()
    with pytest.raises(PhaseError, match="resolve_model") as info:
        init.run()
    assert info.value.phase == "resolve_model"
    assert info.value.attempt == 1
    assert isinstance(info.value.__cause__, RuntimeError)
    assert init.state == FAILED
    assert init.failed_phase == "resolve_model"
    assert init.last_good_state == "Accelerated"
    assert isinstance(init.error, RuntimeError)
    assert init.context.snapshot() == before


def test_run_in_failed_state_asks_for_retry_or_resume(cpu_config):
    """run()/step() in Failed raise StateError pointing at retry() and resume()."""
    init = TrainerInit(cpu_config, model_init=lambda: None)
    with pytest.raises(PhaseError):
        init.run()
    with pytest.raises(StateError, match=r"retry\(\).*resume\(\)"):
        init.run()


def test_model_init_returning_none_is_a_clear_error(cpu_config):
    """model_init must return a model; None fails the phase with a message saying so."""
    init = TrainerInit(cpu_config, model_init=lambda: None)
    with pytest.raises(PhaseError, match="returned None"):
        init.run()


def test_both_model_and_model_init_are_rejected_before_anything(cpu_config):
    """Giving both is rejected by the guards; the machine stays Uninitialized."""
    init = TrainerInit(cpu_config, model=TinyMLP(), model_init=TinyMLP)
    with pytest.raises(ConfigError, match=r"model\.exactly_one"):
        init.run()
    assert init.state == INITIAL


def test_a_phase_can_be_swapped(cpu_config, mlp_inputs):
    """handlers= replaces one phase; its fact event is emitted in that phase's place."""
    from events import ModelPlaced
    from handlers import PlacePhase

    class NeverPlace(PlacePhase):
        def run(self, ctx):
            ctx.model_wrapped = ctx.model
            return ModelPlaced(device="cpu", moved=False, reason="custom placement")

    with capture_events() as events:
        TrainerInit(cpu_config, handlers={"place": NeverPlace()}, **mlp_inputs).run()
    assert events.of_type(ModelPlaced)[0].reason == "custom placement"


def test_unknown_handler_trigger_is_rejected(cpu_config, mlp_inputs):
    """handlers= with a trigger the table lacks names the valid triggers."""
    with pytest.raises(ConfigError, match="no such phase; the triggers are seed"):
        TrainerInit(cpu_config, handlers={"plcae": object()}, **mlp_inputs)


def test_config_may_be_a_mapping(tmp_path, mlp_inputs):
    """A dict config is turned into an InitConfig; an unknown key is rejected."""
    init = TrainerInit({"output_dir": str(tmp_path / "o"), "use_cpu": True}, **mlp_inputs)
    assert isinstance(init.config, InitConfig)
    with pytest.raises(ConfigError, match="did you mean 'seed'"):
        TrainerInit({"sede": 1}, **mlp_inputs)


def test_default_collator_is_used_when_none_given(cpu_config, mlp_inputs):
    """Without a collator the default one batches dict samples into tensors."""
    setup = TrainerInit(cpu_config, **mlp_inputs).run()
    batch = setup.data_collator([mlp_inputs["train_dataset"][i] for i in range(4)])
    assert batch["x"].shape == (4, 8)
    assert batch["labels"].shape == (4,)


def test_default_collator_renames_label_to_labels():
    """'label' and 'label_ids' become 'labels', as transformers' default collator does."""
    from handlers import default_data_collator

    batch = default_data_collator([{"x": torch.ones(2), "label": 1}, {"x": torch.zeros(2), "label": 0}])
    assert batch["labels"].tolist() == [1, 0]
    assert "label" not in batch


def test_output_dir_is_created_and_existing_files_are_kept(tmp_path, mlp_inputs):
    """An existing output dir is used as it is: a user's file in it survives."""
    out = tmp_path / "existing"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    TrainerInit(InitConfig(output_dir=str(out), use_cpu=True), **mlp_inputs).run()
    assert (out / "notes.txt").read_text() == "mine"


def test_root_logger_level_is_never_changed(cpu_config, mlp_inputs):
    """log_level sets trainer-fsm's own logger only."""
    import logging

    root = logging.getLogger().level
    TrainerInit(cpu_config.replace(log_level="debug"), **mlp_inputs, log=False).run()
    assert logging.getLogger().level == root
    assert logging.getLogger("trainer_fsm").level == logging.DEBUG


def test_user_callbacks_come_after_defaults_and_duplicates_warn(cpu_config, mlp_inputs):
    """User callbacks run after the defaults, before the progress bar; a duplicate is warned about."""
    from events import CallbacksRegistered
    from fsm import TrainerCallback

    class Mine(TrainerCallback):
        pass

    with capture_events() as events, pytest.warns(UserWarning, match="second Mine"):
        setup = TrainerInit(cpu_config, callbacks=[Mine, Mine()], **mlp_inputs).run()
    names = [type(cb).__name__ for cb in setup.callbacks.callbacks]
    assert names == ["DefaultFlowCallback", "Mine", "Mine", "ProgressCallback"]
    assert events.of_type(CallbacksRegistered)[0].duplicates == ["Mine"]


def test_on_init_end_is_called_once_at_ready(cpu_config, mlp_inputs):
    """A callback's on_init_end sees the config, state and control, once."""
    from fsm import TrainerCallback

    seen = []

    class Hook(TrainerCallback):
        def on_init_end(self, args, state, control, **kwargs):
            seen.append((args, state.global_step, control.should_training_stop))

    TrainerInit(cpu_config, callbacks=[Hook()], **mlp_inputs).run()
    assert len(seen) == 1
    assert seen[0][0].output_dir == cpu_config.output_dir


def test_disable_tqdm_uses_the_printer(cpu_config, mlp_inputs):
    """disable_tqdm swaps the progress bar for the printer callback."""
    setup = TrainerInit(cpu_config.replace(disable_tqdm=True), **mlp_inputs).run()
    assert type(setup.callbacks.callbacks[-1]).__name__ == "PrinterCallback"


def test_max_steps_is_planned_from_the_data(cpu_config):
    """init_state derives max_steps from dataset length, batch size and epochs."""
    setup = TrainerInit(
        cpu_config.replace(per_device_train_batch_size=10, num_train_epochs=2),
        model=TinyMLP(),
        train_dataset=SyntheticRegression(95),
    ).run()
    assert setup.state.max_steps == 20
