from pydantic_settings import SettingsConfigDict

from casestream.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CASE_SVC_", extra="ignore")

    service_name: str = "case-svc"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/casestream_case"
    http_port: int = 8010
    # Web form submissions take the most round trips of any message (contact keys locked,
    # looked up, a case opened): consumers of their own partitions run side by side. One
    # per partition of intake.submissions at most (more would sit idle).
    submission_workers: int = 3
