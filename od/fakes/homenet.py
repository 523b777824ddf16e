"""A fake HomeNet IOL: the SOAP integration service (our own WSDL, ``homenet.wsdl``, served at
``?WSDL``) and the "HomeNet standard" CSV export, over an inventory per rooftop.

``LoadCompressedVehicles`` answers the fields the caller listed, in the caller's order, as
the escaped compressed document HomeNet uses (see the WSDL's comment); ``UpdatedSinceDate``
filters on each vehicle's ``updated_at``. A wrong token or an unknown rooftop is answered
``IsSuccess=false`` with an ``ErrorMessage``, as the service does.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web
from lxml import etree

from od.fakes.inventory import FakeVehicle
from od.fakes.server import FakeServer, Fault

WSDL_FILE = Path(__file__).with_name("homenet.wsdl")
SERVICE_PATH = "/IntegrationService.asmx"
NAMESPACE = "http://www.homenetinc.com/IntegrationService/"
IMAGE_HOST = "https://content.homenet.example"


def _price(amount: int) -> str:
    return str(amount) if amount else ""


# HomeNet field code -> how the service renders it (every value a string, as in the sample).
FIELDS: dict[str, Callable[[FakeVehicle], str]] = {
    "vin": lambda v: v.vin,
    "stock": lambda v: v.stock,
    "type": lambda v: "New" if v.condition == "new" else "Used",
    "certified": lambda v: "True" if v.certified else "False",
    "year": lambda v: str(v.year),
    "make": lambda v: v.make,
    "model": lambda v: v.model,
    "trim": lambda v: v.trim,
    "bodystyle": lambda v: v.body,
    "doors": lambda v: "4",
    "drivetype": lambda v: v.drivetrain,
    "transmission": lambda v: v.transmission,
    "enginedescription": lambda v: f"{v.engine_size} I{v.cylinders} DOHC 16V",
    "enginecylinders": lambda v: str(v.cylinders),
    "enginedisplacement": lambda v: v.engine_size,
    "fueltype": lambda v: v.fuel_type,
    "extcolor": lambda v: v.exterior_color,
    "intcolor": lambda v: v.interior_color,
    "miles": lambda v: str(v.miles),
    "sellingprice": lambda v: _price(v.price),
    "msrp": lambda v: str(v.msrp),
    "internetprice": lambda v: _price(v.price),
    "invoice": lambda v: "",
    "bookvalue": lambda v: "0",
    "imagelist": lambda v: "|".join(f"{IMAGE_HOST}/640x480/{path}" for path in v.images),
    "options": lambda v: ",".join(v.options),
    "description": lambda v: v.description,
    "dateinstock": lambda v: v.in_stock.strftime("%m/%d/%Y"),
    "datemodifieddate": lambda v: v.updated_at.strftime("%m/%d/%Y %H:%M:%S"),
    "dealerurl": lambda v: "www.example-honda.test",
    "vdpurl": lambda v: f"https://www.example-honda.test/inventory/{v.slug}/",
    "vehicleid": lambda v: v.uuid,
}


Record = FakeVehicle | Mapping[str, str]
"""A generated vehicle, or a record given as HomeNet field code -> value (e.g. a real sample)."""


def compressed_document(rooftops: Mapping[str, Sequence[Record]], fields: Sequence[str]) -> str:
    """``<F _0="vin" ...><RS><R id=".."><VS><V _0=".." .../>...</VS></R></RS></F>``."""
    render = [FIELDS.get(code, lambda v: "") for code in fields]
    out = ["<F", *(f" _{i}={quoteattr(code)}" for i, code in enumerate(fields)), "><RS>"]
    for rooftop, vehicles in rooftops.items():
        out.append(f"<R id={quoteattr(rooftop)}><VS>")
        for vehicle in vehicles:
            if isinstance(vehicle, FakeVehicle):
                values = [fn(vehicle) for fn in render]
            else:
                values = [str(vehicle.get(code, "")) for code in fields]
            out.append("<V")
            out.extend(f" _{i}={quoteattr(value)}" for i, value in enumerate(values))
            out.append("/>")
        out.append("</VS></R>")
    out.append("</RS></F>")
    return "".join(out)


def soap_envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def results(success: bool, error: str = "", document: str = "") -> bytes:
    return soap_envelope(
        f'<LoadCompressedVehiclesResponse xmlns="{NAMESPACE}"><LoadCompressedVehiclesResult>'
        f"<IsSuccess>{'true' if success else 'false'}</IsSuccess>"
        f"<ErrorMessage>{escape(error)}</ErrorMessage>"
        f"<CompressedVehicles>{escape(document)}</CompressedVehicles>"
        "</LoadCompressedVehiclesResult></LoadCompressedVehiclesResponse>"
    )


def soap_fault(message: str, code: str = "soap:Server") -> bytes:
    return soap_envelope(
        f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring><detail /></soap:Fault>"
    )


# The "HomeNet standard" export (DealerSend/FTP): ~60 columns, matched by header name.
CSV_COLUMNS: dict[str, Callable[[FakeVehicle], str]] = {
    "Type": lambda v: "New" if v.condition == "new" else "Used",
    "Stock": lambda v: v.stock,
    "VIN": lambda v: v.vin,
    "Year": lambda v: str(v.year),
    "Make": lambda v: v.make,
    "Model": lambda v: v.model,
    "Body": lambda v: v.body,
    "Trim": lambda v: v.trim,
    "ModelNumber": lambda v: "",
    "Doors": lambda v: "4",
    "ExteriorColor": lambda v: v.exterior_color,
    "InteriorColor": lambda v: v.interior_color,
    "EngineCylinders": lambda v: str(v.cylinders),
    "EngineDisplacement": lambda v: v.engine_size,
    "Transmission": lambda v: v.transmission,
    "Miles": lambda v: str(v.miles),
    "SellingPrice": lambda v: str(v.price),
    "MSRP": lambda v: str(v.msrp),
    "BookValue": lambda v: "0",
    "Invoice": lambda v: "0",
    "Certified": lambda v: "Yes" if v.certified else "No",
    "DateInStock": lambda v: v.in_stock.strftime("%m/%d/%Y"),
    "Description": lambda v: v.description,
    "Options": lambda v: ",".join(v.options),
    "Categorized Options": lambda v: "",
    "Dealer Name": lambda v: "Example Honda",
    "Dealer Address": lambda v: "1 Main St",
    "Dealer City": lambda v: "Springfield",
    "Dealer State": lambda v: "CA",
    "Dealer Zip": lambda v: "90000",
    "Dealer Phone": lambda v: "5555550100",
    "Dealer Fax": lambda v: "",
    "Dealer Email": lambda v: "sales@example-honda.test",
    "Comment": lambda v: "",
    "Style_Description": lambda v: f"{v.trim} {v.body}",
    "Ext_Color_Generic": lambda v: v.exterior_color.split()[-1],
    "Ext_Color_Code": lambda v: "",
    "Int_Color_Generic": lambda v: v.interior_color,
    "Int_Color_Code": lambda v: "",
    "Int_Upholstery": lambda v: "Leather",
    "Engine_Block_Type": lambda v: "I",
    "Engine_Aspiration_Type": lambda v: "Turbocharged",
    "Engine_Description": lambda v: f"{v.engine_size} I{v.cylinders} DOHC 16V",
    "Transmission_Speed": lambda v: "",
    "Transmission_Description": lambda v: v.transmission,
    "Drivetrain": lambda v: v.drivetrain,
    "Fuel_Type": lambda v: v.fuel_type,
    "CityMPG": lambda v: "28",
    "HighwayMPG": lambda v: "34",
    "EPAClassification": lambda v: "",
    "Wheelbase_Code": lambda v: "",
    # A third of the dealers leave the internet price at 0: the selling price is the price.
    "Internet_Price": lambda v: "0" if v.stock.startswith("S") or v.year % 3 == 0 else str(v.price),
    "Misc_Price1": lambda v: "0",
    "Misc_Price2": lambda v: "0",
    "Misc_Price3": lambda v: "0",
    "Factory_Codes": lambda v: "",
    "MarketClass": lambda v: "",
    "PassengerCapacity": lambda v: "5",
    "ExtColorHexCode": lambda v: "",
    "IntColorHexCode": lambda v: "",
    "EngineDisplacementCubicInches": lambda v: "",
    "ImageList": lambda v: ",".join(f"{IMAGE_HOST}/640x480/{path}" for path in v.images),
}


def csv_export(vehicles: Sequence[FakeVehicle], *, delimiter: str = ",", bom: bool = True) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for vehicle in vehicles:
        writer.writerow(fn(vehicle) for fn in CSV_COLUMNS.values())
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


def _parse_since(text: str) -> datetime | None:
    text = text.strip().strip("'\"")
    if not text:
        return None
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _updated_since(vehicle: Record, since: datetime | None) -> bool:
    return since is None or not isinstance(vehicle, FakeVehicle) or vehicle.updated_at > since


class FakeHomeNet(FakeServer):
    """``rooftops`` maps a rooftop id to its inventory; ``token`` is the one accepted."""

    def __init__(self, rooftops: dict[str, list[Record]], *, token: str = "test-integration-token") -> None:
        super().__init__()
        self.rooftops = rooftops
        self.token = token
        self.fault: Fault | None = None
        self.fault_message: str | None = None
        """Answer every call with a SOAP fault carrying this message (HTTP 500)."""
        self.calls: list[dict[str, str]] = []
        """The arguments of every ``LoadCompressedVehicles`` received."""
        self.csv_delimiter = ","
        self._cache: dict[tuple[str, ...], bytes] = {}

    @property
    def service_url(self) -> str:
        return self.url + SERVICE_PATH

    def routes(self, app: web.Application) -> None:
        app.router.add_get(SERVICE_PATH, self._wsdl)
        app.router.add_post(SERVICE_PATH, self._soap)
        app.router.add_get("/export/{rooftop}.csv", self._csv)

    async def _wsdl(self, request: web.Request) -> web.StreamResponse:
        if "wsdl" not in {key.lower() for key in request.query}:
            return web.Response(status=400, text="append ?WSDL for the service description")
        text = WSDL_FILE.read_text().replace("{address}", self.service_url)
        return web.Response(text=text, content_type="text/xml")

    async def _soap(self, request: web.Request) -> web.StreamResponse:
        try:
            root = etree.fromstring(await request.read())
        except etree.XMLSyntaxError:
            return web.Response(status=400, text="bad request: not XML")
        call = root.find(f".//{{{NAMESPACE}}}LoadCompressedVehicles")
        if call is None:
            return web.Response(
                body=soap_fault("unknown operation", "soap:Client"), status=500, content_type="text/xml"
            )
        args = {etree.QName(child).localname: (child.text or "") for child in call}
        self.calls.append(args)
        if self.fault_message is not None:
            return web.Response(body=soap_fault(self.fault_message), status=500, content_type="text/xml")
        return await self.answer(request, self._results(args), "text/xml; charset=utf-8", self.fault)

    def _results(self, args: dict[str, str]) -> bytes:
        if args.get("IntegrationToken") != self.token:
            return results(False, "Invalid integration token.")
        wanted = [r.strip() for r in args.get("RooftopCollection", "").split(",") if r.strip()]
        unknown = [r for r in wanted if r not in self.rooftops]
        if not wanted or unknown:
            return results(False, f"Rooftop not found: {','.join(unknown) or '(none given)'}")
        fields = [f.strip().lower() for f in args.get("FieldList", "").split(",") if f.strip()]
        since = _parse_since(args.get("UpdatedSinceDate", ""))
        key = (*wanted, *fields, str(since), *(str(len(self.rooftops[r])) for r in wanted))
        if key not in self._cache:
            chosen = {r: [v for v in self.rooftops[r] if _updated_since(v, since)] for r in wanted}
            self._cache[key] = results(True, document=compressed_document(chosen, fields))
        return self._cache[key]

    def changed(self) -> None:
        """Forget rendered answers after the inventory was edited."""
        self._cache.clear()

    async def _csv(self, request: web.Request) -> web.StreamResponse:
        rooftop = request.match_info["rooftop"]
        if rooftop not in self.rooftops:
            return web.Response(status=404, text="no such export")
        vehicles = [v for v in self.rooftops[rooftop] if isinstance(v, FakeVehicle)]
        body = csv_export(vehicles, delimiter=self.csv_delimiter)
        return await self.answer(request, body, "text/csv; charset=utf-8", self.fault)
