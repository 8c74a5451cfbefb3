"""Process entrypoint: `uvicorn order.entrypoints.app:app`;
AsyncAPI: `faststream docs gen order.entrypoints.app:asyncapi`."""

from faka_common.http import create_app

from order.bootstrap import bootstrap
from order.entrypoints.buyer_links import buyer_links_router
from order.entrypoints.http import router
from order.entrypoints.pricing import pricing_router

service = bootstrap()
app = create_app(
    service.runtime,
    [router(service), pricing_router(service), buyer_links_router(service)],
    title="faka order service",
)
asyncapi = service.runtime.asyncapi()
