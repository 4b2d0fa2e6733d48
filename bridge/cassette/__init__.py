"""Recorded HTTP: cassettes of the bridge's upstream exchanges, recorded and replayed.

``booking-bridge record`` runs scripted scenarios through the real core and upstream client
against a Qmatic tenant (or the simulator) and writes one redacted JSON cassette per
scenario; ``bridge.cassette.pytest_plugin`` replays them into respx in the tests.

Replay needs respx, a test dependency, so it is not imported here: recording works from a
plain install.
"""

from ._format import Cassette, Meta, load

__all__ = ["Cassette", "Meta", "load"]
