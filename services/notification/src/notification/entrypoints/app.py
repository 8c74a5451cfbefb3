"""Process entrypoint: `uvicorn notification.entrypoints.app:app`.

AsyncAPI: `faststream docs gen notification.entrypoints.app:asyncapi`."""

from faka_common.http import create_app

from notification.bootstrap import bootstrap
from notification.entrypoints.http import router

service = bootstrap()
app = create_app(service.runtime, [router(service)], title="faka notification service")
asyncapi = service.runtime.asyncapi()
