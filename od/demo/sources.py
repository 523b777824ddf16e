"""The demo's local sample sources: the fakes of ``od.fakes`` serving the project's own
generated inventories (fixed seeds) in the real formats, one set per sample dealer.

The real sources disagree: a Dealer.com site shows a price drop the HomeNet feed has not caught
up with, a web site shows a later odometer reading or a shorter colour name. So the sources of
the multi-platform dealers overlap but differ on some fields, and the projection has real
conflicts to resolve. The formats' own quirks (dollar strings, call-for-price zeros, month
``00`` dates, MSRP 0 on used cars, stock photos shared by several cars) come from the fakes.

The sample dealers' YAML names ``*.example`` hosts (RFC 2606, never resolvable); :meth:`wire`
points each dealer's URLs at its local fake instead. That rewrite is demo-only wiring: the
published dealer is otherwise exactly the example file.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec
from aiohttp import web

from od.config import Settings
from od.enrichment.address import address_query
from od.events import DealerChanged
from od.fakes import FakeDealerCom, FakeDealerSite, FakeHomeNet, FakeServer, FakeVehicle, generate
from od.fakes.dealer_site import PERMISSIVE_ROBOTS
from od.fakes.geocoder import FakeNominatim
from od.fakes.homenet import FIELDS
from od.fakes.indexnow import FakeIndexNow
from od.fakes.rebrandly import FakeRebrandly

HOMENET_TOKEN = "demo-integration-token"
REBRANDLY_KEY = "demo-rebrandly-key"

PORTS = {"homenet": 18081, "rebrandly": 18082, "geocoder": 18083, "indexnow": 18084}
"""Preferred ports (stable URLs across runs, so a second run republishes identical dealers);
a port in use falls back to a free one."""

# A dealer without a `location` is geocoded; the demo's geocoder knows where it really is.
PLACES = {"prairie-ford": (41.76995, -88.17916)}


@dataclass(frozen=True)
class Inventory:
    """What each source of one dealer shows (a source the dealer lacks shows nothing)."""

    homenet: list[FakeVehicle] = field(default_factory=list)
    dealer_com: list[FakeVehicle] = field(default_factory=list)
    site: list[FakeVehicle] = field(default_factory=list)

    @property
    def vins(self) -> set[str]:
        return {v.vin for v in (*self.homenet, *self.dealer_com, *self.site)}


Views = Callable[[Iterable[FakeVehicle]], list[FakeVehicle]]


def _every(n: int, change: Callable[[FakeVehicle], FakeVehicle]) -> Views:
    """Apply ``change`` to every ``n``-th vehicle (a source's own view of shared cars)."""
    return lambda vehicles: [change(v) if i % n == 0 else v for i, v in enumerate(vehicles)]


_price_drop = _every(6, lambda v: dataclasses.replace(v, price=v.price - 750) if v.price > 750 else v)
_trim_label = _every(10, lambda v: dataclasses.replace(v, trim=f"{v.trim} Package"))
_later_odometer = _every(5, lambda v: dataclasses.replace(v, miles=v.miles + 37))
_short_colour = _every(8, lambda v: dataclasses.replace(v, exterior_color=v.exterior_color.rsplit(" ", 1)[0]))


def inventories() -> dict[str, Inventory]:
    """The sample dealers' inventories: deterministic, 50–90 vehicles each."""
    lakeside = generate(90, seed=18842)
    prairie = generate(60, seed=20517)
    return {
        # HomeNet carries everything; the Dealer.com site and the web site overlap most of it.
        "lakeside-honda": Inventory(
            homenet=lakeside,
            dealer_com=_trim_label(_price_drop(lakeside[10:80])),
            site=_short_colour(_later_odometer(lakeside[20:90])),
        ),
        "prairie-ford": Inventory(homenet=prairie, site=_later_odometer(_price_drop(prairie[5:60]))),
        "harbor-point-toyota": Inventory(dealer_com=generate(50, seed=92110)),
    }


class DealerComSite(FakeDealerCom):
    """A Dealer.com site with its vehicle pages too (every ``.htm`` answers), so the short-link
    worker's page check finds them."""

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_get("/{page:.+\\.htm}", self._page)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=f"<html><body><h1>{request.path}</h1></body></html>", content_type="text/html")


