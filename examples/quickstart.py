"""Quick start: set up a training run in eleven phases, then train a few steps on it.

python examples/quickstart.py
"""

from fsm import InitConfig, TrainerInit
from fsm.demo import SyntheticRegression, TinyMLP

config = InitConfig(output_dir="trainer_output", seed=42, learning_rate=0.01, per_device_train_batch_size=32)
init = TrainerInit(config, model_init=TinyMLP, train_dataset=SyntheticRegression(256))
setup = init.run()  # Uninitialized -> Seeded -> ... -> Ready
print(f"{init.state}: {type(setup.model).__name__} on {setup.device}, output in {setup.output_dir}")

optimizer = setup.create_optimizer()
for step, batch in enumerate(setup.train_dataloader(), start=1):
    loss = setup.model(**batch)["loss"]
    setup.accelerator.backward(loss)
    optimizer.step()
    optimizer.zero_grad()
    print(f"step {step}: loss {loss.item():.4f}")
