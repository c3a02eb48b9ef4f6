"""The `Prefer` request header (RFC 7240) as the image routes read it.

`respond-async` asks for a job instead of the answer; `wait=N` asks for the answer if it is
ready within N seconds and the job otherwise (so it also makes the request asynchronous). Other
preferences are ignored, as the RFC says they may be.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Longest `wait` honoured: past it clients are better served by polling or a webhook.
MAX_WAIT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Preference:
    asynchronous: bool = False
    wait: float | None = None

    def applied(self) -> str:
        """The Preference-Applied header value."""
        parts = ["respond-async"]
        if self.wait is not None:
            parts.append(f"wait={self.wait:g}")
        return ", ".join(parts)


def parse_prefer(values: list[str]) -> Preference:
    asynchronous = False
    wait: float | None = None
    for value in values:
        for token in value.split(","):
            name, _, argument = token.strip().partition("=")
            name = name.strip().lower()
            if name == "respond-async":
                asynchronous = True
            elif name == "wait":
                try:
                    seconds = float(argument.strip().strip('"').split(";")[0])
                except ValueError:
                    continue
                if seconds >= 0:
                    wait = min(seconds, MAX_WAIT_SECONDS)
                    asynchronous = True
    return Preference(asynchronous, wait)
