"""At-least-once consumption with bounded retries and dead letters (a broker middleware).

For each message: run the handler (which commits its own database transaction, inbox
included); on failure retry with exponential backoff up to ``max_attempts``; a message that
cannot be decoded or validated, or that keeps failing, is published to ``<topic>.dlq`` with
the error, and only then is the offset committed, so the partition moves on and nothing is
dropped. Offsets are committed explicitly for the one record handled (``{tp: offset + 1}``),
never as a blanket ``commit()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import traceback
from dataclasses import dataclass
from typing import Any

import pydantic
from aiokafka import TopicPartition
from faststream import BaseMiddleware
from faststream.exceptions import FastStreamException

from casestream import metrics
from casestream.logging import get_logger
from casestream.topics import dead_letter_topic
from casestream.tracing import traced

log = get_logger(__name__)


class Rejected(Exception):
    """Raised by a handler for a message that can never succeed (a command the rules refuse):
    it goes to the dead-letter topic at once, with this as its error."""


# Decoding, validation and refusals: retrying cannot help.
POISON = (
    pydantic.ValidationError,
    json.JSONDecodeError,
    UnicodeDecodeError,
    FastStreamException,
    Rejected,
)


@dataclass
class ConsumptionPolicy:
    service: str
    max_attempts: int = 5
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    publish_timeout_s: float = 10.0
    broker: Any = None  # set once the broker exists (it publishes the dead letters)

    def __call__(self, msg: Any, /, *, context: Any) -> ReliableConsumption:
        return ReliableConsumption(msg, context=context, policy=self)

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_initial_s * 2 ** (attempt - 1), self.backoff_max_s)


class ReliableConsumption(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: Any, policy: ConsumptionPolicy) -> None:
        super().__init__(msg, context=context)
        self.policy = policy

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        record = msg.raw_message
        if isinstance(record, tuple):  # batch subscribers are not ours
            return await call_next(msg)
        topic = record.topic
        correlation_id, message_id = _trace_ids(msg)
        with traced(correlation_id, message_id):
            attempt = 0
            while True:
                attempt += 1
                started = time.perf_counter()
                try:
                    result = await call_next(msg)
                except asyncio.CancelledError:
                    raise  # shutting down: not committed, it will come again
                except POISON as error:
                    reason = "rejected" if isinstance(error, Rejected) else "invalid message"
                    await self._dead_letter(msg, record, error, attempt, reason)
                    return None
                except Exception as error:
                    if attempt >= self.policy.max_attempts:
                        await self._dead_letter(msg, record, error, attempt, "handler kept failing")
                        return None
                    metrics.handler_retries.labels(self.policy.service, topic).inc()
                    log.warning(
                        "handler failed, retrying",
                        topic=topic,
                        partition=record.partition,
                        offset=record.offset,
                        attempt=attempt,
                        error=repr(error),
                    )
                    await asyncio.sleep(self.policy.backoff(attempt))
                    continue
                metrics.handler_seconds.labels(self.policy.service, topic).observe(
                    time.perf_counter() - started
                )
                metrics.messages_consumed.labels(self.policy.service, topic, "processed").inc()
                await _commit(msg, record)
                return result

    async def _dead_letter(
        self, msg: Any, record: Any, error: BaseException, attempts: int, reason: str
    ) -> None:
        headers = {k: _text(v) for k, v in (record.headers or ())}
        headers.update(
            {
                "dlq-reason": reason,
                "dlq-error": f"{type(error).__name__}: {error}"[:4000],
                "dlq-traceback": "".join(traceback.format_exception(error))[-4000:],
                "dlq-original-topic": record.topic,
                "dlq-original-partition": str(record.partition),
                "dlq-original-offset": str(record.offset),
                "dlq-attempts": str(attempts),
                "dlq-consumer-service": self.policy.service,
            }
        )
        try:
            async with asyncio.timeout(self.policy.publish_timeout_s):
                await self.policy.broker.publish(
                    record.value or b"",
                    topic=dead_letter_topic(record.topic),
                    key=record.key,
                    headers=headers,
                )
        except Exception:
            # The dead-letter topic is out of reach too: do not move on. Rewind to this
            # record so it is read again once the broker is back.
            log.exception("dead-lettering failed; message will be re-read", topic=record.topic)
            await asyncio.sleep(self.policy.backoff_max_s)
            _consumer(msg, record).seek(
                TopicPartition(record.topic, record.partition), record.offset
            )
            raise
        log.error(
            "message dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            attempts=attempts,
            reason=reason,
            error=repr(error),
        )
        metrics.messages_dead_lettered.labels(self.policy.service, record.topic).inc()
        metrics.messages_consumed.labels(self.policy.service, record.topic, "dead_lettered").inc()
        await _commit(msg, record)


def _consumer(msg: Any, record: Any) -> Any:
    # With several consumers per handler, the record knows which one fetched it.
    return getattr(record, "consumer", None) or msg.consumer


async def _commit(msg: Any, record: Any) -> None:
    tp = TopicPartition(record.topic, record.partition)
    try:
        await _consumer(msg, record).commit({tp: record.offset + 1})
    except Exception as error:
        # A rebalance took the partition away: the record will be delivered again and the
        # inbox makes that harmless.
        log.warning("offset commit failed", topic=record.topic, error=repr(error))


def _trace_ids(msg: Any) -> tuple[str | None, str | None]:
    with contextlib.suppress(Exception):
        body = json.loads(msg.body)
        if isinstance(body, dict):
            return body.get("correlation_id"), body.get("id")
    return msg.headers.get("correlation_id"), None


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
