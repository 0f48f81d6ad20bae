from pydantic_settings import SettingsConfigDict

from casestream.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ACTIVITY_SVC_", extra="ignore")

    service_name: str = "activity-svc"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/casestream_activity"
    http_port: int = 8020
