"""The client side: ``TornadoClient``, credentials, transport, resolution.

This package never imports the shell or the server.
"""

from diracsh.client.tornadoclient import TornadoClient, executeRPCStub

__all__ = ["TornadoClient", "executeRPCStub"]
