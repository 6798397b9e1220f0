"""Bridges from trainer-fsm to other libraries. Importing this package imports none of them.

- `fsm.integrations.transformers`: a drop-in `Trainer` for transformers users, whose
  construction runs through the state machine (``pip install trainer-fsm[transformers]``).
- `fsm.integrations.arguments`: `InitConfig` <-> transformers `TrainingArguments`.
- `fsm.integrations.callbacks`: calls transformers `TrainerCallback`s with the objects
  they expect (used by `handlers.callbacks.CallbackHandler`).
"""

from __future__ import annotations

__all__: list[str] = []
