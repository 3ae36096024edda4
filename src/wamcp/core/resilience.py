"""The core layer's resilience primitives in one import: clocks, rate limits and the retry policy.

The code lives in :mod:`wamcp.core.clock`, :mod:`wamcp.core.ratelimit` and :mod:`wamcp.core.retry`; this module only
re-exports it so callers have one stable path. The one thing to know: everything here waits through an injected
:class:`Clock`, so pass :class:`FakeClock` in tests and nothing really sleeps.
"""

from __future__ import annotations

from wamcp.core.clock import Clock, FakeClock, SystemClock
from wamcp.core.ratelimit import CATEGORY_CHATS, CATEGORY_MESSAGES, RateLimiter, TokenBucket, tool_category
from wamcp.core.retry import RetryPolicy, is_transient

__all__ = [
    "CATEGORY_CHATS",
    "CATEGORY_MESSAGES",
    "Clock",
    "FakeClock",
    "RateLimiter",
    "RetryPolicy",
    "SystemClock",
    "TokenBucket",
    "is_transient",
    "tool_category",
]
