"""A per-deployment circuit breaker: closed, open (cooling down), half-open (one probe)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CircuitBreaker:
    failure_threshold: int
    cooldown_seconds: float
    max_cooldown_seconds: float
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False
    current_cooldown: float = 0.0

    def allows(self, now: float) -> bool:
        """Closed: yes. Open: no until the cooldown ends, then exactly one probe at a time."""
        if self.failures < self.failure_threshold:
            return True
        if now < self.open_until or self.probing:
            return False
        self.probing = True
        return True

    def retry_in(self, now: float) -> float:
        return max(0.0, self.open_until - now)

    def record_success(self) -> None:
        self.failures = 0
        self.probing = False
        self.current_cooldown = 0.0

    def record_failure(self, now: float) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.failure_threshold:
            # A failed probe doubles the cooldown, up to the cap.
            base = (
                self.current_cooldown * 2 if self.probing and self.current_cooldown else self.cooldown_seconds
            )
            self.current_cooldown = min(base, self.max_cooldown_seconds)
            self.open_until = now + self.current_cooldown
            self.failures = max(self.failures, self.failure_threshold)
        self.probing = False

    def release_probe(self) -> None:
        """The probe ended without a verdict on health (e.g. the client's own 4xx)."""
        self.probing = False
