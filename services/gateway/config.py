"""The gateway's settings: deploy/config/gateway.yaml, with ${VAR:default} from the environment."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

CONFIG_PATH = Path(__file__).resolve().parents[2] / "deploy" / "config" / "gateway.yaml"
_VAR = re.compile(r"\$\{(\w+)(?::([^}]*))?\}")


def _expand(value):
    if isinstance(value, str):
        return _VAR.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    return value


@dataclass
class GatewayConfig:
    amqp_uri: str
    port: int
    database_url: str | None
    database_schema: str
    secret: str
    token_ttl_seconds: int
    rpc_pool_size: int
    rpc_timeout: float
    admin_password: str | None
    secure_cookies: bool = False

    @classmethod
    def load(cls, path: Path = CONFIG_PATH, **overrides) -> "GatewayConfig":
        raw = {k: _expand(v) for k, v in (yaml.safe_load(path.read_text()) or {}).items()}
        cfg = cls(amqp_uri=raw["AMQP_URI"], port=int(raw["GATEWAY_PORT"] or 8080),
                  database_url=raw.get("DATABASE_URL") or None, database_schema=raw.get("DATABASE_SCHEMA") or "gateway",
                  secret=raw.get("GATEWAY_SECRET") or "", token_ttl_seconds=int(raw.get("TOKEN_TTL_SECONDS") or 28800),
                  rpc_pool_size=int(raw.get("RPC_POOL_SIZE") or 8), rpc_timeout=float(raw.get("RPC_TIMEOUT") or 30),
                  admin_password=raw.get("GATEWAY_ADMIN_PASSWORD") or None,
                  secure_cookies=str(raw.get("GATEWAY_SECURE_COOKIES") or "").lower() in ("1", "true", "yes", "on"))
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, value)
        return cfg
