"""Process entrypoint: `uvicorn merchant.entrypoints.app:app`.

AsyncAPI: `faststream docs gen merchant.entrypoints.app:asyncapi`."""

from merchant.bootstrap import bootstrap
from merchant.entrypoints.http import build_app

service = bootstrap()
app = build_app(service)
asyncapi = service.runtime.asyncapi()
