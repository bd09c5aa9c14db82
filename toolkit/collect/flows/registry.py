"""The flow format registry: format name -> reader. The CLI's ``--format`` choices come
from here; adding a format is one module with a ``FORMAT`` (or ``FORMATS``) and one line below.

>>> names()
['aws-vpc', 'calico', 'conntrack', 'csv', 'gcp-vpc', 'goflow2', 'hubble', 'parquet']
>>> get_format("aws-vpc").name
'aws-vpc'
"""

from __future__ import annotations

from toolkit.collect.flows import awsvpc, calico, conntrack, gcpvpc, goflow2, hubble, table
from toolkit.collect.flows._norm import FlowFormat
from toolkit.errors import InputError

FORMATS: dict[str, FlowFormat] = {
    f.name: f
    for f in sorted((awsvpc.FORMAT, calico.FORMAT, conntrack.FORMAT, gcpvpc.FORMAT,
                     goflow2.FORMAT, hubble.FORMAT, *table.FORMATS), key=lambda f: f.name)
}


def names() -> list[str]:
    """Registered format names, sorted."""
    return list(FORMATS)


def get_format(name: str) -> FlowFormat:
    """The reader registered as ``name``; a one-line error listing the known names."""
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown flow format {name!r}; known formats: {', '.join(FORMATS)}",
                         hint="pass one of them with --format") from None
