"""Errors raised by the event layer.

This module imports nothing from the package, so every other module can import it.
"""

from __future__ import annotations

__all__ = ["EventsError", "SubscriberError", "SubscriptionError"]


class EventsError(Exception):
    """Root of every error the event layer raises."""


class SubscriptionError(EventsError, TypeError):
    """Raised by `EventBus.subscribe` when a subscriber or its selector is unusable.

    The check happens at registration time, so a subscriber with the wrong signature
    fails where it is written, not later while a set-up is running.
    """


class SubscriberError(EventsError):
    """Raised by a *strict* bus when a subscriber raises.

    The subscriber's own exception is the ``__cause__``. A non-strict bus reports the
    failure as a ``SubscriberFailed`` event instead and carries on.
    """
