"""Process entrypoint: `uvicorn gateway.entrypoints.app:app`.

AsyncAPI: `faststream docs gen gateway.entrypoints.app:asyncapi`."""

from faka_common.http import create_app
from starlette.middleware import Middleware

from gateway.bootstrap import bootstrap
from gateway.entrypoints.admission import Admission
from gateway.entrypoints.http import install_edge_handlers
from gateway.entrypoints.routers import routers
from gateway.entrypoints.shops import ShopPaths

service = bootstrap()
app = create_app(service.runtime, routers(service.gateway), title="faka gateway")
install_edge_handlers(app)
app.add_middleware(ShopPaths)
# innermost, after BodyLimit has read a JSON or form body: a client sending its body slowly holds no place
# in the count, and the 503s are counted in the responses like any other
app.user_middleware.append(
    Middleware(
        Admission,
        placing=service.gateway.settings.max_in_flight_placing,
        serving=service.gateway.settings.max_in_flight,
    )
)
asyncapi = service.runtime.asyncapi()
