"""Process entrypoint: `uvicorn risk.entrypoints.app:app`.

AsyncAPI: `faststream docs gen risk.entrypoints.app:asyncapi`."""

from faka_common.http import create_app

import risk.adapters.metrics  # noqa: F401  (its counters of committed events register on import)
from risk.bootstrap import bootstrap
from risk.entrypoints.http import router

service = bootstrap()
app = create_app(service.runtime, [router(service)], title="faka risk service")
asyncapi = service.runtime.asyncapi()
