"""zigznote: administration of integrations, outbound webhooks and billing."""

__version__ = "0.1.0"
