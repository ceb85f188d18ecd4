"""Process lifecycle state shared by the server and the readiness probe."""

import threading

# Set when the process has been asked to stop: /readyz answers 503 from then on, so load
# balancers stop sending new requests while those in flight finish.
draining = threading.Event()
