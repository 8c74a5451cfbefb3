"""Process entrypoint: `uvicorn inventory.entrypoints.app:app`; AsyncAPI:
`faststream docs gen inventory.entrypoints.app:asyncapi`."""

from faka_common.http import create_app

from inventory.bootstrap import bootstrap
from inventory.entrypoints.http import router

service = bootstrap()
app = create_app(service.runtime, [router(service)], title="faka inventory service")
asyncapi = service.runtime.asyncapi()
