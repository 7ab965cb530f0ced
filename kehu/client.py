"""What the `kehu` commands that call the services share: whose token they present."""

from __future__ import annotations

import os

from shared.settings import Settings


def cli_token(settings: Settings) -> str | None:
    """``KEHU_TOKEN``, else the development admin token `kehu up` writes to ``<home>/dev-token``."""
    value = os.environ.get("KEHU_TOKEN", "").strip()
    path = settings.home / "dev-token"
    if not value and path.exists():
        value = path.read_text(encoding="utf-8").strip()
    return value or None
