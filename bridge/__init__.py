"""booking-bridge: Google Actions Center's booking server API, carried out on Qmatic."""

__version__ = "0.1.0"
