"""Process entrypoint: `uvicorn delivery.entrypoints.app:app`.

AsyncAPI: `faststream docs gen delivery.entrypoints.app:asyncapi`."""

from faka_common.http import create_app

from delivery.bootstrap import bootstrap
from delivery.entrypoints.http import router

service = bootstrap()
app = create_app(service.runtime, [router(service)], title="faka delivery service")
asyncapi = service.runtime.asyncapi()
