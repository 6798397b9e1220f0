"""Phase 5, `place`: move the model to the accelerator's device, unless the strategy forbids it.

`ModelPlaced` says where the model is, whether it moved, and why (or why not).
Rollback moves every parameter and buffer back to the device it was on before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from events.types import ModelPlaced
from handlers.base import Phase

if TYPE_CHECKING:
    from handlers.context import SetupContext

__all__ = ["PlacePhase", "model_devices"]


def model_devices(model: Any) -> dict[str, Any]:
    """The device of every parameter and buffer, by name."""
    devices = {name: t.device for name, t in model.named_parameters()}
    devices.update({name: t.device for name, t in model.named_buffers()})
    return devices


def _device_summary(model: Any) -> str:
    devices = sorted({str(d) for d in model_devices(model).values()})
    return ",".join(devices) or "none"


class PlacePhase(Phase):
    """Move the model to `accelerator.device` when `place_model_on_device` holds."""

    trigger = "place"
    reads = frozenset({"use_cpu", "place_model_on_device"})

    def run(self, ctx: SetupContext) -> ModelPlaced:
        model, device = ctx.model, ctx.accelerator.device
        ctx.model_wrapped = model
        if not ctx.place_model_on_device:
            return ModelPlaced(
                device=_device_summary(model),
                moved=False,
                reason="not moved: " + "; ".join(ctx.placement_reasons),
            )
        if getattr(model, "quantization_method", None) == "bitsandbytes":
            return ModelPlaced(
                device=_device_summary(model),
                moved=False,
                reason="not moved: bitsandbytes-quantized models cannot be moved with .to()",
            )
        before = model_devices(model)
        if all(d == device for d in before.values()):
            return ModelPlaced(device=str(device), moved=False, reason=f"already on {device}")
        ctx.undo[self.trigger] = before
        model.to(device)
        ctx.model_moved = True
        return ModelPlaced(device=str(device), moved=True, reason=f"moved to {device}")

    def rollback(self, ctx: SetupContext) -> None:
        before = ctx.undo.get(self.trigger)
        model = ctx.model
        if before is None or model is None:
            return
        targets = set(before.values())
        if len(targets) == 1:
            model.to(targets.pop())
            return
        tensors = dict(model.named_parameters())
        tensors.update(dict(model.named_buffers()))
        for name, device in before.items():
            tensor = tensors.get(name)
            if tensor is not None and tensor.device != device:
                tensor.data = tensor.data.to(device)
