"""Fakes of the outside world the fetchers read: real local HTTP servers (127.0.0.1, a free
port) speaking HomeNet's SOAP service and CSV export, Dealer.com's inventory API and a dealer
web site with schema.org data, over generated inventories. Used by the tests, the benchmarks
and ``od demo``; ``python -m od.fakes KIND`` runs one on its own.
"""

from od.fakes.dealer_com import FakeDealerCom
from od.fakes.dealer_site import FakeDealerSite
from od.fakes.homenet import FakeHomeNet
from od.fakes.inventory import FakeVehicle, generate
from od.fakes.server import FakeServer, Fault, Received

__all__ = [
    "FakeDealerCom",
    "FakeDealerSite",
    "FakeHomeNet",
    "FakeServer",
    "FakeVehicle",
    "Fault",
    "Received",
    "generate",
]
