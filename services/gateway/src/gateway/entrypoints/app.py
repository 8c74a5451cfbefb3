"""Process entrypoint: `uvicorn gateway.entrypoints.app:app`.

AsyncAPI: `faststream docs gen gateway.entrypoints.app:asyncapi`."""

from faka_common.http import create_app

from gateway.bootstrap import bootstrap
from gateway.entrypoints.http import install_edge_handlers
from gateway.entrypoints.routers import routers
from gateway.entrypoints.shops import ShopPaths

service = bootstrap()
app = create_app(service.runtime, routers(service.gateway), title="faka gateway")
install_edge_handlers(app)
app.add_middleware(ShopPaths)
asyncapi = service.runtime.asyncapi()
