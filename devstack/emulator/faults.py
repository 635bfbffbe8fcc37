"""Fault rules: scripted misbehaviour for the next matching requests or callbacks.

A request fault is taken by the next request to its endpoint whatever that request holds, before
authorization or validation, as an outage or a gateway would. A callback fault is taken by the next
accepted upload that has a callback URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from devstack.emulator.errors import InvalidFaultRuleError

REQUEST_ENDPOINTS = frozenset(
    {"upload_url", "get_metadata", "list_videos", "get_video_caption", "get_audio_transcription"}
)
CALLBACK_ENDPOINT = "callback"

# Business codes a fault may answer with, and the message used when the rule gives none.
FAULT_CODES: Mapping[str, str] = {
    "0001": "parameters incorrect",
    "0003": "parameters incorrect",
    "0401": "authorization invalid",
    "0402": "not enough points",
    "0403": "developer account disabled",
    "0409": "duplicate request not allowed",
    "0429": "Request has exceeded the limit.",
    "9009": "permission denied",
}
FAULT_HTTP_STATUSES = frozenset({500, 502, 503})

# kind -> the keys a rule of that kind may carry besides endpoint, kind and times.
_REQUEST_KINDS: Mapping[str, frozenset[str]] = {
    "code": frozenset({"code", "msg"}),
    "http": frozenset({"status"}),
    "reset": frozenset(),
    "slow": frozenset({"seconds", "lose_callbacks"}),
    "accept_then_reset": frozenset({"lose_callbacks"}),
}
_CALLBACK_KINDS: Mapping[str, frozenset[str]] = {
    "drop": frozenset(),
    "duplicate": frozenset(),
    "reorder": frozenset(),
}


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour. Only the fields of its kind are meaningful."""

    endpoint: str
    kind: str
    code: str = ""
    msg: str = ""
    status: int = 0
    seconds: float = 0.0
    # For the kinds that accept the upload: none of its callbacks is sent (the worst ambiguous case).
    lose_callbacks: bool = False


def parse_rule(rule: object) -> tuple[Fault, int]:
    """Validate one rule as sent to the control API; return the fault and how many times it applies."""
    if not isinstance(rule, Mapping):
        raise InvalidFaultRuleError(f"a fault rule must be a JSON object, got {rule!r}")
    endpoint = rule.get("endpoint")
    kind = rule.get("kind")
    if endpoint in REQUEST_ENDPOINTS:
        kinds = _REQUEST_KINDS
    elif endpoint == CALLBACK_ENDPOINT:
        kinds = _CALLBACK_KINDS
    else:
        raise InvalidFaultRuleError(
            f"endpoint must be one of {sorted(REQUEST_ENDPOINTS | {CALLBACK_ENDPOINT})}, got {endpoint!r}"
        )
    if not isinstance(kind, str) or kind not in kinds:
        raise InvalidFaultRuleError(f"kind for {endpoint} must be one of {sorted(kinds)}, got {kind!r}")
    extra = set(rule) - {"endpoint", "kind", "times"} - kinds[kind]
    if extra:
        raise InvalidFaultRuleError(f"unexpected key(s) for kind {kind}: {sorted(extra)}")
    times = rule.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise InvalidFaultRuleError(f"times must be a positive integer, got {times!r}")
    return _build(endpoint, kind, rule), times


def _build(endpoint: str, kind: str, rule: Mapping[str, object]) -> Fault:
    if kind == "code":
        code = rule.get("code")
        if not isinstance(code, str) or code not in FAULT_CODES:
            raise InvalidFaultRuleError(f"code must be one of {sorted(FAULT_CODES)}, got {code!r}")
        msg = rule.get("msg", FAULT_CODES[code])
        if not isinstance(msg, str):
            raise InvalidFaultRuleError(f"msg must be a string, got {msg!r}")
        return Fault(endpoint, kind, code=code, msg=msg)
    if kind == "http":
        status = rule.get("status")
        if status not in FAULT_HTTP_STATUSES or not isinstance(status, int):
            allowed = sorted(FAULT_HTTP_STATUSES)
            raise InvalidFaultRuleError(f"status must be one of {allowed}, got {status!r}")
        return Fault(endpoint, kind, status=status)
    lose_callbacks = rule.get("lose_callbacks", False)
    if not isinstance(lose_callbacks, bool):
        raise InvalidFaultRuleError(f"lose_callbacks must be true or false, got {lose_callbacks!r}")
    if kind == "slow":
        seconds = rule.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise InvalidFaultRuleError(f"seconds must be a non-negative number, got {seconds!r}")
        return Fault(endpoint, kind, seconds=float(seconds), lose_callbacks=lose_callbacks)
    return Fault(endpoint, kind, lose_callbacks=lose_callbacks)


class FaultQueue:
    """Rules in the order they were added; each matching request consumes one use of the first match.

    Not locked: the emulator's state lock guards it.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Fault, int]] = []

    def add(self, rules: list[tuple[Fault, int]]) -> None:
        self._pending.extend(rules)

    def take(self, endpoint: str) -> Fault | None:
        for index, (fault, remaining) in enumerate(self._pending):
            if fault.endpoint == endpoint:
                if remaining > 1:
                    self._pending[index] = (fault, remaining - 1)
                else:
                    del self._pending[index]
                return fault
        return None

    def clear(self) -> None:
        self._pending.clear()
