"""diracsh: a client and interactive shell for DIRAC's HTTPS RPC services.

>>> from diracsh import TornadoClient
>>> TornadoClient("https://127.0.0.1:8443/Framework/Notification")
<TornadoClient https://127.0.0.1:8443/Framework/Notification>
"""

import logging

from diracsh.client import TornadoClient, executeRPCStub
from diracsh.results import S_ERROR, S_OK, isReturnStructure, returnValueOrRaise

__version__ = "0.1.0"
__all__ = [
    "S_ERROR",
    "S_OK",
    "TornadoClient",
    "__version__",
    "executeRPCStub",
    "isReturnStructure",
    "returnValueOrRaise",
]

# The library logs, the application prints: silent unless the caller configures it.
logging.getLogger("diracsh").addHandler(logging.NullHandler())
