"""NetworkPolicy semantics: evaluation, static connectivity, flow replay and exposure.

``networking.k8s.io/v1`` NetworkPolicies are parsed into flat rule tables
(:func:`parse_policies`), compiled against the few distinct endpoint classes of a snapshot and
evaluated vectorised over distinct (source, destination, protocol, port) tuples. See
docs/policy.md for the semantics decisions (ipBlocks and pod IPs, hostNetwork pods, named
ports).

>>> import toolkit as kt
>>> from toolkit.policy import replay
>>> result = replay(kt.load_snapshot(kt.demo_data_path() / "demo-day1"))
>>> result.denied(10).height <= 10
True
"""

from __future__ import annotations

from toolkit.policy.connectivity import ConnectivityResult, connectivity
from toolkit.policy.evaluate import Compiled, compile_policies, decide
from toolkit.policy.exposure import ExposureResult, exposure
from toolkit.policy.model import PolicyModel, parse_policies
from toolkit.policy.replay import ReplayResult, replay
from toolkit.policy.sources import load_policies
from toolkit.policy.suggest import suggest_policies
from toolkit.policy.suggest_output import SuggestResult

__all__ = [
    "Compiled",
    "ConnectivityResult",
    "ExposureResult",
    "PolicyModel",
    "ReplayResult",
    "SuggestResult",
    "compile_policies",
    "connectivity",
    "decide",
    "exposure",
    "load_policies",
    "parse_policies",
    "replay",
    "suggest_policies",
]
