"""Keeping Google in step with the branch: watching Qmatic for changes made there, the
notification outbox, and availability updates. The daily feeds will live here too."""

from ._notifier import Notifier
from ._published import PublishedSlots
from ._runner import Inventory, read_period
from ._updates import AvailabilityUpdates
from ._watcher import Watcher, capacity_problem

__all__ = ["AvailabilityUpdates", "Inventory", "Notifier", "PublishedSlots", "Watcher", "capacity_problem", "read_period"]
