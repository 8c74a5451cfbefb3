"""Process entrypoint: `uvicorn commission.entrypoints.app:app`.

AsyncAPI: `faststream docs gen commission.entrypoints.app:asyncapi`."""

from faka_common.http import create_app

from commission.bootstrap import bootstrap
from commission.entrypoints.http import router

service = bootstrap()
app = create_app(service.runtime, [router(service)], title="faka commission service")
asyncapi = service.runtime.asyncapi()
