from pydantic_settings import SettingsConfigDict

from casestream.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTOMATION_SVC_", extra="ignore")

    service_name: str = "automation-svc"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/casestream_automation"
    http_port: int = 8030

    # Due actions finished per transaction, and the longest the timer worker sleeps: a
    # timer written by another replica is seen within this long of its due time.
    timer_batch_size: int = 500
    timer_poll_interval_s: float = 1.0
