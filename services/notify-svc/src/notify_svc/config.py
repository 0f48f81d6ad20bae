from pydantic_settings import SettingsConfigDict

from casestream.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_SVC_", extra="ignore")

    service_name: str = "notify-svc"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/casestream_notify"
    http_port: int = 8040
