"""The HomeNet standard CSV export (DealerSend/FTP drop), read from a path or a URL.

Where it is: the command line (``od fetch --source homenet_csv --csv PATH|URL``), else the
dealer's ``config.homenet.csv_url``. Columns, BOM, delimiters and price fall-through are
``od.normalize.parse_homenet_csv``'s business; the observations carry source ``homenet``.
A file is always a whole export, so a pull that read it completes the feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from od.events import VehicleObserved
from od.fetchers.base import Pull
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.normalize import parse_homenet_csv


async def read(p: Pull, location: str) -> bytes:
    """The export's bytes, from an http(s) URL or a local path (``file://`` allowed)."""
    if location.startswith(("http://", "https://")):
        return (await p.http.get(location)).body
    path = Path(urlsplit(location).path if location.startswith("file://") else location)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise PermanentSourceError(p.dealer_id, f"cannot read the CSV export {path}: {exc.strerror}") from None
    except OSError as exc:
        raise TransientSourceError(p.dealer_id, f"cannot read the CSV export {path}: {exc}") from None
    p.summary.pages += 1
    p.summary.bytes += len(data)
    return data


async def pull(p: Pull) -> AsyncIterator[VehicleObserved]:
    section = p.config.get("homenet")
    location = p.location or (section.get("csv_url") if isinstance(section, Mapping) else None)
    if not location:
        raise PermanentSourceError(p.dealer_id, "no CSV export location: pass --csv PATH|URL or set homenet.csv_url")
    data = await read(p, str(location))
    base_url = str(location) if str(location).startswith(("http://", "https://")) else None
    for raw in parse_homenet_csv(data):
        observation = p.observe(raw, base_url=base_url)
        if observation is not None:
            yield observation
    if p.summary.found == 0:
        # A 0-byte or header-only drop is a failed upload far more often than an empty lot.
        raise TransientSourceError(p.dealer_id, f"the CSV export {location} lists no vehicles (empty or cut short?)")
