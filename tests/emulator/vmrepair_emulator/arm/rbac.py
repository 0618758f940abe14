"""Role-based access control as ARM evaluates it: an action string against actions / notActions."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Built-in role definitions (permissions as Azure publishes them; Contributor abridged to what matters here).
BUILTIN_ROLES: dict[str, dict[str, list[str]]] = {
    "Owner": {"actions": ["*"], "not_actions": []},
    "Contributor": {"actions": ["*"], "not_actions": [
        "Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action", "Microsoft.Blueprint/blueprintAssignments/write",
        "Microsoft.Blueprint/blueprintAssignments/delete", "Microsoft.Compute/galleries/share/action",
    ]},
    "Reader": {"actions": ["*/read"], "not_actions": []},
}


def normalize_role(role: Any) -> dict[str, list[str]]:
    """Accept a built-in role name, our scenario form {actions, not_actions}, or an Azure role definition
    (`az role definition` JSON: Actions/NotActions at the top or under permissions[])."""
    if role is None:
        return BUILTIN_ROLES["Owner"]
    if isinstance(role, str):
        for name, definition in BUILTIN_ROLES.items():
            if name.lower() == role.lower():
                return definition
        raise ValueError(f"unknown built-in role {role!r} (known: {', '.join(BUILTIN_ROLES)})")
    if not isinstance(role, dict):
        raise ValueError(f"a role is a name or a mapping, not {type(role).__name__}")
    lowered = {k.lower().replace("_", ""): v for k, v in role.items()}
    actions: list[str] = list(lowered.get("actions") or [])
    not_actions: list[str] = list(lowered.get("notactions") or [])
    for permission in lowered.get("permissions") or []:
        perm = {k.lower().replace("_", ""): v for k, v in permission.items()}
        actions += perm.get("actions") or []
        not_actions += perm.get("notactions") or []
    return {"actions": actions, "not_actions": not_actions}


@lru_cache(maxsize=1024)
def _pattern(action_pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(p) for p in action_pattern.split("*")) + "$", re.IGNORECASE)


def allows(role: Any, action: str) -> bool:
    definition = normalize_role(role)
    if not any(_pattern(a).match(action) for a in definition["actions"]):
        return False
    return not any(_pattern(a).match(action) for a in definition["not_actions"])


_VERBS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete", "POST": "action"}


def derive_action(method: str, path: str) -> str:
    """The RBAC action ARM checks for a request, e.g. DELETE .../resourceGroups/x ->
    Microsoft.Resources/subscriptions/resourceGroups/delete; POST .../virtualMachines/v/start ->
    Microsoft.Compute/virtualMachines/start/action."""
    verb = _VERBS.get(method.upper(), "read")
    segments = [s for s in path.split("/") if s]
    lowered = [s.lower() for s in segments]
    if "providers" in lowered:
        i = len(lowered) - 1 - lowered[::-1].index("providers")
        rest = segments[i + 1:]
        if not rest:
            return "Microsoft.Resources/subscriptions/providers/read"
        namespace, parts = rest[0], rest[1:]
        types = parts[0::2]
        if verb == "action" and len(parts) % 2 == 1 and len(types) >= 2:
            # POST on .../{type}/{name}/{action}
            return "/".join([namespace] + types) + "/action"
        return "/".join([namespace] + types + [verb if verb != "action" else "action"])
    # Microsoft.Resources paths: /subscriptions/{s}[/resourcegroups[/{rg}[/resources]]] ...
    types = ["subscriptions"] + [segments[j] for j in range(2, len(segments), 2)]
    types = ["resourceGroups" if t.lower() == "resourcegroups" else t for t in types]
    if verb == "action":
        verb = "action"
    return "Microsoft.Resources/" + "/".join(types) + "/" + verb


def scope_of(path: str) -> str:
    """The scope ARM names in AuthorizationFailed: the resource path, with 'resourcegroups' lower-cased."""
    return re.sub(r"/resourceGroups/", "/resourcegroups/", path.rstrip("/"), flags=re.IGNORECASE)
