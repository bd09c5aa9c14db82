"""Address text shared by the inventory and flow collectors.

>>> import re
>>> [bool(re.fullmatch(CANONICAL_V4, a)) for a in ("10.0.0.1", "010.0.0.1", "256.1.1.1")]
[True, False, False]
"""

#: Dotted-quad IPv4 without leading zeros: already in canonical form, no need to parse it
#: (a regular expression for both Python's ``re`` and polars' ``str.contains``).
CANONICAL_V4 = (r"^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$")
