"""Process entrypoint: `uvicorn delivery.entrypoints.app:app`; AsyncAPI: `faststream docs gen delivery.entrypoints.app:asyncapi`."""

from delivery.bootstrap import bootstrap
from delivery.entrypoints.http import router
from faka_common.http import create_app

service = bootstrap()
app = create_app(service.runtime, [router(service)], title="faka delivery service")
asyncapi = service.runtime.asyncapi()
