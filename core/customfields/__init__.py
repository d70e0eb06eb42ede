"""Custom fields: definitions stored as rows, values in one JSON column per entity."""

from kith.core.customfields.definition import CustomField, CustomFieldSpec
from kith.core.customfields.types import FIELD_TYPES, FieldType, Money

__all__ = ["FIELD_TYPES", "CustomField", "CustomFieldSpec", "FieldType", "Money"]