def port_or_free(preferred: int) -> int:
    """``preferred`` when nothing listens there, else 0 (the server picks a free port)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return 0
    return preferred


async def _start(server: FakeServer, preferred: int) -> None:
    try:
        await server.start(port_or_free(preferred))
    except OSError:  # taken between the check and the bind
        await server.start(0)


def _homenet_record(v: FakeVehicle, site: FakeDealerSite | None) -> dict[str, str]:
    """A vehicle as HomeNet lists it, its page on the dealer's local site (not the fake's
    placeholder host, which a link checker could not reach)."""
    record = {code: render(v) for code, render in FIELDS.items()}
    if site is not None:
        record["dealerurl"] = site.url
        record["vdpurl"] = site.url + site.detail_path(v)
    return record


class SampleSources:
    """Every local server the demo's dealers and workers talk to."""

    def __init__(self, dealers: Iterable[DealerChanged]) -> None:
        self.dealers = {d.dealer_id: d for d in dealers}
        self.inventories = inventories()
        self.homenet = FakeHomeNet({}, token=HOMENET_TOKEN)
        self.dealer_com: dict[str, DealerComSite] = {}
        self.sites: dict[str, FakeDealerSite] = {}
        for dealer_id, inv in self.inventories.items():
            if inv.dealer_com:
                self.dealer_com[dealer_id] = DealerComSite(inv.dealer_com, site_id=dealer_id.replace("-", ""))
            if inv.site:
                name = self.dealers[dealer_id].name if dealer_id in self.dealers else dealer_id
                self.sites[dealer_id] = FakeDealerSite(inv.site, name=name or dealer_id)
                self.sites[dealer_id].robots_txt = PERMISSIVE_ROBOTS
        self.rebrandly = FakeRebrandly(api_key=REBRANDLY_KEY)
        self.geocoder = FakeNominatim()
        self.indexnow = FakeIndexNow()

    @property
    def servers(self) -> list[FakeServer]:
        return [
            self.homenet,
            self.rebrandly,
            self.geocoder,
            self.indexnow,
            *self.dealer_com.values(),
            *self.sites.values(),
        ]

    async def start(self) -> None:
        await _start(self.homenet, PORTS["homenet"])
        await _start(self.rebrandly, PORTS["rebrandly"])
        await _start(self.geocoder, PORTS["geocoder"])
        await _start(self.indexnow, PORTS["indexnow"])
        for i, key in enumerate(sorted(self.dealer_com)):
            await _start(self.dealer_com[key], 18085 + i)
        for i, key in enumerate(sorted(self.sites)):
            await _start(self.sites[key], 18090 + i)
        for dealer_id, event in self.dealers.items():
            inv = self.inventories.get(dealer_id)
            if event.homenet is not None and inv is not None:
                site = self.sites.get(dealer_id)
                self.homenet.rooftops[event.homenet.rooftop_id] = [_homenet_record(v, site) for v in inv.homenet]
            if dealer_id in PLACES and event.address is not None:
                self.geocoder.places[address_query(event.address).casefold()] = PLACES[dealer_id]
        self.homenet.changed()

    async def close(self) -> None:
        for server in self.servers:
            await server.close()

    def settings(self, base: Settings) -> Settings:
        """``base`` pointed at the local servers, with limits sized for local fakes."""
        return base.replace(
            homenet_url=self.homenet.service_url,
            homenet_token=HOMENET_TOKEN,
            rebrandly_url=self.rebrandly.url,
            rebrandly_api_key=REBRANDLY_KEY,
            geocoder_url=self.geocoder.url,
            geocoder_rate_per_s=20.0,
            indexnow_endpoint=self.indexnow.endpoint,
            indexnow_flush_interval_s=0.5,
            rebrandly_rate_per_s=200.0,
            scrape_rate_per_s=200.0,
            scrape_concurrency=8,
            jobs_host_rate_per_s=50.0,
            jobs_retry_initial_s=0.5,
            jobs_max_dealers=8,
            jobs_max_per_dealer=4,
        )

    def wire(self, event: DealerChanged) -> DealerChanged:
        """The dealer with its ``*.example`` site URLs pointing at its local fakes (demo only)."""
        changes: dict[str, object] = {}
        if event.dealer_com is not None and event.dealer_id in self.dealer_com:
            url = self.dealer_com[event.dealer_id].url + "/"
            changes["dealer_com"] = msgspec.structs.replace(event.dealer_com, site_url=url)
        if event.scrape is not None and event.dealer_id in self.sites:
            site = self.sites[event.dealer_id]
            changes["scrape"] = msgspec.structs.replace(
                event.scrape, inventory_url=site.url + "/inventory/", sitemap_url=site.url + "/sitemap.xml"
            )
            changes["same_as"] = [site.url + "/about-us/"] if event.same_as else []
        return msgspec.structs.replace(event, **changes) if changes else event
