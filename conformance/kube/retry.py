"""The retry policy of every API call, in one place (tenacity).

Why it exists: a call retried in several layers multiplies its attempts and hides
resets. Here 429 (after ``Retry-After``), 5xx hiccups and dropped connections are retried
within :class:`RetryPolicy`'s bounds; a create retried after an uncertain try takes an
``AlreadyExists`` as its own success only when the object carries the run's label.

Must not: call the API server itself (callers pass the call), or retry any other 4xx.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity import stop_before_delay as _stop_before_delay

from conformance.kube.errors import (
    AlreadyExists,
    KubeError,
    _may_have_landed,
    is_retryable,
    map_error,
)
from conformance.kube.kinds import RUN_LABEL, Obj

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one API call tries before its error is raised.

    Attributes:
        attempts: tries in all (the first included).
        max_seconds: no retry starts once this much time (including the coming wait)
            would have passed since the first try.
        backoff_base: wait after the first failure; doubles each time.
        backoff_max: longest wait between tries (before jitter).
        retry_after_max: cap on a server's ``Retry-After``.
        jitter: spread waits over [w/2, w] so parallel workers do not retry in step.
    """

    attempts: int = 6
    max_seconds: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 10.0
    jitter: bool = True

    def delay(self, attempt: int, error: BaseException | None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        if isinstance(error, KubeError) and error.retry_after is not None:
            return min(error.retry_after, self.retry_after_max)
        wait: float = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        if self.jitter:
            wait = random.uniform(wait / 2, wait)  # noqa: S311 - spreading retries, not crypto
        return wait


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` under ``policy``; client errors come out as :class:`KubeError`.

    Retries 429 (after ``Retry-After``, capped), 500/502/503/504 and dropped or timed-out
    connections; never any other 4xx, nor an unreachable cluster. Bounded by
    ``policy.attempts`` and ``policy.max_seconds``.
    """

    def attempt() -> T:
        try:
            return fn()
        except KubeError:
            raise
        except Exception as exc:
            mapped = map_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return policy.delay(state.attempt_number, error)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.debug(
            "%s: try %d failed (%s); retrying in %.1fs",
            what,
            state.attempt_number,
            error,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts) | _stop_before_delay(policy.max_seconds),
        wait=wait,
        retry=retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    return retrying(attempt)


def create_with_retry(
    post: Callable[[], Obj],
    fetch: Callable[[], Obj | None],
    *,
    run: str | None,
    policy: RetryPolicy,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> Obj:
    """Create through ``post`` under ``policy``, telling our own earlier try from a clash.

    ``fetch`` reads the object by name (None when it does not exist); ``run`` is the run
    label value the new object carries.
    """
    uncertain = False

    def attempt() -> Obj:
        nonlocal uncertain
        try:
            return post()
        except Exception as exc:
            mapped = map_error(exc)
            if mapped is not None and _may_have_landed(mapped):
                uncertain = True
            raise

    try:
        return call_with_retry(attempt, policy=policy, what=what, sleep=sleep)
    except AlreadyExists:
        # A create is not idempotent: when a try's connection dropped (or the server
        # answered 5xx) the object may have been made anyway, and the retry then meets
        # AlreadyExists for our own object. But a same-named object can also belong to
        # someone else: an earlier run, another xdist worker, a user. Handing that back as
        # "created" would point the test at a stranger's object and let cleanup delete it.
        # The run label is the proof of ownership, so only an existing object with our
        # run's label counts as the success of the earlier try.
        if not uncertain or not run:
            raise
        existing = fetch()
        labels = ((existing or {}).get("metadata") or {}).get("labels") or {}
        if existing is None or labels.get(RUN_LABEL) != run:
            raise
        log.debug("%s: AlreadyExists after an uncertain try; it is ours (run %s)", what, run)
        return existing
