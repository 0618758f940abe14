"""The scenario's storage accounts as Azurite serves them: their keys and AZURITE_ACCOUNTS.

Azurite serves every account named in the environment variable AZURITE_ACCOUNTS
("name:key1[:key2];..."), path style: https://127.0.0.1:<port>/<name>/<container>/<blob>. Once
the variable is set, the development account is served only if it is listed too, so it always is.
The keys are derived from the subscription and the account name: the same on every start (a test
may compute them), different for every account, 64 bytes like Azure's.
"""
from __future__ import annotations

import base64
import hashlib
from typing import Any

DEV_ACCOUNT_NAME = "devstoreaccount1"
# Azurite's documented development account key (public, the same on every machine).
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def account_keys(subscription_id: str, account_name: str) -> tuple[str, str]:
    """(key1, key2) of a scenario storage account, base64 of 64 deterministic bytes each."""
    def key(slot: str) -> str:
        seed = f"vmrepair-emulator:{subscription_id.lower()}:{account_name.lower()}:{slot}".encode()
        return base64.b64encode(hashlib.sha512(seed).digest()).decode("ascii")

    return key("key1"), key("key2")


def azurite_accounts(subscription_id: str, accounts: list[dict[str, Any]]) -> str:
    """The AZURITE_ACCOUNTS value: the development account, then each scenario account with both keys."""
    entries = [f"{DEV_ACCOUNT_NAME}:{DEV_ACCOUNT_KEY}"]
    for account in accounts:
        key1, key2 = account_keys(subscription_id, account["name"])
        entries.append(f"{account['name']}:{key1}:{key2}")
    return ";".join(entries)
