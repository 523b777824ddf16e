"""HomeNet IOL over SOAP: ``LoadCompressedVehicles`` through zeep, carried by aiohttp.

zeep reads the service's own WSDL (``<OD_HOMENET_URL>?WSDL``, fetched with the run's timeouts)
and builds and parses the envelopes; aiohttp sends them, so the call has the same timeouts,
retries and error classification as every other fetcher. The answer's ``CompressedVehicles``
is an escaped XML document: the attributes of its ``F`` element name the fields behind the
short keys (``_0``, ``_1``, …) of every ``V`` element (see od/fakes/homenet.wsdl).

A full pull sends an empty ``UpdatedSinceDate`` and may complete the feed; an incremental one
sends the dealer's cursor (minus an overlap) and only refreshes what changed. The integration
token travels in the SOAP body only and is never logged or put in an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from xml.parsers import expat

import zeep
import zeep.exceptions
from lxml import etree
from multidict import CIMultiDictProxy
from zeep.proxy import AsyncServiceProxy
from zeep.transports import Transport
from zeep.wsdl.utils import etree_to_string

from od.events import VehicleObserved
from od.fetchers.base import Http, Pull, status_error
from od.fetchers.errors import PermanentSourceError, TransientSourceError
from od.normalize.homenet import homenet_columns, homenet_raw

FIELD_CODES = (
    "vin", "stock", "type", "certified", "year", "make", "model", "trim", "bodystyle", "drivetype",
    "transmission", "enginedescription", "enginecylinders", "enginedisplacement", "fueltype", "extcolor",
    "intcolor", "miles", "internetprice", "sellingprice", "msrp", "bookvalue", "imagelist", "options",
    "description", "dateinstock", "vdpurl",
)  # fmt: skip
"""The HomeNet fields asked for (``FieldList``); ``od.normalize.homenet_raw`` maps them."""
FIELD_LIST = ",".join(FIELD_CODES)
CURSOR_OVERLAP = timedelta(minutes=10)
"""An incremental pull asks for changes since the last pull's start minus this, so a change
made while that pull ran is not missed (seeing a vehicle twice is harmless)."""


def parse_compressed(document: str) -> Iterator[dict[str, str]]:
    """The vehicles of a ``CompressedVehicles`` document, keyed by HomeNet field code.

    Read with expat, not lxml: only attributes matter and no tree is built, which halves the
    time of this, the slowest step of a HomeNet pull. A document type declaration (the door to
    entity expansion) is refused.
    """
    if not document.strip():
        raise ValueError("empty CompressedVehicles")
    headers: list[dict[str, str]] = []
    vehicles: list[dict[str, str]] = []

    def start(tag: str, attributes: dict[str, str]) -> None:
        if tag == "V":
            vehicles.append(attributes)
        elif tag == "F":
            headers.append(attributes)

    def refuse_doctype(*_: object) -> None:
        raise ValueError("a document type declaration is not allowed")

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = refuse_doctype
    try:
        parser.Parse(document, True)
    except expat.ExpatError as exc:
        raise ValueError(f"not XML: {exc}") from None
    if not headers:
        raise ValueError("no F element naming the fields")
    names = {key: value.strip().lower() for key, value in headers[0].items()}
    for attributes in vehicles:
        yield {names.get(key, key): value for key, value in attributes.items()}


@dataclass(frozen=True)
class _Reply:
    """What zeep reads of an HTTP answer."""

    status_code: int
    content: bytes
    headers: CIMultiDictProxy[str]
    encoding: str | None


class _AiohttpTransport(Transport):
    """zeep's transport over the run's ``Http``: documents were fetched beforehand (zeep loads
    them synchronously), operations are posted asynchronously."""

    def __init__(self, http: Http, documents: dict[str, bytes]) -> None:
        # Transport.__init__ would open a requests.Session; nothing of it is used here.
        self.http = http
        self.documents = documents
        self.cache = None
        self._close_session = False

    def load(self, url: str) -> bytes:
        try:
            return self.documents[url]
        except KeyError:
            raise PermanentSourceError(
                urlsplit(url).netloc, f"the WSDL refers to {url}, which was not fetched"
            ) from None

    async def post_xml(self, address: str, envelope: etree._Element, headers: dict[str, str]) -> _Reply:
        page = await self.http.request(
            "POST", address, data=etree_to_string(envelope), headers=headers, accept=(500,), retry=False
        )
        if page.status == 500 and b"Fault" not in page.body:
            raise status_error(page.host, 500, f"POST {urlsplit(address).path}")
        return _Reply(page.status, page.body, page.headers, page.charset)

    async def aclose(self) -> None:
        return None


async def load_compressed_vehicles(
    http: Http, endpoint: str, token: str, rooftop: str, updated_since: str
) -> list[dict[str, str]]:
    """Call the service and decode its answer; SOAP faults, refusals and garbled answers
    become ``SourceError``s, transient ones retried."""
    host = urlsplit(endpoint).netloc
    wsdl_url = f"{endpoint}?WSDL"
    wsdl = await http.get(wsdl_url)
    transport = _AiohttpTransport(http, {wsdl_url: wsdl.body})
    try:
        client = zeep.AsyncClient(wsdl_url, transport=transport, settings=zeep.Settings(xml_huge_tree=True))
        binding = client.bind()._binding
    except (etree.XMLSyntaxError, zeep.exceptions.Error, AttributeError) as exc:
        raise PermanentSourceError(host, f"not a usable WSDL at {urlsplit(wsdl_url).path}?WSDL: {exc}") from None
    service = AsyncServiceProxy(client, binding, address=endpoint)
    async for attempt in http.retrying():
        with attempt:
            try:
                result = await service.LoadCompressedVehicles(
                    IntegrationToken=token,
                    RooftopCollection=rooftop,
                    FieldList=FIELD_LIST,
                    InventoryFilter="",
                    UpdatedSinceDate=updated_since,
                )
            except zeep.exceptions.Fault as exc:
                kind = PermanentSourceError if "client" in str(exc.code or "").lower() else TransientSourceError
                raise kind(host, f"SOAP fault: {exc.message}") from None
            except (zeep.exceptions.TransportError, zeep.exceptions.XMLSyntaxError, etree.XMLSyntaxError) as exc:
                first_line = str(exc).split("\n", 1)[0][:200]
                raise TransientSourceError(host, f"garbled answer to LoadCompressedVehicles: {first_line}") from None
            if result is None or not result.IsSuccess:
                message = (result.ErrorMessage if result is not None else None) or "no reason given"
                raise PermanentSourceError(host, f"HomeNet refused LoadCompressedVehicles: {message}")
            try:
                return list(parse_compressed(result.CompressedVehicles or ""))
            except ValueError as exc:
                raise TransientSourceError(host, f"garbled CompressedVehicles: {exc}") from None
    raise AssertionError("unreachable")


async def pull(p: Pull) -> AsyncIterator[VehicleObserved]:
    rooftop = str(p.section("homenet", "rooftop_id")["rooftop_id"])
    if not p.settings.homenet_url:
        raise PermanentSourceError(p.dealer_id, "OD_HOMENET_URL is not set")
    if not p.settings.homenet_token:
        raise PermanentSourceError(p.dealer_id, "OD_HOMENET_TOKEN is not set")
    if p.updated_since is None:
        p.full = True  # nothing to be incremental from
    since = "" if p.full or p.updated_since is None else _iso(p.updated_since - CURSOR_OVERLAP)
    records = await load_compressed_vehicles(p.http, p.settings.homenet_url, p.settings.homenet_token, rooftop, since)
    columns = homenet_columns(FIELD_CODES)
    for record in records:
        observation = p.observe(homenet_raw(record, columns))
        if observation is not None:
            yield observation
    p.new_cursor = p.occurred_at


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
