"""Stand-ins shared by the training tests of this package."""

from __future__ import annotations

import json


class FakeArtifact:
    """A model artifact the registry can store and hash: its payload as JSON."""

    def __init__(self, payload: dict) -> None:
        self.payload = payload

    def save(self, directory) -> None:
        (directory / "state.json").write_text(json.dumps(self.payload))
