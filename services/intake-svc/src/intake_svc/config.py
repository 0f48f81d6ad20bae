from pydantic_settings import SettingsConfigDict

from casestream.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_SVC_", extra="ignore")

    service_name: str = "intake-svc"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/casestream_intake"
    http_port: int = 8050
