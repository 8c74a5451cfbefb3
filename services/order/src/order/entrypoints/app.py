"""Process entrypoint: `uvicorn order.entrypoints.app:app`;
AsyncAPI: `faststream docs gen order.entrypoints.app:asyncapi`."""

from order.bootstrap import bootstrap
from order.entrypoints.api import order_app

service = bootstrap()
app = order_app(service)
asyncapi = service.runtime.asyncapi()
