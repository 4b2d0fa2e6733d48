"""An in-process stand-in for Qmatic's cloud appointment API, served over real HTTP.

It follows docs/upstream-contract.md, [ASSUMED] parts included, and takes all
its time from an injected clock so tests can expire holds and tokens without sleeping.
"""

from . import seed
from .faults import Fault, Faults
from .google import FakeGoogle
from .middleware import RecordedRequest
from .server import Simulator, serve
from .state import Appointment, State

__all__ = ["Appointment", "FakeGoogle", "Fault", "Faults", "RecordedRequest", "Simulator", "State", "seed", "serve"]
