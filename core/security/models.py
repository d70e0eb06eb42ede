"""Credentials, API keys and roles live in system tables, never in entity fields, so
no GraphQL type, export or webhook derived from an entity can ever carry them."""

from __future__ import annotations

from piccolo.columns import JSON, BigInt, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Credential(Table, tablename="kith_credential"):
    user_id = BigInt(unique=True)
    password_hash = Varchar(length=255)
    version = Integer(default=1)  # bumped on every password change: older tokens stop working
    updated_at = Timestamptz(null=True, default=None)


class ApiKey(Table, tablename="kith_api_key"):
    user_id = BigInt(index=True)
    name = Varchar(length=120)
    prefix = Varchar(length=24, unique=True)  # shown in lists: "kith_3f9a1c2b"
    key_hash = Varchar(length=64)  # sha256 of the whole key: keys are random, so a fast hash is right
    created_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)


class Role(Table, tablename="kith_role"):
    name = Varchar(length=80, unique=True)
    description = Text(null=True, default=None)
    grants = JSON(default="{}")
    capabilities = JSON(default="[]")  # powers beyond records: ["manage_automations"]
    source = Varchar(length=120, default="admin")
    updated_at = Timestamptz(null=True, default=None)


class UserRole(Table, tablename="kith_user_role"):
    user_id = BigInt(index=True)
    role = Varchar(length=80)


SECURITY_TABLES: tuple[type[Table], ...] = (Credential, ApiKey, Role, UserRole)
