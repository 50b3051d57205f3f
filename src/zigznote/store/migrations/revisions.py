"""The migration chain as constants, so the schema gate on every command does not
have to import Alembic and parse the migration scripts (a test keeps these in step
with the scripts in ``versions/``)."""

KNOWN_REVISIONS = (
    "0001_foundation",
    "0002_webhooks",
    "0003_engine_second_pass",
    "0004_integrations",
    "0005_job_state",
    "0006_integration_links",
    "0007_billing",
)
HEAD_REVISION = KNOWN_REVISIONS[-1]
