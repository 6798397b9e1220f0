"""trainer-fsm's event layer: event types, the bus, and the sinks that consume them.

This package imports neither `fsm` nor `handlers`; both build on it.
"""

from __future__ import annotations

from events.async_bus import AsyncEventBus
from events.bus import EventBus, Subscription
from events.exceptions import EventsError, SubscriberError, SubscriptionError
from events.log import StructlogSubscriber
from events.types import (
    EVENT_TYPES,
    AcceleratorReady,
    ArgumentsStored,
    CallbacksRegistered,
    Event,
    FactEvent,
    Finalized,
    GuardRejected,
    InitFailed,
    InitReady,
    InitStarted,
    ModelIntrospected,
    ModelPlaced,
    ModelResolved,
    OutputPrepared,
    PhaseCompleted,
    PhaseFailed,
    PhaseRetrying,
    PhaseRolledBack,
    PhaseStarted,
    Reconfigured,
    SeedSet,
    StateInitialized,
    StrategyResolved,
    SubscriberFailed,
)

# Marks this package as trainer-fsm's `events`, so `fsm` can tell it from PyPI's
# unrelated `Events` package, which also installs a top-level `events`.
__trainer_fsm__ = True

__all__ = [
    "EVENT_TYPES",
    "AcceleratorReady",
    "ArgumentsStored",
    "AsyncEventBus",
    "CallbacksRegistered",
    "Event",
    "EventBus",
    "EventsError",
    "FactEvent",
    "Finalized",
    "GuardRejected",
    "InitFailed",
    "InitReady",
    "InitStarted",
    "ModelIntrospected",
    "ModelPlaced",
    "ModelResolved",
    "OutputPrepared",
    "PhaseCompleted",
    "PhaseFailed",
    "PhaseRetrying",
    "PhaseRolledBack",
    "PhaseStarted",
    "Reconfigured",
    "SeedSet",
    "StateInitialized",
    "StrategyResolved",
    "StructlogSubscriber",
    "SubscriberError",
    "SubscriberFailed",
    "Subscription",
    "SubscriptionError",
]
