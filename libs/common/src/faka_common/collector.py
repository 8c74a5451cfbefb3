"""CPython's cyclic garbage collector, set for a long-running server process.

With its defaults (a young collection every 700 new container objects, a full one every hundred young ones)
a request that builds many objects pays for collections that walk everything the process holds: the
storefront home with 1,000 products builds some 150,000 objects, and one request in twenty took four times
the median (a full collection over the modules, the app and its caches). `settle` runs once the process
has started: what start-up built is collected and then frozen (never walked again, `gc.freeze`), and the
young generation is collected after `YOUNG` new objects. Reference counting still frees everything not in
a cycle at once; cycles wait a little longer. bench/storefront.py measured it (see the README)."""

from __future__ import annotations

import gc

#: new container objects between two young collections (CPython's default: 700)
YOUNG = 20_000
#: young collections between two of the middle generation, and those between two full ones (defaults 10, 10)
MIDDLE, OLD = 10, 100


def settle() -> None:
    """Freeze what the process has built so far (the first time only) and space the collections out."""
    if not gc.get_freeze_count():
        gc.collect()
        gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
