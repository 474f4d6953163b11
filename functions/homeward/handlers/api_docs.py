"""ApiDocsFunction: the merged OpenAPI document (`GET /openapi.json`) and Swagger UI (`GET /docs`).

The document is generated from every API function's routes by `make openapi`
(infra/openapi.py) and shipped as homeward/openapi.json; a test fails when it is stale.
Swagger UI's script and styles are inlined from the Powertools package, so the page works
with no CDN.
"""

from __future__ import annotations

from pathlib import Path

from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver, Response

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.json"
app = APIGatewayHttpResolver()


@app.get("/openapi.json")
def openapi_document() -> Response:
    return Response(status_code=200, content_type="application/json", body=SPEC_PATH.read_text())


@app.get("/docs")
def swagger_ui() -> Response:
    # Swagger UI links its document as /docs?format=json, as Powertools' own page does.
    if (app.current_event.query_string_parameters or {}).get("format") == "json":
        return openapi_document()
    import aws_lambda_powertools.event_handler as event_handler
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(event_handler.__file__).parent / "openapi" / "swagger_ui"
    spec = SPEC_PATH.read_text().replace("</", "<\\/")  # keep the JSON from closing the <script>
    html = generate_swagger_html(
        spec,
        (assets / "swagger-ui-bundle.min.js").read_text(),
        (assets / "swagger-ui.min.css").read_text(),
        "",
        None,
    )
    return Response(status_code=200, content_type="text/html", body=html)


def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
