"""Flow log importers: one reader per format in a registry, and the shared import machinery.

>>> from toolkit.collect.flows import names
>>> "hubble" in names()
True
"""

from toolkit.collect.flows.importer import ImportSummary, import_flows
from toolkit.collect.flows.registry import FORMATS, get_format, names

__all__ = ["FORMATS", "ImportSummary", "get_format", "import_flows", "names"]
