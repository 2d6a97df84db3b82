"""Scale-out on Ray: a Runtime's sessions in K shard actors, fed by a batching gateway.

``from runtime.ray import RayBackend`` works without Ray installed; building a ``RayBackend``
then raises ``ImportError`` naming the extra to install (``pip install -e '.[ray]'``).

- :class:`RayBackend` (``runtime.ray._backend``): the gateway side, a ``Backend`` for
  ``Runtime(bot, backend=RayBackend(...))``.
- ``_batcher``: per-shard batching, resends; ``_order``: per-session sequence numbers and the
  shard's reorder buffer; ``_shard``: the shard actor hosting a Runtime; ``_fencing``: stores
  that refuse the writes of a replaced shard incarnation; ``_wire``: what crosses between them.
"""

from runtime.errors import ShardFencedError, ShardUnavailableError
from runtime.ray._backend import RayBackend
from runtime.ray._shard import ShardInfo

__all__ = ["RayBackend", "ShardFencedError", "ShardInfo", "ShardUnavailableError"]
