"""Built-in plugin: placeholder until implemented."""

from __future__ import annotations
