"""Reconfigure a set-up that is Ready: change a field, and only the phases that read it
(and those after them) run again. The model is not rebuilt when only the output
directory changes.

    python examples/reconfigure.py
"""

from __future__ import annotations

from events import PhaseRolledBack, PhaseStarted
from fsm import ConfigError, InitConfig, TrainerInit
from fsm.demo import SyntheticRegression, TinyMLP

builds = 0


def model_init() -> TinyMLP:
    global builds
    builds += 1
    return TinyMLP()


init = TrainerInit(InitConfig(output_dir="trainer_output/first"), model_init=model_init,
                   train_dataset=SyntheticRegression(64), log=False)  # fmt: skip
init.run()

undone: list[str] = []
ran: list[str] = []
init.bus.subscribe(PhaseRolledBack, lambda event: undone.append(event.phase))
init.bus.subscribe(PhaseStarted, lambda event: ran.append(event.phase))

state = init.reconfigure(output_dir="trainer_output/second")
print(f"rolled back to {state}, undoing: {', '.join(undone)}")
setup = init.resume()
print(f"{init.state} again, re-running only: {', '.join(ran)}")
print(f"output now in {setup.output_dir}; model_init was called {builds} time(s)")

# A change the guards reject changes nothing: the machine stays Ready with the old config.
try:
    init.reconfigure(gradient_accumulation_steps=0)
except ConfigError as err:
    print(f"rejected, still {init.state} with output_dir={init.config.output_dir}:\n{err}")
