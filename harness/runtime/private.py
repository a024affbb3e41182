"""Files only the run's own user may read: keys, store passwords, configurations that hold them.

Standard library only: the driver and Livy processes on a docker backend's nodes write such files too,
with the image's Python, which has the harness's runtime dependencies and no more.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_secret(path: Path, data: bytes) -> None:
    """Created 0600 before a byte is written, so no other user ever reads it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)
