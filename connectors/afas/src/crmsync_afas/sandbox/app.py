"""The Starlette app speaking Profit's REST API under /ProfitRestServices.

Routes: /metainfo, /metainfo/get/{id}, /metainfo/update/{id}, GET /connectors/{GetConnector} and
PUT/POST/DELETE on the CmForecast UpdateConnector. Checks happen in Profit's order: an over-long query string is
IIS's 404, then the AfasToken (401 with an empty body), then the connector's own validation (500 with
{externalMessage, errorNumber, profitLogReference}).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from crmsync_afas.sandbox.query import QueryError, matches, parse_filter, parse_filterjson, render, sort_rows
from crmsync_afas.sandbox.state import UPDATE_CONNECTOR, get_connectors
from crmsync_afas.sandbox.writes import UPDATE_FIELDS, ValidationFailed, delete_forecast, insert, update

if TYPE_CHECKING:
    from crmsync_afas.sandbox import AfasSandbox

MAX_QUERY = 2049
_TOKEN = re.compile(r"^\s*<token>\s*<version>1</version>\s*<data>([0-9A-Fa-f]+)</data>\s*</token>\s*$")

IIS_404 = (
    "<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head><body>"
    "<h2>404 - File or directory not found.</h2></body></html>"
)


def build_app(sandbox: AfasSandbox) -> ASGIApp:
    """The API app of one sandbox."""

    def error(message: str, status: int = 500, request: Request | None = None) -> JSONResponse:
        if request is not None and english(request):
            message = translate(message)
        return JSONResponse(sandbox.error_body(message), status_code=status)

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme != "AfasToken" or not encoded:
            return False
        try:
            xml = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        match = _TOKEN.match(xml)
        return match is not None and match.group(1).upper() == sandbox.token_data

    def guard(request: Request) -> Response | None:
        if len(request.url.query) > MAX_QUERY:
            return Response(IIS_404, status_code=404, media_type="text/html")
        if not authorised(request):
            return Response(b"", status_code=401)
        return None

    async def metainfo(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        sandbox.requests["metainfo"] += 1
        connectors = get_connectors(sandbox.world)
        return JSONResponse(
            {
                "updateConnectors": [{"id": UPDATE_CONNECTOR, "description": "Verkoopkans"}],
                "getConnectors": [{"id": c.id, "description": c.description} for c in connectors.values()],
                # the keys of Profit's metainfo `info` (envid, appName, group; tokenExpiry optional), as AFAS's
                # published spec and the public DutchGrit.Afas client model (SessionInfoDetails) give them
                "info": {"envid": sandbox.environment, "appName": "crmsync", "group": "crmsync"},
            }
        )

    async def metainfo_get(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        sandbox.requests["metainfo"] += 1
        connector = get_connectors(sandbox.world).get(request.path_params["connector"])
        if connector is None:
            return error(
                f"GetConnector '{request.path_params['connector']}' bestaat niet of is niet geautoriseerd.",
                request=request,
            )
        return JSONResponse(
            {
                "name": connector.id,
                "description": connector.description,
                "fields": [field.meta() for field in connector.fields],
            }
        )

    async def metainfo_update(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        sandbox.requests["metainfo"] += 1
        if request.path_params["connector"] != UPDATE_CONNECTOR:
            return error(
                f"UpdateConnector '{request.path_params['connector']}' bestaat niet of is niet geautoriseerd.",
                request=request,
            )
        fields = [
            {"fieldId": field_id, "primaryKey": field_id in ("PrId", "SqNo"), "dataType": kind, "label": label}
            for field_id, (kind, label) in UPDATE_FIELDS.items()
        ]
        return JSONResponse({"name": UPDATE_CONNECTOR, "description": "Verkoopkans", "fields": fields})

    async def get_connector(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        connector = get_connectors(sandbox.world).get(request.path_params["connector"])
        if connector is None:
            return error(
                f"GetConnector '{request.path_params['connector']}' bestaat niet of is niet geautoriseerd.",
                request=request,
            )
        sandbox.requests["list" if connector.source == "forecasts" else "reference"] += 1
        params = request.query_params
        try:
            skip = int(params.get("skip", "0"))
            take = int(params.get("take", "100"))
        except ValueError:
            return error("De parameters skip en take moeten gehele getallen zijn.", request=request)
        if (skip == -1) != (take == -1) or skip < -1 or take < -1:
            # -1/-1 (everything) is the only negative pair Profit takes; skip=2&take=-1 is refused
            return error(
                "Ongeldige combinatie van skip en take: gebruik -1 voor beide, of waarden vanaf 0.", request=request
            )
        if params.get("filterjson") and params.get("filterfieldids"):
            return error("Gebruik filterjson of filterfieldids, niet beide.", request=request)
        try:
            with sandbox.lock:
                records: list[Any] = (
                    list(sandbox.world.forecasts.values())
                    if connector.source == "forecasts"
                    else list(sandbox.world.statuses.values())
                )
                rows = [{f.id: f.read(record) for f in connector.fields} for record in records]
            if params.get("filterjson"):
                rows = [row for row in rows if matches(row, parse_filterjson(connector, params["filterjson"]))]
            if params.get("filterfieldids"):
                groups = parse_filter(
                    connector,
                    params["filterfieldids"],
                    params.get("filtervalues", ""),
                    params.get("operatortypes", ""),
                )
                rows = [row for row in rows if matches(row, groups)]
            if params.get("orderbyfieldids"):
                rows = sort_rows(connector, rows, params["orderbyfieldids"])
            elif sandbox.shuffle_unordered:
                # Without an order Profit promises none: rows come in storage order, which moves under edits.
                rows.sort(key=lambda row: zlib.crc32(f"{sandbox.seed}{json.dumps(row, default=str)}".encode()))
        except QueryError as exc:
            return error(str(exc), request=request)
        if skip == -1 and take == -1:
            page = rows
        else:
            page = rows[max(skip, 0) :][: max(take, 0)]
        return JSONResponse(
            {"skip": skip, "take": take, "rows": [{k: render(v) for k, v in row.items()} for row in page]}
        )

    async def update_connector(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        if request.path_params["connector"] != UPDATE_CONNECTOR:
            return error(
                f"UpdateConnector '{request.path_params['connector']}' bestaat niet of is niet geautoriseerd.",
                request=request,
            )
        sandbox.requests["write"] += 1
        try:
            body = json.loads(await request.body())
            fields = body[UPDATE_CONNECTOR]["Element"]["Fields"]
            if not isinstance(fields, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return error('Het bericht heeft een ongeldige opbouw: verwacht {"CmForecast":{"Element":{"Fields":…}}}.')
        try:
            with sandbox.lock:
                if request.method == "PUT":
                    result = update(sandbox.world, fields)
                else:
                    result = insert(sandbox.world, fields)
        except ValidationFailed as exc:
            return error(str(exc), request=request)
        return JSONResponse({"results": {UPDATE_CONNECTOR: result}}, status_code=201)

    async def delete_route(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        sandbox.requests["write"] += 1
        # Profit's DELETE names the key fields with @ (…/CmForecast/CmForecast/@PrId,@SqNo/{PrId},{SqNo}, AFAS's
        # UpdateConnector docs); the form without @ is taken as well.
        names = [name.strip().lstrip("@") for name in request.path_params["fields"].split(",")]
        values = request.path_params["values"].split(",")
        if request.path_params["connector"] != UPDATE_CONNECTOR or names != ["PrId", "SqNo"] or len(values) != 2:
            return error(
                "Ongeldige sleutel: verwacht /connectors/CmForecast/CmForecast/@PrId,@SqNo/{PrId},{SqNo}.",
                request=request,
            )
        try:
            with sandbox.lock:
                delete_forecast(sandbox.world, values[0], values[1])
        except ValidationFailed as exc:
            return error(str(exc), request=request)
        return JSONResponse({"results": {UPDATE_CONNECTOR: {}}}, status_code=200)

    api = [
        Route("/metainfo", metainfo),
        Route("/metainfo/get/{connector}", metainfo_get),
        Route("/metainfo/update/{connector}", metainfo_update),
        Route("/connectors/{connector}", get_connector, methods=["GET"]),
        Route("/connectors/{connector}", update_connector, methods=["PUT", "POST"]),
        Route("/connectors/{connector}/{object}/{fields}/{values}", delete_route, methods=["DELETE"]),
    ]
    known = [c.id for c in get_connectors(sandbox.world).values()] + [UPDATE_CONNECTOR]
    return CaseInsensitivePaths(Starlette(routes=[Mount("/ProfitRestServices", routes=api)]), known)


_ENGLISH = (  # Accept-Language: en-* gives Profit's messages in English (AFAS REST docs: the header sets the language)
    ("bestaat niet of is niet geautoriseerd", "does not exist or is not authorised"),
    ("Onbekend veld", "Unknown field"),
    ("Ongeldige operator", "Invalid operator"),
    (
        "Ongeldige combinatie van skip en take: gebruik -1 voor beide, of waarden vanaf 0.",
        "Invalid combination of skip and take: use -1 for both, or values from 0.",
    ),
    ("De parameters skip en take moeten gehele getallen zijn.", "The parameters skip and take must be integers."),
    (
        "Het aantal filtervelden, filterwaarden en operatoren komt niet overeen.",
        "The number of filter fields, filter values and operators does not match.",
    ),
    ("Gebruik filterjson of filterfieldids, niet beide.", "Use filterjson or filterfieldids, not both."),
    ("De filterjson is ongeldig", "The filterjson is invalid"),
    ("in GetConnector", "in GetConnector"),
    ("De ingevulde waarde bij", "The value entered for"),
    ("bestaat niet", "does not exist"),
    ("Het veld", "The field"),
)


def english(request: Request) -> bool:
    return request.headers.get("accept-language", "nl-nl").strip().lower().startswith("en")


def translate(message: str) -> str:
    """Profit's Dutch message in English, as far as the sandbox knows its wording."""
    for dutch, english_text in _ENGLISH:
        message = message.replace(dutch, english_text)
    return message


class CaseInsensitivePaths:
    """Profit runs on IIS, whose paths are case-insensitive: /profitrestservices/CONNECTORS/… reaches the same
    connector. The fixed segments and the connector ids are folded to their canonical spelling before routing."""

    FIXED = {
        "profitrestservices": "ProfitRestServices",
        "metainfo": "metainfo",
        "connectors": "connectors",
        "get": "get",
        "update": "update",
    }

    def __init__(self, app: ASGIApp, connectors: list[str]) -> None:
        self.app = app
        self.names = {name.lower(): name for name in connectors}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            parts = scope["path"].split("/")
            folded = [self.FIXED.get(p.lower(), self.names.get(p.lower(), p)) for p in parts]
            path = "/".join(folded)
            if path != scope["path"]:
                scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)
