"""Every secret value this process has read, so that any text can be scrubbed of it and its usual encodings.

Key shapes (`sk-…`, `Bearer …`) catch only well-known keys; a lab's own tokens have no shape. So each value read
from the keyring or the environment is registered here when it is resolved (config.secrets does it), and
`scrub()` removes it from text before that text is shown, logged, returned as JSON or written to the ledger.

The registry is process-wide on purpose: a secret resolved by one adapter may come back in a reply handled by
any layer, and the redactor of every layer must know it. It only ever grows (a rotated key stays scrubbed) and
lives in memory only.

Values shorter than MIN_SECRET_LENGTH are not registered: scrubbing a 4-letter password would also cut that
word out of every message, and a key that short offers no protection worth the noise. Nor are the placeholder
keys that local servers are conventionally given (`ollama`, `lm-studio`, `EMPTY`, …): they protect nothing, and
scrubbing them would cut `ollama` out of every provider and model name in the ledger and on screen.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from urllib.parse import quote, quote_plus

MIN_SECRET_LENGTH = 6
PLACEHOLDER_KEYS = frozenset({
    "ollama", "lm-studio", "lmstudio", "llamacpp", "llama.cpp", "vllm", "empty", "none", "null", "dummy",
    "not-needed", "no-key", "nokey", "sk-no-key-required", "changeme", "password", "secret", "api-key", "apikey",
    "token", "placeholder", "anything",
})
"""Keys that are conventionally sent to servers that check none; compared without case."""
REPLACEMENT = "***"
# Registering is rare (once per key), scrubbing is frequent: the pattern is rebuilt on registration and read
# without a lock (replacing a reference is atomic).
_lock = threading.Lock()
_values: set[str] = set()
_fragments: set[str] = set()
_pattern: re.Pattern[str] | None = None
_tail: re.Pattern[str] | None = None
_longest = 0


def register_secret(value: str | None) -> None:
    """Remember `value` (and, for `user:pass`, the password alone) so that `scrub` removes it from any text."""
    if not value:
        return
    candidates = {value.strip(), value}
    user, sep, password = value.partition(":")
    if sep and user and password:  # HTTP Basic credentials: the password may be echoed on its own
        candidates.add(password)
    wanted = {c for c in candidates if len(c) >= MIN_SECRET_LENGTH and c.lower() not in PLACEHOLDER_KEYS}
    global _pattern, _tail, _longest
    with _lock:
        new = wanted - _values
        if not new:
            return
        _values.update(new)
        for secret in new:
            _fragments.update(encoded_forms(secret))
        ordered = sorted(_fragments, key=len, reverse=True)  # longest first: a form wins over its own prefix
        _pattern = re.compile("|".join(re.escape(fragment) for fragment in ordered))
        _longest = len(ordered[0])  # before the tail pattern: a reader that sees the new pattern sees this too
        _tail = re.compile("(?:" + "|".join(_prefixes_of(fragment) for fragment in ordered) + r")\Z")


def is_registered(value: str) -> bool:
    """True when `value` itself has been registered."""
    return value in _values


def contains_secret(text: str) -> bool:
    """True when `text` holds a registered secret or one of its encodings."""
    pattern = _pattern
    return pattern is not None and pattern.search(text) is not None


def scrub(text: str) -> str:
    """`text` with every registered secret, and each of its encodings, replaced by `***`."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REPLACEMENT, text)


def unfinished_tail(text: str) -> int:
    """How many characters at the end of `text` could be the start of a registered form (0 when none could).

    A scrubber of text arriving in pieces holds these back until the next piece shows whether a secret follows.
    """
    tail, longest = _tail, _longest
    if tail is None or not text:
        return 0
    match = tail.search(text, max(0, len(text) - longest + 1))  # the leftmost match is the longest tail
    return len(text) - match.start() if match else 0


def _prefixes_of(fragment: str) -> str:
    """A regex matching any proper, non-empty prefix of `fragment`: `a(?:b(?:c)?)?` for `abcd`."""
    pattern = ""
    for char in reversed(fragment[:-1]):
        pattern = re.escape(char) + (f"(?:{pattern})?" if pattern else "")
    return pattern


def encoded_forms(secret: str) -> set[str]:
    """The secret as text, URL-encoded, JSON-escaped, hex, and in base64 at each of the three byte alignments
    (so it is found inside a longer base64 text too, such as `Basic base64(user:pass)`)."""
    raw = secret.encode("utf-8")
    forms_ = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1], raw.hex(),
              raw.hex().upper()}
    forms_.add(quote(secret, safe="").replace("%", "%25"))  # encoded twice, as proxies do to a query
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        # Characters that mix in the unknown bytes before or after the secret are not part of the stable core.
        start = -(-8 * offset // 6)
        end = 8 * (offset + len(raw)) // 6
        core = encoded[start:end]
        if len(core) >= MIN_SECRET_LENGTH:
            forms_.add(core)
            forms_.add(core.replace("+", "-").replace("/", "_"))  # the URL-safe alphabet
    return {form for form in forms_ if len(form) >= MIN_SECRET_LENGTH}
