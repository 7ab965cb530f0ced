"""What schemathesis.toml loads (`hooks`) to run against kehu: every request generated as valid
carries an Idempotency-Key of its own.

Generated requests reuse keys (the coverage phase sends the same few values to every operation),
and a key already used with another body is rightly a 422 (README "Retries"; the IETF
Idempotency-Key draft), which the positive-data check would report on every write. Requests
generated as invalid keep their key as generated, so a key the document forbids is still sent.
Reuse itself is tested in tests/test_slice.py."""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    meta = case.meta
    if case.headers and "Idempotency-Key" in case.headers and meta is not None and meta.generation.mode.is_positive:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
