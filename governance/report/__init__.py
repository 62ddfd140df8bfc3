"""Audit reports: a read-side composition over the registry, compliance, monitoring, approvals and
audit tables, rendered as JSON, HTML or PDF and mapped to EU AI Act Annex IV and SR 11-7."""
