"""`TrainerSetup`: what a training loop needs, as the machine left it at Ready."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsm.config import InitConfig
    from handlers.callbacks import CallbackHandler
    from handlers.context import SetupContext
    from handlers.trainer_state import TrainerControl, TrainerState

__all__ = ["TrainerSetup"]


@dataclass
class TrainerSetup:
    """The result of a set-up: a placed model, its helpers, and a fresh training state.

    Attribute names follow transformers' `Trainer` where they overlap
    (`model_wrapped`, `label_names`, `place_model_on_device`, ...).
    """

    config: InitConfig
    accelerator: Any
    model: Any
    model_wrapped: Any
    train_dataset: Any
    eval_dataset: Any
    data_collator: Any
    processing_class: Any
    compute_metrics: Any
    compute_loss_func: Any
    optimizer: Any
    lr_scheduler: Any
    callbacks: CallbackHandler
    state: TrainerState
    control: TrainerControl
    label_names: list[str]
    model_accepts_loss_kwargs: bool
    can_return_loss: bool
    label_smoother: Any
    is_model_parallel: bool
    place_model_on_device: bool
    output_dir: str
    hub_repo_id: str | None
    run_id: str
    audit_path: str | None = None

    @classmethod
    def from_context(cls, ctx: SetupContext, *, audit_path: str | None = None) -> TrainerSetup:
        """Collect the products of a context that reached Ready."""
        return cls(
            config=ctx.config,
            accelerator=ctx.accelerator,
            model=ctx.model,
            model_wrapped=ctx.model_wrapped,
            train_dataset=ctx.train_dataset,
            eval_dataset=ctx.eval_dataset,
            data_collator=ctx.data_collator,
            processing_class=ctx.processing_class,
            compute_metrics=ctx.compute_metrics,
            compute_loss_func=ctx.compute_loss_func,
            optimizer=ctx.optimizer,
            lr_scheduler=ctx.lr_scheduler,
            callbacks=ctx.callback_handler,
            state=ctx.state,
            control=ctx.control,
            label_names=list(ctx.label_names or []),
            model_accepts_loss_kwargs=ctx.model_accepts_loss_kwargs,
            can_return_loss=ctx.can_return_loss,
            label_smoother=ctx.label_smoother,
            is_model_parallel=ctx.is_model_parallel,
            place_model_on_device=ctx.place_model_on_device,
            output_dir=str(ctx.output_dir),
            hub_repo_id=ctx.hub_repo_id,
            run_id=ctx.bus.run_id,
            audit_path=audit_path,
        )

    @property
    def args(self) -> InitConfig:
        """The config, under the name transformers' Trainer uses."""
        return self.config

    @property
    def device(self) -> Any:
        """The accelerator's device."""
        return self.accelerator.device

    def train_dataloader(self, *, shuffle: bool = True) -> Any:
        """A DataLoader over the train dataset (batch size, collator, seed from the
        config), prepared by the accelerator."""
        import torch
        from torch.utils.data import DataLoader

        if self.train_dataset is None:
            msg = "there is no train_dataset: pass train_dataset=... to TrainerInit"
            raise ValueError(msg)
        config = self.config
        generator = torch.Generator().manual_seed(config.data_seed if config.data_seed is not None else config.seed)
        loader = DataLoader(
            self.train_dataset,
            batch_size=config.per_device_train_batch_size,
            shuffle=shuffle and hasattr(self.train_dataset, "__len__"),
            collate_fn=self.data_collator,
            num_workers=config.dataloader_num_workers,
            drop_last=config.dataloader_drop_last,
            generator=generator,
        )
        return self.accelerator.prepare(loader)

    def create_optimizer(self) -> Any:
        """The optimizer: the one given to TrainerInit, or AdamW from the config, prepared."""
        import torch

        if self.optimizer is None:
            config = self.config
            self.optimizer = torch.optim.AdamW(
                [p for p in self.model.parameters() if p.requires_grad],
                lr=config.learning_rate,
                betas=(config.adam_beta1, config.adam_beta2),
                eps=config.adam_epsilon,
                weight_decay=config.weight_decay,
            )
        self.optimizer = self.accelerator.prepare(self.optimizer)
        return self.optimizer
