"""Every test process runs with ENVIRONMENT=development: a service's default is production, which refuses
the published development secrets that in-process tests build their settings with. A test that wants the
production checks passes `environment=` itself; the end-to-end platform starts its services with
ENVIRONMENT=test and secrets of its own."""

import os

os.environ["ENVIRONMENT"] = "development"
