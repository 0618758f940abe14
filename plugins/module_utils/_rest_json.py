# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading ARM's REST JSON, where any level of a nested property may be absent."""

from __future__ import annotations

from typing import Any


def dig(data: Any, *keys: str) -> Any:
    """data[k1][k2]... or None as soon as a level is missing or not an object."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
